"""Property tests of the reader: whatever the bytes, only MdlzipError comes out, quickly,
and a declared size is never allocated before the data backs it."""

from __future__ import annotations

import lzma
import tracemalloc
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mdlzip
from mdlzip import container
from mdlzip.errors import MdlzipError
from mdlzip.methods import NAMES, Encoded

from conftest import sample_text

SETTINGS = settings(
    max_examples=300, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow]
)
TEXT = sample_text(4000)
VALID = [
    mdlzip.compress(TEXT, method="zstd"),
    mdlzip.compress(TEXT, method="xz"),
    mdlzip.compress(TEXT[:500], method="stored"),
    mdlzip.compress(b""),
]


def only_mdlzip_errors(blob: bytes) -> None:
    """Read the blob both ways; anything but success or MdlzipError fails the test."""
    for read in (container.unpack, mdlzip.decompress, mdlzip.info):
        try:
            read(blob)
        except MdlzipError as err:
            assert "\n" not in str(err)


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes(blob):
    only_mdlzip_errors(blob)


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_behind_a_valid_start(tail):
    only_mdlzip_errors(container.MAGIC + bytes([container.FORMAT_VERSION]) + tail)


@st.composite
def mutated(draw):
    """A valid archive with a few random edits: overwrites, insertions, deletions."""
    blob = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(blob)))
        edit = draw(st.sampled_from(["overwrite", "insert", "delete"]))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if edit == "overwrite":
            blob[at : at + len(chunk)] = chunk
        elif edit == "insert":
            blob[at:at] = chunk
        else:
            del blob[at : at + len(chunk)]
    return bytes(blob)


@SETTINGS
@given(mutated())
def test_mutated_archives(blob):
    only_mdlzip_errors(blob)


@st.composite
def well_framed(draw):
    """Archives with a correct CRC32 but arbitrary contents: the methods' decoders are reached."""
    frame = container.unpack(draw(st.sampled_from(VALID[:2])))[3].data  # a real zstd frame or xz stream, to be damaged
    data = draw(st.one_of(st.binary(max_size=300), st.just(frame), mutated_frame(frame)))
    method_id = draw(st.sampled_from(sorted(set(NAMES.values()) - {NAMES["neural"]})))
    # (a stored archive's data is its input, of the declared length)
    length = len(data) if method_id == NAMES["stored"] else draw(st.one_of(st.integers(0, 10_000), st.integers(0, container.MAX_LENGTH)))
    return container.pack(method_id, length, draw(st.binary(min_size=8, max_size=8)), Encoded(data=data))


def mutated_frame(frame: bytes):
    return st.tuples(st.integers(0, len(frame) - 1), st.integers(1, 255)).map(
        lambda edit: frame[: edit[0]] + bytes([frame[edit[0]] ^ edit[1]]) + frame[edit[0] + 1 :]
    )


@SETTINGS
@given(well_framed())
def test_well_framed_archives_with_random_contents(blob):
    only_mdlzip_errors(blob)


def with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def peak_memory(action) -> int:
    tracemalloc.start()
    try:
        action()
    except MdlzipError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_huge_declared_length_allocates_nothing():
    for method_id in (1, 3):
        archive = container.pack(method_id, container.MAX_LENGTH, b"\x00" * 8, Encoded(data=b"tiny"))
        # A few MiB at most: the zstd and xz decoders read in 1 MiB chunks.
        assert peak_memory(lambda: mdlzip.decompress(archive)) < 4 << 20
    # stored: the length is checked against the bytes there before any is taken
    body = container.MAGIC + bytes([container.FORMAT_VERSION, NAMES["stored"]]) + container.encode_uvarint(container.MAX_LENGTH) + b"tiny"
    assert peak_memory(lambda: mdlzip.decompress(with_crc(body))) < 1 << 20
    with pytest.raises(MdlzipError, match="truncated archive: stored data needs"):
        mdlzip.decompress(with_crc(body))


def test_a_neural_archive_claiming_a_huge_length_allocates_nothing():
    encoded = container.unpack((Path(__file__).parent / "fixtures" / f"sample.v{container.FORMAT_VERSION}-neural.mdlz").read_bytes())[3]
    archive = container.pack(2, container.MAX_LENGTH, b"\x00" * 8, encoded)
    assert peak_memory(lambda: mdlzip.decompress(archive)) < 4 << 20
    with pytest.raises(MdlzipError, match="too short"):
        mdlzip.decompress(archive)


def rle_bomb(claimed: int, blocks: int) -> bytes:
    """A zstd frame whose header claims `claimed` bytes, made of 128 KiB RLE blocks (4 bytes each)."""
    header = b"\x28\xb5\x2f\xfd" + bytes([0xC0, 13 << 3]) + claimed.to_bytes(8, "little")  # 8 MiB window
    block = lambda last: ((1 << 17) << 3 | 1 << 1 | last).to_bytes(3, "little") + b"A"  # noqa: E731
    return header + b"".join(block(i == blocks - 1) for i in range(blocks))


def test_the_rle_frame_is_genuine_zstd():
    data = b"A" * (8 << 20)
    archive = container.pack(1, len(data), container.checksum(data), Encoded(data=rle_bomb(len(data), blocks=64)))
    assert mdlzip.decompress(archive) == data


def test_a_zstd_frame_claiming_a_huge_size_allocates_only_what_it_produces():
    claimed = container.MAX_LENGTH
    frame = rle_bomb(claimed, blocks=64)  # really 8 MiB of output
    archive = container.pack(1, claimed, b"\x00" * 8, Encoded(data=frame))
    assert peak_memory(lambda: mdlzip.decompress(archive)) < 64 << 20


def test_output_beyond_the_declared_length_stops_early():
    frame = rle_bomb(1 << 30, blocks=8192)  # 1 GiB of output from 32 KiB
    archive = container.pack(1, 1000, b"\x00" * 8, Encoded(data=frame))
    assert peak_memory(lambda: mdlzip.decompress(archive)) < 16 << 20


def test_an_xz_stream_yielding_more_than_declared_stops_early():
    # 64 MiB of zeros in 10 kB, with a dictionary small enough for the declared length's memory limit.
    lzma2 = {"id": lzma.FILTER_LZMA2, "preset": 0, "dict_size": 4096}
    stream = lzma.compress(bytes(64 << 20), format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=[lzma2])
    archive = container.pack(3, 1000, b"\x00" * 8, Encoded(data=stream))
    assert peak_memory(lambda: mdlzip.decompress(archive)) < 1 << 20
    with pytest.raises(MdlzipError, match="decoded 1001 bytes, expected 1000"):
        mdlzip.decompress(archive)
