"""The classic methods on their own: stored and zstd."""

from __future__ import annotations

import random

import pytest
import zstandard

from mdlzip import methods
from mdlzip.errors import MdlzipError
from mdlzip.methods import Encoded, Options

from conftest import sample_text

stored = methods.get("stored")
zstd = methods.get("zstd")


def test_ids_and_names_match_the_format():
    assert (stored.METHOD_ID, stored.NAME) == (0, "stored")
    assert (zstd.METHOD_ID, zstd.NAME) == (1, "zstd")
    assert methods.get(1) is zstd
    with pytest.raises(MdlzipError):
        methods.get("lzma")


@pytest.mark.parametrize("module", [stored, zstd])
def test_classic_methods_have_no_header_or_model(module):
    data = sample_text(5000)
    encoded = module.encode(data, Options())
    assert encoded.header == b"" and encoded.model == b""
    assert module.decode(encoded, len(data), Options()) == data
    with pytest.raises(MdlzipError, match="no header or model"):
        module.decode(Encoded(model=b"x", data=encoded.data), len(data), Options())


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
