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
# Bytes coded both ways to decide (the side models alone, ``choose_filter`` in methods/neural.py).
TRIAL_BYTES = 1 << 18
# Bytes searched at once, so that the search's masks stay small on an input of any size.
CHUNK = 1 << 22


def _starts(b: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions in [lo, hi) where the scan would find an operand if it stood there, and the
    length of each one's instruction (5 or 7)."""
    n = len(b)
    w = b[lo : min(n, hi + 6)]
    m = min(hi, n) - lo
    branch = np.isin(w[:m], BRANCHES)
    branch[max(0, n - 4 - lo) :] = False
    relative = np.zeros(m, dtype=bool)
    r = max(0, min(m, n - 6 - lo))
    relative[:r] = np.isin(w[:r], REX_W) & np.isin(w[1 : r + 1], OPCODES) & ((w[2 : r + 2] & 0xC7) == 0x05)
    s = np.flatnonzero(branch | relative)
    return s + lo, np.where(branch[s], 5, 7)


def _operands(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The instructions' positions p and their operands' first bytes, of the operands that are
    converted, in b (the input or its filtered form: both give the same positions)."""
    found_p, found_first = [], []
    free = 0  # where the last instruction the scan took ends
    for lo in range(0, len(b), CHUNK):
        starts, length = _starts(b, lo, lo + CHUNK)
        # A start seven or more bytes after the one before it, and past `free`, is always the
        # scan's: whatever the scan took last ended by then. Only the others need the scan
        # itself, which looks back at most six bytes.
        taken = np.ones(len(starts), dtype=bool)
        for i in np.flatnonzero((np.diff(starts, prepend=-7) < 7) | (starts < free)).tolist():
            j = i - 1
            while j >= 0 and not taken[j]:
                j -= 1
            taken[i] = starts[i] >= (starts[j] + length[j] if j >= 0 else free)
        p, size = starts[taken], length[taken]
        if len(p):
            free = int(p[-1] + size[-1])
        first = p + np.where(size == 5, 1, 3)
        near = (b[first + 3] == 0x00) | (b[first + 3] == 0xFF)
        found_p.append(p[near])
        found_first.append(first[near])
    if not found_p:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(found_p), np.concatenate(found_first)


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
