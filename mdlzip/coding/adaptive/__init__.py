"""Adaptive side models mixed with the transformer: the part of the code that costs no archive bytes.

The stored transformer gives a distribution over the next byte. Beside it run
models that learn while coding, so the decoder rebuilds them from the bytes it
has already decoded (the prequential part of the code, as in paq and cmix):

- hashed context models of orders 0, 1, 2, 3, 4, 5 and 7, of the current word
  and of the word before it, and of the match model's guess: per context and
  bit, counts of zeros and ones (in two-way buckets with a check byte, so a
  colliding context replaces the weaker one instead of polluting it), read
  through an adaptive map from count pairs to probabilities;
- a match model: the byte that followed the latest earlier occurrence of the
  last six bytes, in any stream, with a confidence learned per match length.

Each byte is coded as eight binary decisions, most significant bit first. The
transformer's probability of the bit (from its integer frequencies) and every
side model's probability go, as logits, into three logistic mixers whose weight
sets are chosen by the partial byte, by the match state and by the previous
byte; a second-layer mixer combines them, three APMs (by partial byte, order 1
and order 2) refine the result, and a binary arithmetic coder codes the bit.

The per-bit loop is a small C extension (``_side.c``): in numpy the same work
costs about a millisecond per bit and step, in C about a microsecond. It uses
integer arithmetic only, visits the streams of a step in order and updates
every table right after the bit it predicted, so encoder and decoder hold the
same state at every bit on any machine. Its logistic tables come from
``logistic.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import MdlzipError
from ._side import SideCoder  # noqa: F401 - the coder's type, for annotations elsewhere
from .logistic import squash_table, stretch_table

TABLE_BITS_MIN, TABLE_BITS_MAX = 12, 24
DESCRIPTION = "orders 0-5 and 7, two word contexts, match model and its guess; 3+1 mixers, 3 APMs"


@dataclass(frozen=True)
class SideConfig:
    """What the archive records: the size of the hashed tables (the model set is fixed by the format)."""

    table_bits: int

    def __post_init__(self):
        if not TABLE_BITS_MIN <= self.table_bits <= TABLE_BITS_MAX:
            raise MdlzipError("invalid side-model config: bad table size")

    @classmethod
    def for_input(cls, n: int, primed: int = 0) -> "SideConfig":
        """About one slot per coded bit, so that hashed contexts rarely collide (at most 2**22,
        2**24 with a prior's ``primed`` bytes to learn first: 640 MB of tables)."""
        limit = TABLE_BITS_MAX if primed else TABLE_BITS_MAX - 2
        return cls(min(limit, max(TABLE_BITS_MIN, (8 * max(n + primed, 1)).bit_length() - 1)))


def side_coder(cfg: SideConfig, lengths: list[int], data: bytes | None = None, prime: bytes = b"") -> SideCoder:
    """A coder for segments of these lengths: encodes when ``data`` is None, else decodes it.

    ``prime`` is a prior's text: the models learn from it before the first byte
    (both sides alike), so a small input starts from English statistics, not from nothing.
    """
    coder = SideCoder(
        lengths,
        cfg.table_bits,
        stretch_table().astype("<i2").tobytes(),
        squash_table().astype("<i2").tobytes(),
        data,
    )
    if prime:
        coder.prime(prime)
    return coder


def side_bit_probs(data: bytes, cfg: SideConfig) -> np.ndarray:
    """(n, 8): the probability (of 4096) the side models alone (a uniform transformer) give each
    bit of each byte, most significant first, coded as one stream. What the trainer needs to fit
    the transformer to what these models miss; reporting only, nothing is coded from it."""
    coder = side_coder(cfg, [len(data)]) if data else None
    uniform = np.ones((1, 256), dtype=np.int64)
    out = np.empty((len(data), 8), dtype=np.int16)
    for t, b in enumerate(data):
        coder.encode_step(uniform, bytes((b,)))
        out[t] = coder.path_probs
    return out
