"""Block archives: the neural data section cut into independent blocks, and its block table.

A large input is coded as consecutive blocks, each with its own side models and
its own transformer state, so that any block decodes without the others (in its
own process, see ``mdlzip.parallel``). One block (every input up to the block
size) is the data section as it was before blocks existed: no table. Several
blocks are preceded by a table of (length, coded length, CRC32) per block.

Pure Python and torch-free, like the container: a hostile table is refused here,
before anything in proportion to a declared length or count is allocated.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Optional

from ..errors import MdlzipError
from .varint import Reader, put_uint

# 2^20 blocks: 8 TiB at the default block size, far beyond the format's 1 TiB; a
# larger count in a header is a corrupt one.
MAX_BLOCKS = 1 << 20
CRC_BYTES = 4
# The smallest table entry: two one-byte varints and the CRC32. A count whose table
# cannot fit in the data section is refused before the table is read.
MIN_ENTRY_BYTES = 2 + CRC_BYTES


def split(n: int, block_size: int) -> list[int]:
    """The block lengths for n bytes: blocks of ``block_size`` bytes, the remainder spread over them.

    Equal lengths (within one byte) rather than full blocks and a short last one, so that no
    block starts cold for only a few bytes: ``ceil(n / block_size)`` blocks, the first
    ``n mod count`` of them one byte longer. Never an empty block; one block for n = 0.
    """
    if block_size < 1:
        raise MdlzipError(f"block size must be positive, not {block_size}")
    count = max(1, math.ceil(n / block_size))
    if count > MAX_BLOCKS:
        raise MdlzipError(f"{count} blocks of {block_size} bytes: more than the format's {MAX_BLOCKS}")
    base, extra = divmod(n, count)
    return [base + 1] * extra + [base] * (count - extra)


def pack(lengths: list[int], coded: list[bytes]) -> bytes:
    """The data section: the one block's bytes alone, or the table and the blocks."""
    if len(coded) == 1:
        return bytes(coded[0])
    table = bytearray()
    for length, part in zip(lengths, coded):
        put_uint(table, length)
        put_uint(table, len(part))
        table += zlib.crc32(part).to_bytes(CRC_BYTES, "little")
    return bytes(table) + b"".join(coded)


@dataclass(frozen=True)
class Block:
    length: int  # original bytes
    data: memoryview  # the block's coded bytes


def _entries(raw: memoryview, count: int) -> tuple[list[tuple[int, int, int]], int]:
    """The table's (length, coded length, crc) entries and where the blocks start."""
    r = Reader(raw, "block table")
    entries = [(r.uint(1 << 40), r.uint(1 << 40), int.from_bytes(r.bytes(CRC_BYTES), "little")) for _ in range(count)]
    return entries, r.pos


def read(raw: bytes, count: int, original_length: int, max_bytes_per_coded_byte: int) -> list[Block]:
    """The blocks of a data section of ``count`` blocks, every table field checked first.

    ``max_bytes_per_coded_byte`` bounds a block's length by its coded length, as the method
    bounds the whole input by its data section: a block claiming more than its coded bytes can
    hold is refused before anything of its size is allocated.
    """
    view = memoryview(raw)
    if not 1 <= count <= MAX_BLOCKS:
        raise MdlzipError(f"corrupt archive: block count {count} outside 1..{MAX_BLOCKS}")
    if count == 1:
        return [Block(original_length, view)]
    if count > original_length:
        raise MdlzipError(f"corrupt archive: {count} blocks for {original_length} bytes (a block is never empty)")
    if count * MIN_ENTRY_BYTES > len(view):
        raise MdlzipError(f"corrupt archive: a table of {count} blocks cannot fit in a data section of {len(view)} bytes")
    entries, start = _entries(view, count)
    if sum(e[0] for e in entries) != original_length:
        raise MdlzipError(f"corrupt archive: the block lengths add up to {sum(e[0] for e in entries)}, not the original length {original_length}")
    blocks, pos = [], start
    for i, (length, coded, crc) in enumerate(entries):
        where = f"block {i + 1} of {count}"
        if length < 1:
            raise MdlzipError(f"corrupt archive: {where} is empty")
        if coded > len(view) - pos:
            raise MdlzipError(f"corrupt archive: {where} is truncated: it needs {coded} bytes, {len(view) - pos} remain")
        if length > max_bytes_per_coded_byte * (coded + 8):
            raise MdlzipError(f"corrupt archive: {where} claims {length} bytes, more than its {coded} coded bytes can hold")
        part = view[pos : pos + coded]
        if zlib.crc32(part) != crc:
            raise MdlzipError(f"archive is damaged: CRC32 mismatch in {where}")
        blocks.append(Block(length, part))
        pos += coded
    if pos != len(view):
        raise MdlzipError(f"corrupt archive: {len(view) - pos} bytes after the last block")
    return blocks


def damaged(raw: bytes, count: int) -> Optional[int]:
    """The index of the first block whose bytes fail their CRC32, where the table still reads; else None.

    For an archive whose CRC32 failed: which block to name in the error.
    """
    if not 2 <= count <= min(MAX_BLOCKS, len(raw) // MIN_ENTRY_BYTES):
        return None
    try:
        entries, pos = _entries(memoryview(raw), count)
    except MdlzipError:
        return None
    for i, (_, coded, crc) in enumerate(entries):
        if zlib.crc32(memoryview(raw)[pos : pos + coded]) != crc:
            return i
        pos += coded
    return None


def table_bytes(raw: bytes, count: int) -> int:
    """The size of the block table at the start of a data section (0 for one block)."""
    return 0 if count == 1 else _entries(memoryview(raw), count)[1]


def describe(raw: bytes, count: int, original_length: int) -> list[dict]:
    """Each block's original and coded bytes, for ``info`` (the table as read, unchecked beyond that)."""
    if count == 1:
        return [{"original_bytes": original_length, "data_bytes": len(raw)}]
    return [{"original_bytes": length, "data_bytes": coded} for length, coded, _ in _entries(memoryview(raw), count)[0]]
