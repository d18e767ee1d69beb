"""benchmarks/kinds.py without the network: files cut from a small fake package, and apt's answers."""

from __future__ import annotations

import gzip
import hashlib
import os
import re

import pytest

from benchmarks import data, kinds, png
from conftest import sample_text
from deb_helpers import deb as make_deb, fake_commands, run_module, tar
from test_benchmark_png import encode, image

SIZE = 1000
PACKAGE = kinds.Package("fake-data:amd64", "1.0-1", "")
HEADERS = {"usr/include/b.h": sample_text(700, seed=1), "usr/include/a.h": sample_text(300, seed=2), "usr/include/a/x.h": sample_text(400, seed=3)}
PROSE = sample_text(5000, seed=4)
PIXELS = image(20, 20, 3)


@pytest.fixture
def deb(tmp_path):
    files = {"./" + path: content for path, content in HEADERS.items()}
    files["./usr/include/notes.txt"] = b"not a header\n"
    files["./usr/share/doc/fake/prose.gz"] = gzip.compress(PROSE)
    files["./usr/share/fake/photo.png"] = encode(20, 20, 2, PIXELS, filters=[1, 4])
    path = tmp_path / "fake-data_1.0-1_amd64.deb"
    path.write_bytes(make_deb("fake-data", tar(files, links={"./usr/include/link.h": "b.h"})))
    return path


# What each file must hold: the headers in path order (a.h, a/x.h, b.h; not notes.txt, not the link), the prose gunzipped, the photo as PPM.
EXPECTED = {
    "headers.h": (HEADERS["usr/include/a.h"] + HEADERS["usr/include/a/x.h"] + HEADERS["usr/include/b.h"])[:SIZE],
    "prose": PROSE[:SIZE],
    "photo.ppm": (b"P6\n20 20\n255\n" + PIXELS)[:SIZE],
}


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def fake_kinds(pins: dict[str, str]) -> dict[str, kinds.Kind]:
    return {
        "headers.h": kinds.Kind(PACKAGE, "usr/include/", pins["headers.h"], suffix=".h"),
        "prose": kinds.Kind(PACKAGE, "usr/share/doc/fake/prose.gz", pins["prose"], decode=gzip.decompress),
        "photo.ppm": kinds.Kind(PACKAGE, "usr/share/fake/photo.png", pins["photo.ppm"], decode=png.to_pnm),
    }


PINNED = {name: sha256(content) for name, content in EXPECTED.items()}


def test_files_are_the_package_files_in_path_order_decoded_and_cut(deb, out):
    assert kinds.build({PACKAGE: deb}, out, fake_kinds(PINNED), SIZE) == PINNED
    assert sorted(os.listdir(out)) == sorted(EXPECTED)
    for name, content in EXPECTED.items():
        assert (out / name).read_bytes() == content


def test_a_hash_mismatch_is_one_line_and_leaves_no_file(deb, out):
    pins = {**PINNED, "prose": "0" * 64}
    with pytest.raises(data.DataError, match=f"^prose: sha256 {PINNED['prose']}, expected 0{{64}}$"):
        kinds.build({PACKAGE: deb}, out, fake_kinds(pins), SIZE)
    assert os.listdir(out) == []


def test_a_missing_file_or_too_few_bytes_is_an_error(deb, out):
    missing = {"x": kinds.Kind(PACKAGE, "usr/lib/", "", suffix=".py")}
    with pytest.raises(data.DataError, match=r"^x: fake-data:amd64 1.0-1 holds no usr/lib/\*\.py$"):
        kinds.build({PACKAGE: deb}, out, missing, SIZE)
    short = {"x": kinds.Kind(PACKAGE, "usr/include/", "", suffix=".h")}
    with pytest.raises(data.DataError, match=r"^x: usr/include/\*\.h of fake-data:amd64 1.0-1 makes 1,400 bytes, short of 2,000$"):
        kinds.build({PACKAGE: deb}, out, short, 2000)
    assert os.listdir(out) == []


def test_a_file_that_does_not_decode_is_an_error(deb, out):
    wrong = {"x": kinds.Kind(PACKAGE, "usr/share/fake/photo.png", "", decode=gzip.decompress)}
    with pytest.raises(data.DataError, match="^x: cannot decode usr/share/fake/photo.png of fake-data:amd64 1.0-1: Not a gzipped file"):
        kinds.build({PACKAGE: deb}, out, wrong, SIZE)


def test_every_kind_is_pinned():
    assert list(kinds.KINDS) == ["text", "c_headers.h", "markup.xml", "python_source.py", "shared_library.so", "table.csv", "image.ppm"]
    hexdigest = re.compile("[0-9a-f]{64}")
    for kind in kinds.KINDS.values():
        assert hexdigest.fullmatch(kind.sha256) and hexdigest.fullmatch(kind.package.sha256)
        assert kind.package.version and not kind.path.startswith("/")


def test_an_unserved_package_is_one_line_and_exit_1(tmp_path):
    path = fake_commands(tmp_path / "bin", {"apt-cache": "echo 'N: Unable to locate package '$2\n"})
    result = run_module("benchmarks.kinds", str(tmp_path / "out"), path=path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "benchmarks.kinds: dict-devil 1.0-13.1 is not served by this machine's apt sources (apt-cache policy dict-devil; apt-get update?)\n"
    assert os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize("args", [(), ("a", "b"), ("--bogus",)])
def test_usage_errors_are_one_line_and_exit_1(args):
    result = run_module("benchmarks.kinds", *args, path=os.environ["PATH"])
    assert result.returncode == 1 and result.stderr.startswith("benchmarks.kinds: usage:") and result.stderr.count("\n") == 1


def test_whole_files_are_not_cut(deb, out):
    """benchmarks.images writes whole images: size None."""
    whole = b"P6\n20 20\n255\n" + PIXELS
    photo = {"photo.ppm": kinds.Kind(PACKAGE, "usr/share/fake/photo.png", sha256(whole), decode=png.to_pnm)}
    assert kinds.build({PACKAGE: deb}, out, photo, size=None) == {"photo.ppm": sha256(whole)}
    assert (out / "photo.ppm").read_bytes() == whole


def test_every_image_and_binary_is_pinned():
    from benchmarks import binaries, images

    for files, sizes in ((images.IMAGES, images.SIZES), (binaries.BINARIES, binaries.SIZES)):
        assert list(files) == list(sizes)
        for kind in files.values():
            assert re.fullmatch("[0-9a-f]{64}", kind.sha256) and re.fullmatch("[0-9a-f]{64}", kind.package.sha256)
