"""The Python API: options, method choice (auto), decoding checks, info."""

from __future__ import annotations

import lzma
import os
import random
import struct
import subprocess
import sys
import types
import zlib
from pathlib import Path

import pytest

import mdlzip
from mdlzip import api, container
from mdlzip.errors import MdlzipError
from mdlzip.methods import Encoded

from conftest import sample_text

FIXTURES = Path(__file__).parent / "fixtures"

INFO_KEYS = {
    "method", "format_version", "original_bytes", "archive_bytes", "header_bytes", "model_bytes",
    "data_bytes", "bits_per_byte", "params_total", "params_nonzero",
}


def make_neural(min_input=1000, data_cost=0):
    """A stand-in neural method: its archive costs 2 model bytes and data_cost data bytes.

    It records every call so tests can see whether auto tried it and with what options.
    """
    module = types.ModuleType("mdlzip.methods.neural")
    module.METHOD_ID, module.NAME, module.MIN_INPUT = 2, "neural", min_input
    module.calls, module.store = [], {}

    def encode(data, options):
        module.calls.append(options)
        if options.progress:
            options.progress("train", 1, 2, {"bpb": 1.5})
        module.store[len(data)] = data
        return Encoded(header=b"h", model=b"mm", data=b"d" * data_cost)

    def decode(encoded, length, options):
        return module.store[length]

    module.encode, module.decode = encode, decode
    module.describe = lambda encoded, original_length: {"params_total": 10, "params_nonzero": 3, "architecture": "fake"}
    return module


@pytest.fixture
def neural(monkeypatch):
    module = make_neural()
    monkeypatch.setitem(sys.modules, "mdlzip.methods.neural", module)
    return module


@pytest.fixture(autouse=True)
def no_neural(monkeypatch):
    """These tests pin the API's own behaviour, so the real neural method stays out of them.

    None in sys.modules makes the import raise ImportError, as if the module did not
    exist; the ``neural`` fixture replaces it with the stand-in.
    """
    monkeypatch.setitem(sys.modules, "mdlzip.methods.neural", None)


def method_of(archive: bytes) -> str:
    return mdlzip.info(archive)["method"]


def records(n: int = 5000) -> bytes:
    """Binary records (a counter, a random nibble): LZMA's position-aware contexts code them
    in about half of what zstd needs."""
    rng = random.Random(4)
    return b"".join(struct.pack("<HH", i, rng.randrange(16)) for i in range(n))


CLASSICS = ("stored", "zstd", "xz")


@pytest.mark.parametrize("method", ["auto", *CLASSICS])
@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 40, sample_text()])
def test_round_trip(method, data):
    archive = mdlzip.compress(data, method=method)
    assert mdlzip.decompress(archive) == data
    assert mdlzip.verify(archive) == len(data)


def test_accepts_bytearray_and_memoryview():
    data = sample_text(1000)
    assert mdlzip.decompress(mdlzip.compress(bytearray(data))) == data
    assert mdlzip.decompress(mdlzip.compress(memoryview(data))) == data


@pytest.mark.parametrize("level", [0, 10, -1, "6", 6.0, None])
def test_level_must_be_1_to_9(level):
    with pytest.raises(MdlzipError, match="level"):
        mdlzip.compress(b"abc", level=level)


@pytest.mark.parametrize("level", range(1, 10))
def test_every_level_works(level):
    assert mdlzip.decompress(mdlzip.compress(b"abc" * 100, level=level)) == b"abc" * 100


@pytest.mark.parametrize(
    "options, words",
    [
        ({"method": "lzma"}, "unknown method"),
        ({"device": "tpu"}, "unknown device"),
        ({"threads": 0}, "threads"),
        ({"threads": "2"}, "threads"),
    ],
)
def test_invalid_options(options, words):
    with pytest.raises(MdlzipError, match=words):
        mdlzip.compress(b"abc", **options)


def test_decompress_validates_options():
    archive = mdlzip.compress(b"abc")
    with pytest.raises(MdlzipError, match="unknown device"):
        mdlzip.decompress(archive, device="tpu")


def test_auto_picks_the_smallest_classic():
    assert method_of(mdlzip.compress(b"")) == "stored"
    assert method_of(mdlzip.compress(random.Random(0).randbytes(10_000))) == "stored"
    assert method_of(mdlzip.compress(sample_text())) == "zstd"
    data = records()
    assert method_of(mdlzip.compress(data)) == "xz"
    assert len(mdlzip.compress(data)) < 0.6 * len(mdlzip.compress(data, method="zstd"))


def test_auto_is_never_larger_than_any_method():
    for data in (b"", b"q", random.Random(1).randbytes(5000), sample_text(), records()):
        sizes = [len(mdlzip.compress(data, method=m)) for m in CLASSICS]
        assert len(mdlzip.compress(data)) == min(sizes)


def test_auto_is_never_much_larger_than_xz_9e():
    # The container's fields less the 8-byte CRC64 that an .xz file carries and the data section
    # does not: at most 16 bytes for inputs under 2 MiB.
    for data in (b"", b"q", random.Random(1).randbytes(5000), sample_text(), records()):
        assert len(mdlzip.compress(data)) <= len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)) + 16


@pytest.mark.parametrize("size", [20_000, 250_000, 1_000_000])
def test_data_that_does_not_compress_costs_less_than_a_zstd_frame(size):
    """Random bytes, as a JPEG or a zip is to every method: stored, 13 bytes over the input, where
    the zstd command's frame (level 19, its checksum on) adds more."""
    import zstandard

    data = random.Random(size).randbytes(size)
    archive = mdlzip.compress(data, level=1)
    assert method_of(archive) == "stored" and mdlzip.decompress(archive) == data
    assert len(archive) == size + 13 < len(zstandard.ZstdCompressor(level=19, write_checksum=True).compress(data))


def test_empty_input_overhead_is_11_bytes():
    assert len(mdlzip.compress(b"")) == 11


def test_neural_missing_gives_a_clean_error():
    with pytest.raises(MdlzipError, match="method 'neural' is not available"):
        mdlzip.compress(b"abc" * 1000, method="neural")
    archive = container.pack(2, 3, container.checksum(b"abc"), Encoded(model=b"m", data=b"d"))
    with pytest.raises(MdlzipError, match="method 'neural' is not available"):
        mdlzip.decompress(archive)
    assert mdlzip.info(archive)["method"] == "neural"


def test_auto_uses_neural_when_available_and_smaller(neural):
    data = sample_text(5000)
    archive = mdlzip.compress(data)
    assert method_of(archive) == "neural"
    assert mdlzip.decompress(archive) == data


def test_auto_skips_neural_below_its_minimum_input(neural):
    archive = mdlzip.compress(sample_text(999))
    assert method_of(archive) == "zstd"
    assert neural.calls == []


def test_auto_treats_missing_min_input_as_unavailable(neural):
    del neural.MIN_INPUT
    assert method_of(mdlzip.compress(sample_text(5000))) == "zstd"
    assert neural.calls == []


def test_auto_ties_go_to_the_simpler_method(monkeypatch):
    data = random.Random(2).randbytes(3000)  # stored is best among the classics
    # stored: the 3,000 bytes alone; the stand-in: the content checksum 8, header 1+1, model 1+2,
    # data 2 + 2985.
    monkeypatch.setitem(sys.modules, "mdlzip.methods.neural", make_neural(data_cost=2985))
    assert len(mdlzip.compress(data, method="neural")) == len(mdlzip.compress(data, method="stored"))
    assert method_of(mdlzip.compress(data)) == "stored"


def test_options_reach_the_method(neural):
    seen = []
    mdlzip.compress(
        sample_text(2000), method="neural", level=3, device="cpu", threads=2, seed=7,
        progress=lambda *args: seen.append(args), steps=5,
    )
    (options,) = neural.calls
    assert (options.level, options.device, options.threads, options.seed) == (3, "cpu", 2, 7)
    assert options.extra == {"steps": 5}
    assert seen == [("train", 1, 2, {"bpb": 1.5})]


def test_info_keys_and_nulls():
    data = sample_text()
    archive = mdlzip.compress(data, method="zstd")
    facts = mdlzip.info(archive)
    assert INFO_KEYS <= set(facts)
    assert facts["method"] == "zstd" and facts["format_version"] == container.FORMAT_VERSION == 18
    assert facts["original_bytes"] == len(data) and facts["archive_bytes"] == len(archive)
    assert facts["header_bytes"] + facts["model_bytes"] + facts["data_bytes"] == len(archive)
    assert facts["model_bytes"] == 0  # a classic method's archive has no model section
    assert facts["bits_per_byte"] == pytest.approx(8 * len(archive) / len(data))
    assert facts["params_total"] is None and facts["params_nonzero"] is None
    assert facts["checksum"] == container.checksum(data).hex()


def test_info_of_empty_input_has_no_bits_per_byte():
    facts = mdlzip.info(mdlzip.compress(b""))
    assert facts["bits_per_byte"] is None and facts["archive_bytes"] == 11


def test_info_merges_the_method_description(neural):
    facts = mdlzip.info(mdlzip.compress(sample_text(3000), method="neural"))
    assert (facts["params_total"], facts["params_nonzero"], facts["architecture"]) == (10, 3, "fake")
    assert facts["model_bytes"] == 3


@pytest.mark.parametrize("method_id", [1, 3])
def test_wrong_content_checksum_is_caught_after_decoding(method_id):
    data = b"hello world"
    encoded = api.methods.get(method_id).encode(data, api.Options())
    archive = container.pack(method_id, len(data), container.checksum(b"hello World"), encoded)
    with pytest.raises(MdlzipError, match="content checksum mismatch"):
        mdlzip.decompress(archive)


@pytest.mark.parametrize("method_id", [1, 3])
def test_declared_length_must_match(method_id):
    data = sample_text(1000)
    encoded = api.methods.get(method_id).encode(data, api.Options())
    for length in (len(data) - 1, len(data) + 1, container.MAX_LENGTH):
        archive = container.pack(method_id, length, container.checksum(data), encoded)
        with pytest.raises(MdlzipError, match="decoded"):
            mdlzip.decompress(archive)


def test_a_stored_archive_is_as_long_as_its_declared_length():
    """Its data is the input: a length that disagrees with the bytes there is a broken frame."""
    data = sample_text(1000)
    body = container.pack(0, len(data), container.checksum(data), Encoded(data=data))[:-4]
    fields = len(container.MAGIC) + 2
    for length, error in ((len(data) - 1, "1 unexpected bytes"), (len(data) + 1, "stored data needs 1001 bytes")):
        framed = body[:fields] + container.encode_uvarint(length) + body[fields + 2 :]
        with pytest.raises(MdlzipError, match=error):
            mdlzip.decompress(framed + zlib.crc32(framed).to_bytes(4, "little"))


def test_zstd_trailing_bytes_in_the_data_section_are_rejected():
    data = sample_text(1000)
    frame = mdlzip.methods.get("zstd").encode(data, api.Options()).data
    archive = container.pack(1, len(data), container.checksum(data), Encoded(data=frame + b"junk"))
    with pytest.raises(MdlzipError):
        mdlzip.decompress(archive)


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("method", CLASSICS)
def test_classic_paths_never_import_torch_or_click(method):
    out = run_python(
        "import sys, mdlzip\n"
        f"a = mdlzip.compress(b'abc' * 100, method={method!r})\n"
        "mdlzip.decompress(a); mdlzip.info(a)\n"
        "print(sorted(m for m in ('torch', 'click', 'tqdm') if m in sys.modules))"
    )
    assert out.strip() == "[]"



@pytest.mark.parametrize("archive", sorted(p.name for p in FIXTURES.glob("*.mdlz")))
def test_decoding_never_imports_torch(archive):
    """Torch trains; the integer engine and the side models decode without it, so a decompress
    starts in a fraction of a second, like a classic codec's."""
    out = run_python(
        "import sys, mdlzip\n"
        f"a = open({str(FIXTURES / archive)!r}, 'rb').read()\n"
        "mdlzip.decompress(a); mdlzip.info(a)\n"
        "print('torch' in sys.modules)"
    )
    assert out.strip() == "False"


def test_side_models_alone_never_import_torch():
    """Below the size where a transformer is trained, compressing runs the side models alone, in C."""
    out = run_python(
        "import sys, mdlzip\n"
        f"d = {sample_text(20_000)!r}\n"
        "a = mdlzip.compress(d, method='neural')\n"
        "assert mdlzip.decompress(a) == d and mdlzip.info(a)['method'] == 'neural'\n"
        "print('torch' in sys.modules)"
    )
    assert out.strip() == "False"

def test_auto_skips_the_neural_method_where_nothing_has_structure(neural):
    """Random bytes: the classic methods find nothing, so the neural method is not even tried;
    the archive is the stored one, a few bytes over the input, and the decision is reported."""
    data = os.urandom(300_000)
    notes = []
    archive = mdlzip.compress(data, progress=lambda phase, done, total, info: notes.append(info) if phase == "note" else None)
    assert method_of(archive) == "stored" and len(archive) == len(data) + 13 and neural.calls == []
    assert any("neural method skipped" in n["note"] for n in notes)
    structured = sample_text(300_000)
    assert method_of(mdlzip.compress(structured)) == "neural" and len(neural.calls) == 1


def test_where_the_classic_methods_find_nothing_the_method_may_still_ask_to_be_tried(neural):
    """A method's own probe (the neural method's side models on the input's start) decides then."""
    data = os.urandom(50_000)
    seen = []
    neural.finds_structure = lambda d: seen.append(d) or False
    assert method_of(mdlzip.compress(data)) == "stored" and seen == [data] and neural.calls == []
    neural.finds_structure = lambda d: True
    notes = []
    mdlzip.compress(data, progress=lambda phase, done, total, info: notes.append(info) if phase == "note" else None)
    assert len(neural.calls) == 1 and any("the side models did on the input's start" in n["note"] for n in notes)
