"""Damaged archives: every truncation and thousands of bit flips are rejected, cleanly.

The bulk goes through the API (fast); a sample goes through the real command to
check exit code 1, a single line on stderr, no traceback, no output file, and that
``test`` agrees with ``decompress``.
"""

from __future__ import annotations

import random

import pytest

import mdlzip
from mdlzip import container
from mdlzip.errors import MdlzipError

from conftest import assert_one_line_error, run_process, sample_text

FLIP_POSITIONS = 2000


def archives() -> dict[str, bytes]:
    text = sample_text(20_000)
    return {
        "zstd": mdlzip.compress(text, method="zstd"),
        "xz": mdlzip.compress(text, method="xz"),
        "stored": mdlzip.compress(text[:3000], method="stored"),
        "empty": mdlzip.compress(b""),
    }


ARCHIVES = archives()


def fixed_part(archive: bytes) -> int:
    """Bytes before the data section's contents: the fixed fields and every length prefix."""
    data = container.unpack(archive)[3].data
    return len(archive) - container.CRC_BYTES - len(data)


def flip_positions(archive: bytes, seed: int = 0) -> list[tuple[int, int]]:
    """(byte, bit) pairs: every bit of the fixed fields, prefixes and CRC, plus one random
    bit in each of enough other bytes to reach FLIP_POSITIONS distinct positions."""
    framing = [*range(fixed_part(archive)), *range(len(archive) - container.CRC_BYTES, len(archive))]
    others = sorted(set(range(len(archive))) - set(framing))
    rng = random.Random(seed)
    sampled = rng.sample(others, min(len(others), FLIP_POSITIONS - len(framing)))
    return [(i, bit) for i in framing for bit in range(8)] + [(i, rng.randrange(8)) for i in sampled]


def flipped(archive: bytes, position: int, bit: int) -> bytes:
    damaged = bytearray(archive)
    damaged[position] ^= 1 << bit
    return bytes(damaged)


def expect_rejected(blob: bytes) -> None:
    with pytest.raises(MdlzipError) as err:
        mdlzip.decompress(blob)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_every_truncation_is_rejected(name):
    archive = ARCHIVES[name]
    for cut in range(len(archive)):
        expect_rejected(archive[:cut])


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_bit_flips_are_rejected(name):
    archive = ARCHIVES[name]
    positions = flip_positions(archive)
    assert len({p for p, _ in positions}) == min(FLIP_POSITIONS, len(archive))
    for position, bit in positions:
        expect_rejected(flipped(archive, position, bit))


def test_appended_bytes_are_rejected():
    for extra in (b"\x00", b"\x89MDZ", ARCHIVES["empty"]):
        expect_rejected(ARCHIVES["zstd"] + extra)


def test_the_command_rejects_a_sample(tmp_path):
    archive = ARCHIVES["zstd"]
    rng = random.Random(1)
    cuts = [archive[:n] for n in (0, 5, 15, len(archive) // 2, len(archive) - 1)]
    header_flips = [flipped(archive, 0, 0), flipped(archive, 4, 1), flipped(archive, 5, 2)]  # magic, version, method
    flips = header_flips + [flipped(archive, p, b) for p, b in rng.sample(flip_positions(archive), 3)]
    for i, blob in enumerate(cuts + flips):
        name = f"bad{i}.mdlz"
        (tmp_path / name).write_bytes(blob)
        assert_one_line_error(run_process("decompress", name, cwd=tmp_path), f"mdlzip: {name}: ")
        assert_one_line_error(run_process("test", name, cwd=tmp_path), f"mdlzip: {name}: ")
        assert not (tmp_path / f"bad{i}").exists()
    # The same through a pipe: nothing but the error comes out.
    result = run_process("decompress", stdin=flips[0])
    assert_one_line_error(result, "mdlzip: stdin: ")
    assert result.out == b""
