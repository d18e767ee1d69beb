"""The x86 filter: relative branch targets and data addresses made absolute, so repeated ones repeat.

In x86 machine code a call (``E8``) or jump (``E9``) is followed by a 32-bit displacement from the
next instruction, and so is an x86-64 load, store or address computation relative to the
instruction pointer (a REX.W prefix, ``48`` or ``4C``; an opcode such as ``8B`` mov or ``8D`` lea;
a ModRM byte of the form ``00 reg 101``), so every reference to one function or one global has
different bytes. Adding the position turns the displacement into the address, which recurs, and
the side models learn it (1 MB slices of x86-64 executables and libraries: 8-17% smaller; calls
and jumps alone, as xz's BCJ filter converts them: 6-15%).

The filter scans left to right. At position p it finds an operand of four bytes
- after ``E8`` or ``E9`` at p: bytes p+1..p+4, the scan going on at p + 5;
- after a REX.W byte at p, one of OPCODES at p + 1 and a ModRM byte m at p + 2 with m & 0xC7 = 5:
  bytes p+3..p+6, the scan going on at p + 7;
(only where the operand lies inside the input), else the scan goes on at p + 1. An operand whose
last byte is ``00`` or ``FF`` (a displacement within +-16 MiB) has its low 24 bits d replaced by
a = (d + p) mod 2^24, written most significant byte first (the high bytes of an address repeat
most, so they come first); the last byte is kept. Only the first three bytes of an operand ever
change, never a byte the scan reads to find one, and no operand overlaps another: the inverse
finds the same operands in the filtered bytes and undoes exactly what was done.
"""

from __future__ import annotations

import numpy as np

BRANCHES = (0xE8, 0xE9)
REX_W = (0x48, 0x4C)
# mov, lea, mov to memory, cmp (both ways), add, sub, movsxd, test, xor, or, and
OPCODES = (0x8B, 0x8D, 0x89, 0x3B, 0x39, 0x03, 0x2B, 0x63, 0x85, 0x33, 0x0B, 0x23)
# Bytes coded both ways to decide (the side models alone, ``x86_pays`` in methods/neural.py).
TRIAL_BYTES = 1 << 18


def _operands(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The instructions' positions p and their operands' first bytes, of the operands that are
    converted, in b (the input or its filtered form: both give the same positions)."""
    n = len(b)
    branch = np.zeros(n, dtype=bool)
    branch[: max(0, n - 4)] = np.isin(b[: max(0, n - 4)], BRANCHES)
    relative = np.zeros(n, dtype=bool)
    m = max(0, n - 6)
    relative[:m] = np.isin(b[:m], REX_W) & np.isin(b[1 : m + 1], OPCODES) & ((b[2 : m + 2] & 0xC7) == 0x05)
    starts = np.flatnonzero(branch | relative)
    length = np.where(branch[starts], 5, 7)
    # A start seven or more bytes after the one before it is always the scan's: whatever the scan
    # took last ended by then. Only closer ones need the scan itself, which looks back at most
    # six bytes.
    taken = np.ones(len(starts), dtype=bool)
    for i in (np.flatnonzero(np.diff(starts) < 7) + 1).tolist():
        j = i - 1
        while not taken[j]:
            j -= 1
        taken[i] = starts[i] >= starts[j] + length[j]
    p = starts[taken]
    first = p + np.where(branch[p], 1, 3)
    near = (b[first + 3] == 0x00) | (b[first + 3] == 0xFF)
    return p[near], first[near]


def candidates(data: bytes) -> int:
    """How many operands the filter would convert: in x86 code one or two per hundred bytes; in
    text, random or most other data one per ten thousand or fewer."""
    return len(_operands(np.frombuffer(data, dtype=np.uint8))[0])


def forward(data: bytes) -> bytes:
    b = np.frombuffer(data, dtype=np.uint8).copy()
    p, q = _operands(b)
    d = b[q].astype(np.int64) | b[q + 1].astype(np.int64) << 8 | b[q + 2].astype(np.int64) << 16
    a = (d + p) & 0xFFFFFF
    b[q], b[q + 1], b[q + 2] = a >> 16, (a >> 8) & 0xFF, a & 0xFF
    return b.tobytes()


def inverse(data: bytes) -> bytes:
    b = np.frombuffer(data, dtype=np.uint8).copy()
    p, q = _operands(b)
    a = b[q].astype(np.int64) << 16 | b[q + 1].astype(np.int64) << 8 | b[q + 2].astype(np.int64)
    d = (a - p) & 0xFFFFFF
    b[q], b[q + 1], b[q + 2] = d & 0xFF, (d >> 8) & 0xFF, d >> 16
    return b.tobytes()
