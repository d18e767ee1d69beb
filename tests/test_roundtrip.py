"""Byte-exact round trips of the acceptance inputs: API, files and pipes through the real command."""

from __future__ import annotations

import pytest

import mdlzip

from conftest import run_process


# The neural method trains for minutes on inputs this large; its round trips on
# small inputs are in test_neural_cli.py, and `auto` there too.
@pytest.mark.parametrize("method", ["stored", "zstd", "xz"])
def test_api_round_trip(sample, method):
    name, data = sample
    archive = mdlzip.compress(data, method=method)
    assert mdlzip.decompress(archive) == data


def test_files_round_trip(sample, tmp_path):
    name, data = sample
    (tmp_path / name).write_bytes(data)
    assert run_process("compress", "--method", "zstd", name, cwd=tmp_path).code == 0
    (tmp_path / name).rename(tmp_path / "original")
    assert run_process("test", f"{name}.mdlz", cwd=tmp_path).code == 0
    assert run_process("decompress", f"{name}.mdlz", cwd=tmp_path).code == 0
    assert (tmp_path / name).read_bytes() == data


def test_stdin_stdout_round_trip(sample):
    name, data = sample
    packed = run_process("compress", "--method", "zstd", stdin=data)
    assert (packed.code, packed.err) == (0, "")
    unpacked = run_process("decompress", stdin=packed.out)
    assert (unpacked.code, unpacked.err) == (0, "")
    assert unpacked.out == data
