"""The archive container: layout byte by byte, limits, and every reader check."""

from __future__ import annotations

import zlib

import pytest

from mdlzip import container
from mdlzip.errors import MdlzipError
from mdlzip.methods import Encoded

# The worked example of FORMAT.md: method stored, original b"abc".
ABC_ARCHIVE = bytes.fromhex("894d445a 12 00 03 616263 ad40fb6a")


def pack(encoded: Encoded, method_id: int = 1, length: int = 3, checksum: bytes = b"\x00" * 8) -> bytes:
    return container.pack(method_id, length, checksum, encoded)


def with_crc(body: bytes) -> bytes:
    """An archive body completed with a correct CRC32, to reach the checks behind it."""
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_worked_example_matches_format_md():
    assert container.pack(0, 3, container.checksum(b"abc"), Encoded(data=b"abc")) == ABC_ARCHIVE
    assert container.unpack(ABC_ARCHIVE) == (0, 3, None, Encoded(data=b"abc"))


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
    sizes = container.layout(2, length, encoded)
    assert sum(sizes.values()) == len(pack(encoded, method_id=2, length=length))
    assert sizes["model_bytes"] == len(container.encode_uvarint(len(encoded.model))) + len(encoded.model)
    assert sizes["data_bytes"] == len(container.encode_uvarint(len(encoded.data))) + len(encoded.data)


@pytest.mark.parametrize("method_id", [1, 3])
@pytest.mark.parametrize("data", [b"", b"x", b"d" * 300])
def test_classic_methods_have_a_data_section_alone(method_id, data):
    """No header or model section: 2 bytes less than three sections, and nothing else may be written."""
    encoded = Encoded(data=data)
    archive = pack(encoded, method_id=method_id, length=1000)
    sizes = container.layout(method_id, 1000, encoded)
    assert sum(sizes.values()) == len(archive) == 4 + 1 + 1 + 2 + 8 + len(container.encode_uvarint(len(data))) + len(data) + 4
    assert sizes["model_bytes"] == 0 and sizes["data_bytes"] == len(container.encode_uvarint(len(data))) + len(data)
    assert container.unpack(archive) == (method_id, 1000, b"\x00" * 8, encoded)
    for extra in (Encoded(header=b"h", data=data), Encoded(model=b"m", data=data)):
        with pytest.raises(MdlzipError, match="archive has no header or model section"):
            pack(extra, method_id=method_id, length=1000)


@pytest.mark.parametrize("length", [0, 1, 16383, 16384, 100_000])
def test_a_stored_archive_is_its_input_and_a_few_bytes(length):
    """No content checksum (the CRC32 covers the input itself) and no data length (the original
    length is it): 13 bytes more than the input from 16 KiB to 2 MiB, less than zstd -19's frame."""
    data = bytes(range(256)) * (length // 256) + bytes(length % 256)
    archive = container.pack(0, length, container.checksum(data), Encoded(data=data))
    assert len(archive) - length == 4 + 1 + 1 + len(container.encode_uvarint(length)) + 4
    assert length < 16384 or len(archive) - length == 13
    assert archive[-4 - length : -4] == data
    assert container.unpack(archive) == (0, length, None, Encoded(data=data))
    assert sum(container.layout(0, length, Encoded(data=data)).values()) == len(archive)
    with pytest.raises(MdlzipError, match="stored archive's data is the input"):
        container.pack(0, length + 1, container.checksum(data), Encoded(data=data))


def test_empty_stored_archive_is_11_bytes():
    assert len(container.pack(0, 0, container.checksum(b""), Encoded())) == 11


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
    body[4] = 19
    expect_error(with_crc(bytes(body)), "unsupported format version 19")


@pytest.mark.parametrize("version,release", [(1, "0.1"), (2, "0.2"), (3, "0.3"), (4, "0.4"), (5, "0.5"), (6, "0.6"), (7, "0.7"), (8, "0.8"), (9, "0.9"), (10, "0.10"), (11, "0.11"), (12, "0.12"), (13, "0.13"), (14, "0.14"), (15, "0.15"), (16, "0.16"), (17, "0.17")])
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
    body = body_of(pack(Encoded(data=b"abc")))
    # data section declares 2**40 bytes, far more than remain
    huge = body[:15] + b"\x80\x80\x80\x80\x80\x20" + body[16:]
    expect_error(with_crc(huge), "truncated archive: data section needs 1099511627776 bytes")
    # a stored archive whose original length is far more than its bytes
    body = body_of(ABC_ARCHIVE)
    expect_error(with_crc(body[:6] + b"\x80\x80\x80\x80\x80\x20" + body[7:]), "truncated archive: stored data needs 1099511627776 bytes")


def test_trailing_garbage():
    expect_error(ABC_ARCHIVE + b"\x00", "unexpected bytes")
    expect_error(with_crc(body_of(ABC_ARCHIVE) + b"junk"), "4 unexpected bytes")


def test_crc_mismatch():
    damaged = bytearray(ABC_ARCHIVE)
    damaged[-6] ^= 0x01  # a data byte: structure intact, only the CRC can notice
    expect_error(bytes(damaged), "CRC32 mismatch")
    expect_error(ABC_ARCHIVE[:-1] + bytes([ABC_ARCHIVE[-1] ^ 0x80]), "CRC32 mismatch")


def test_every_truncation_is_rejected():
    for archive in (pack(Encoded(header=b"h" * 3, model=b"m" * 200, data=b"d" * 300), method_id=2), pack(Encoded(data=b"d" * 300)), ABC_ARCHIVE):
        for cut in range(len(archive)):
            with pytest.raises(MdlzipError):
                container.unpack(archive[:cut])


def test_accepts_bytes_like_inputs():
    assert container.unpack(bytearray(ABC_ARCHIVE))[3].data == b"abc"
    assert container.unpack(memoryview(ABC_ARCHIVE))[3].data == b"abc"
