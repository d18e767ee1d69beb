"""The classic methods on their own: stored, zstd and xz."""

from __future__ import annotations

import lzma
import random
import shutil
import subprocess

import pytest
import zstandard

from mdlzip import container, methods
from mdlzip.errors import MdlzipError
from mdlzip.methods import Encoded, Options

from conftest import sample_text

stored = methods.get("stored")
zstd = methods.get("zstd")
xz = methods.get("xz")


def test_ids_and_names_match_the_format():
    assert (stored.METHOD_ID, stored.NAME) == (0, "stored")
    assert (zstd.METHOD_ID, zstd.NAME) == (1, "zstd")
    assert (xz.METHOD_ID, xz.NAME) == (3, "xz")
    assert methods.get(1) is zstd and methods.get(3) is xz
    with pytest.raises(MdlzipError):
        methods.get("lzma")


@pytest.mark.parametrize("module", [stored, zstd, xz])
def test_classic_methods_have_no_header_or_model(module):
    data = sample_text(5000)
    encoded = module.encode(data, Options())
    assert encoded.header == b"" and encoded.model == b""
    assert module.decode(encoded, len(data), Options()) == data
    with pytest.raises(MdlzipError, match="no header or model"):  # nor has their archive a place for them
        container.pack(module.METHOD_ID, len(data), container.checksum(data), Encoded(model=b"x", data=encoded.data))


def test_zstd_frame_is_level_19_standard_zstd():
    data = sample_text(50_000)
    encoded = zstd.encode(data, Options())
    assert encoded.data == zstandard.ZstdCompressor(level=19).compress(data)
    assert zstandard.ZstdDecompressor().decompress(encoded.data) == data


def test_zstd_long_window_reaches_past_8_mib():
    # The same 1 MiB of noise twice, 9 MiB apart: only a window beyond level 19's
    # default 8 MiB finds the repeat, so the second copy costs next to nothing.
    noise = random.Random(3).randbytes(1 << 20)
    data = noise + bytes(9 << 20) + noise
    encoded = zstd.encode(data, Options())
    assert len(encoded.data) < 1.1 * len(noise)
    assert zstandard.get_frame_parameters(encoded.data).window_size > 8 << 20
    assert zstd.decode(encoded, len(data), Options()) == data


def test_zstd_decode_stops_at_the_declared_length():
    data = b"z" * 100_000
    frame = zstd.encode(data, Options())
    # The frame yields more than declared: decoding stops one byte past the claim.
    assert len(zstd.decode(frame, 10, Options())) == 11


def test_zstd_corrupt_frame_is_an_mdlzip_error():
    with pytest.raises(MdlzipError, match="zstd"):
        zstd.decode(Encoded(data=b"\x28\xb5\x2f\xfd" + b"\xff" * 20), 100, Options())
    with pytest.raises(MdlzipError, match="zstd"):
        zstd.decode(Encoded(data=b"not zstd at all"), 100, Options())


def xz_stream(data: bytes, dict_size: int, preset: int = xz.PRESET) -> bytes:
    lzma2 = {"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": dict_size}
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=[lzma2])


# Offset of the LZMA2 properties byte (the dictionary size) in a one-filter .xz stream: after the
# 12-byte stream header and the block header's size, flags, filter id and properties size.
DICT_BYTE = 16


@pytest.mark.parametrize("n, size", [(0, 4096), (4096, 4096), (4097, 6144), (6145, 8192), (1_000_000, 1 << 20), (1 << 40, 64 << 20)])
def test_xz_dictionary_covers_the_input_as_the_header_states_it(n, size):
    assert xz.dict_size(n) == size


def test_xz_stream_is_xz_9e_with_the_dictionary_cut_to_the_input():
    data = sample_text(50_000)
    ours = xz.encode(data, Options()).data
    assert lzma.decompress(ours) == data
    # xz -9e's own stream (64 MiB dictionary) holds the same LZMA2 data; only the block header's
    # dictionary byte and that header's CRC32 differ.
    theirs = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=xz.PRESET)
    assert ours[:DICT_BYTE] == theirs[:DICT_BYTE] and ours[DICT_BYTE + 8 :] == theirs[DICT_BYTE + 8 :]
    prop = ours[DICT_BYTE]
    assert (2 | prop & 1) << (prop // 2 + 11) == xz.dict_size(len(data)) == 64 << 10


@pytest.mark.skipif(shutil.which("xz") is None, reason="the xz command is not installed")
def test_xz_command_reads_the_data_section():
    data = sample_text(5000)
    proc = subprocess.run(["xz", "-d", "-c"], input=xz.encode(data, Options()).data, capture_output=True, check=True)
    assert proc.stdout == data


def test_xz_decode_stops_one_byte_past_the_declared_length():
    data = b"z" * 100_000
    assert len(xz.decode(xz.encode(data, Options()), 10, Options())) == 11


def test_xz_refuses_a_dictionary_larger_than_the_declared_length_needs():
    data = sample_text(3000)
    stream = xz_stream(data, 64 << 20)  # what xz -9e writes for any input
    with pytest.raises(MdlzipError, match="corrupt archive: xz: .*[Mm]emory"):
        xz.decode(Encoded(data=stream), len(data), Options())
    # A length that calls for 64 MiB allows it (the caller then rejects the wrong length).
    assert xz.decode(Encoded(data=stream), 64 << 20, Options()) == data


def test_xz_damaged_streams_are_one_line_errors():
    data = sample_text(20_000)
    stream = xz.encode(data, Options()).data
    cuts = [stream[:n] for n in (0, 5, 12, 30, len(stream) // 2, len(stream) - 13, len(stream) - 1)]
    for damaged in [*cuts, b"not xz at all", stream + b"\x00" * 4, stream + stream]:
        with pytest.raises(MdlzipError, match="corrupt archive: xz") as err:
            xz.decode(Encoded(data=damaged), len(data), Options())
        assert "\n" not in str(err.value)


def test_a_long_phase_notes_its_estimate_once_from_its_first_two_reports(monkeypatch):
    """The first report ends the phase's start-up; the rate between it and the second gives the
    time left, noted once, and only where the phase has at least ESTIMATE_MIN_SECONDS to go."""
    clock = iter([100.0, 102.0, 104.0, 200.0, 200.5])
    monkeypatch.setattr(methods.time, "monotonic", lambda: next(clock))
    calls = []
    phase = methods.Phase(lambda *a: calls.append(a), "train", 1000, "steps")
    for step in (1, 11, 21):
        phase.update(step, {"bpb": 2.0})
    bars = [c for c in calls if c[0] == "train"]
    assert [(c[1], c[2]) for c in bars] == [(1, 1000), (11, 1000), (21, 1000)]
    notes = [c[3]["note"] for c in calls if c[0] == "note"]
    # 2 s for 10 steps: 989 steps left take about 198 s.
    assert notes == ["train: about 3 min to go, 989 steps at 0.200 s/step (timed on 10 steps)"]
    calls.clear()
    short = methods.Phase(lambda *a: calls.append(a), "encode", 100_000)
    short.advance(50_000)
    short.advance(25_000)  # 0.5 s for 25 kB: the 25 kB left take half a second
    assert [c[0] for c in calls] == ["encode", "encode"]


def test_a_phase_without_a_callback_reports_nothing():
    methods.Phase(None, "encode", 10).advance(5)
