"""The archive container: layout byte by byte, limits, and every reader check."""

from __future__ import annotations

import zlib

import pytest

from mdlzip import container
from mdlzip.errors import MdlzipError
from mdlzip.methods import Encoded

# The worked example of FORMAT.md: method stored, original b"abc".
ABC_ARCHIVE = bytes.fromhex("894d445a 0d 00 03 d8bb14d833d59559 00 00 03 616263 003beed2")


def pack(encoded: Encoded, method_id: int = 1, length: int = 3, checksum: bytes = b"\x00" * 8) -> bytes:
    return container.pack(method_id, length, checksum, encoded)


def with_crc(body: bytes) -> bytes:
    """An archive body completed with a correct CRC32, to reach the checks behind it."""
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_worked_example_matches_format_md():
    assert container.pack(0, 3, container.checksum(b"abc"), Encoded(data=b"abc")) == ABC_ARCHIVE
    assert container.unpack(ABC_ARCHIVE) == (0, 3, container.checksum(b"abc"), Encoded(data=b"abc"))


def test_checksum_is_blake2b_64():
    import hashlib

    assert container.checksum(b"abc") == hashlib.blake2b(b"abc", digest_size=8).digest()


@pytest.mark.parametrize(
    "value, encoded",
    [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (16384, "808001"), (1 << 40, "808080808020")],
)
def test_uvarint_known_values(value, encoded):
    assert container.encode_uvarint(value).hex() == encoded
    archive = pack(Encoded(), length=value)
    assert container.unpack(archive)[1] == value


def test_uvarint_rejects_values_beyond_the_limit():
    with pytest.raises(MdlzipError):
        container.encode_uvarint(container.MAX_LENGTH + 1)
    with pytest.raises(MdlzipError):
        container.encode_uvarint(-1)


def test_round_trip_all_sections():
    encoded = Encoded(header=b"cfg", model=bytes(range(256)) * 3, data=b"\xff" * 1000)
    archive = pack(encoded, method_id=2, length=12345, checksum=b"12345678")
    assert container.unpack(archive) == (2, 12345, b"12345678", encoded)


@pytest.mark.parametrize(
    "encoded",
    [Encoded(), Encoded(data=b"x"), Encoded(header=b"h" * 200, model=b"m" * 20000, data=b"d" * 128)],
)
@pytest.mark.parametrize("length", [0, 127, 128, 1 << 40])
def test_layout_sums_to_archive_size(encoded, length):
    sizes = container.layout(length, encoded)
    assert sum(sizes.values()) == len(pack(encoded, length=length))
    assert sizes["model_bytes"] == len(container.encode_uvarint(len(encoded.model))) + len(encoded.model)
    assert sizes["data_bytes"] == len(container.encode_uvarint(len(encoded.data))) + len(encoded.data)


def test_empty_stored_archive_is_22_bytes():
    assert len(container.pack(0, 0, container.checksum(b""), Encoded())) == 22


def body_of(archive: bytes) -> bytes:
    return archive[:-4]


def expect_error(blob: bytes, words: str) -> None:
    with pytest.raises(MdlzipError) as err:
        container.unpack(blob)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_magic():
    expect_error(b"PK\x03\x04" + ABC_ARCHIVE[4:], "not an mdlzip archive")
    expect_error(b"", "not an mdlzip archive")
    expect_error(b"hello", "not an mdlzip archive")


def test_short_prefix_of_magic_is_truncated():
    expect_error(ABC_ARCHIVE[:2], "truncated")


def test_unsupported_version():
    body = bytearray(body_of(ABC_ARCHIVE))
    body[4] = 14
    expect_error(with_crc(bytes(body)), "unsupported format version 14")


@pytest.mark.parametrize("version,release", [(1, "0.1"), (2, "0.2"), (3, "0.3"), (4, "0.4"), (5, "0.5"), (6, "0.6"), (7, "0.7"), (8, "0.8"), (9, "0.9"), (10, "0.10"), (11, "0.11")])
def test_earlier_versions_name_the_release_that_reads_them(version, release):
    body = bytearray(body_of(ABC_ARCHIVE))
    body[4] = version
    expect_error(with_crc(bytes(body)), f"written by mdlzip {release}; this mdlzip reads version {container.FORMAT_VERSION}")


def test_unknown_method_id():
    body = bytearray(body_of(ABC_ARCHIVE))
    body[5] = 77
    expect_error(with_crc(bytes(body)), "unknown method id 77")
    with pytest.raises(MdlzipError):
        container.pack(77, 0, b"\x00" * 8, Encoded())


def test_non_minimal_varint_is_rejected():
    # Original length 3 spelled as 83 00: same value, padded encoding.
    body = body_of(ABC_ARCHIVE)
    padded = body[:6] + b"\x83\x00" + body[7:]
    expect_error(with_crc(padded), "non-minimal")


def test_overlong_varint_is_rejected():
    body = body_of(ABC_ARCHIVE)
    expect_error(with_crc(body[:6] + b"\x80" * 9 + b"\x01" + body[7:]), "exceeds the limit")
    # Eleven continuation bytes of zero value: no limit crossed, but too long.
    expect_error(with_crc(body[:6] + b"\x80" * 11 + body[7:]), "longer than 10 bytes")


def test_declared_length_beyond_limit():
    body = body_of(ABC_ARCHIVE)
    too_big = b"\x81\x80\x80\x80\x80\x20"  # 2**40 + 1
    expect_error(with_crc(body[:6] + too_big + body[7:]), "exceeds the limit")


def test_section_longer_than_the_file_is_rejected_before_slicing():
    body = body_of(ABC_ARCHIVE)
    # data section declares 2**40 bytes, far more than remain
    huge = body[:17] + b"\x80\x80\x80\x80\x80\x20" + body[18:]
    expect_error(with_crc(huge), "truncated archive: data section needs 1099511627776 bytes")


def test_trailing_garbage():
    expect_error(ABC_ARCHIVE + b"\x00", "unexpected bytes")
    expect_error(with_crc(body_of(ABC_ARCHIVE) + b"junk"), "4 unexpected bytes")


def test_crc_mismatch():
    damaged = bytearray(ABC_ARCHIVE)
    damaged[-6] ^= 0x01  # a data byte: structure intact, only the CRC can notice
    expect_error(bytes(damaged), "CRC32 mismatch")
    expect_error(ABC_ARCHIVE[:-1] + bytes([ABC_ARCHIVE[-1] ^ 0x80]), "CRC32 mismatch")


def test_every_truncation_is_rejected():
    archive = pack(Encoded(header=b"h" * 3, model=b"m" * 200, data=b"d" * 300))
    for cut in range(len(archive)):
        with pytest.raises(MdlzipError):
            container.unpack(archive[:cut])


def test_accepts_bytes_like_inputs():
    assert container.unpack(bytearray(ABC_ARCHIVE))[3].data == b"abc"
    assert container.unpack(memoryview(ABC_ARCHIVE))[3].data == b"abc"
