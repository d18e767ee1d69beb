"""benchmarks/data.py without the network: files cut from a small fake package, and apt's answers."""

from __future__ import annotations

import hashlib
import importlib
import lzma
import os

import pytest

from conftest import REPO, sample_text
from deb_helpers import deb as make_deb, fake_commands, run_module, tar

POLICY = """linux-source-6.1:
  Installed: 6.1.192-2
  Candidate: 6.1.192-3
  Version table:
     6.1.192-3 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
 *** 6.1.192-2 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
        100 /var/lib/dpkg/status
     6.1.176-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
"""


@pytest.fixture
def data(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    return importlib.import_module("benchmarks.data")


# The source tarball's uncompressed tar stream, in the fake package as in the real one.
SOURCE_TAR = tar({"linux-source-6.1/CREDITS": sample_text(30_000), "linux-source-6.1/README": sample_text(9_000, seed=2)})


@pytest.fixture
def deb(tmp_path):
    payload = tar({"./usr/share/doc/linux-source-6.1/copyright": b"GPL-2\n", "./usr/src/linux-source-6.1.tar.xz": lzma.compress(SOURCE_TAR)})
    path = tmp_path / "linux-source.deb"
    path.write_bytes(make_deb("linux-source-6.1", payload))
    return path


SIZES = {"small": 1000, "large": 25_000}


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_files_are_prefixes_of_the_source_tar_stream(data, deb, out):
    pinned = {name: sha256(SOURCE_TAR[:n]) for name, n in SIZES.items()}
    assert data.build(deb, out, SIZES, pinned) == pinned
    assert sorted(os.listdir(out)) == ["large", "small"]
    assert (out / "small").read_bytes() == SOURCE_TAR[:1000] and (out / "large").read_bytes() == SOURCE_TAR[:25_000]


def test_a_hash_mismatch_is_one_line_and_leaves_no_file(data, deb, out):
    pinned = {"small": sha256(SOURCE_TAR[:1000]), "large": "0" * 64}
    with pytest.raises(data.DataError, match=f"^large: sha256 {sha256(SOURCE_TAR[:25_000])}, expected 0{{64}}$"):
        data.build(deb, out, SIZES, pinned)
    assert os.listdir(out) == []


def test_a_stream_shorter_than_a_file_is_an_error(data, deb, out):
    with pytest.raises(data.DataError, match=f"the tar stream ends after {len(SOURCE_TAR)} bytes"):
        data.build(deb, out, {"huge": 1 << 20}, {"huge": ""})
    assert os.listdir(out) == []


def test_a_file_that_is_no_deb_is_an_error(data, tmp_path, out):
    (tmp_path / "x.deb").write_bytes(b"PK\x03\x04 not an ar archive")
    with pytest.raises(data.DataError, match="not a .deb"):
        data.build(tmp_path / "x.deb", out, SIZES, {})


def test_served_versions_are_read_from_apt_cache_policy(data):
    assert data.served_versions(POLICY) == {"6.1.192-3", "6.1.192-2", "6.1.176-1"}
    assert data.served_versions("N: Unable to locate package linux-source-6.1\n") == set()


def test_a_version_apt_does_not_serve_is_one_line_and_exit_1(tmp_path):
    path = fake_commands(tmp_path / "bin", {"apt-cache": "echo 'linux-source-6.1:\n  Version table:\n     6.1.176-1 500'\n"})
    result = run_module("benchmarks.data", str(tmp_path / "out"), path=path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "benchmarks.data: linux-source-6.1 6.1.192-3 is not served by this machine's apt sources (apt-cache policy linux-source-6.1; apt-get update?)\n"


@pytest.mark.parametrize("args", [(), ("a", "b"), ("--bogus",)])
def test_usage_errors_are_one_line_and_exit_1(args):
    result = run_module("benchmarks.data", *args, path=os.environ["PATH"])
    assert result.returncode == 1 and result.stderr.startswith("benchmarks.data: usage:") and result.stderr.count("\n") == 1


def test_download_finds_the_deb_apt_wrote_and_checks_its_hash(data, tmp_path, monkeypatch):
    policy = "echo 'zlib1g:\n  Version table:\n     1:1.2.13.dfsg-1 500'\n"
    # apt-get download writes NAME_VERSION_ARCH.deb, the epoch's colon as %3a; only the .deb of the package asked for counts.
    download = "[ \"$1 $2\" = 'download zlib1g:amd64=1:1.2.13.dfsg-1' ] && printf deb > 'zlib1g_1%3a1.2.13.dfsg-1_amd64.deb' && printf other > zlib1g-dev_1_amd64.deb\n"
    monkeypatch.setenv("PATH", fake_commands(tmp_path / "bin", {"apt-cache": policy, "apt-get": download}))
    folder = tmp_path / "debs"
    folder.mkdir()
    deb = data.download(folder, "zlib1g:amd64", "1:1.2.13.dfsg-1", sha256(b"deb"))
    assert deb == folder / "zlib1g_1%3a1.2.13.dfsg-1_amd64.deb"
    deb.unlink()
    with pytest.raises(data.DataError, match=f"^zlib1g_1%3a1.2.13.dfsg-1_amd64.deb: sha256 {sha256(b'deb')}, expected 0{{64}}$"):
        data.download(folder, "zlib1g:amd64", "1:1.2.13.dfsg-1", "0" * 64)
