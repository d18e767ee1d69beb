"""The logistic domain of the side models: 12-bit probabilities and their stretched logits.

``stretch(p) = ln(p / (1 - p))`` and its inverse ``squash`` map between
probabilities (units of 1/4096) and logits (units of 1/256). Mixing happens on
logits, as in paq. The tables hold these values rounded half to even, the same
integers on every machine (a test pins their hashes): each value is computed in
doubles and kept where it lies clearly away from a rounding tie, where no
machine's exp or log, off by far less, could round it otherwise; any other is
computed with the decimal module, which rounds correctly at a fixed precision.
(In decimal alone the tables took a quarter of a second at every start.)
"""

from __future__ import annotations

import decimal
from functools import lru_cache
from typing import Callable

import numpy as np

P_BITS = 12
P_ONE = 1 << P_BITS  # probabilities live in 1 .. P_ONE - 1
P16_ONE = 1 << 16  # the mixers' output, the SSE stages and the coder: 1 .. P16_ONE - 1
LOGIT_ONE = 256  # one nat in logit units
LOGIT_MAX = 2047


# Doubles get these tables' values within 1e-10 (a few units in the last place of numbers below
# 2^16); every value that lies within this margin of a tie goes to the decimal module. (None
# does: the closest lies 1.6e-7 from its tie.)
_TIE_MARGIN = 1e-6


def _decimal_context() -> decimal.Context:
    return decimal.Context(prec=30, rounding=decimal.ROUND_HALF_EVEN)


def _round(x: decimal.Decimal) -> int:
    return int(x.to_integral_value(decimal.ROUND_HALF_EVEN))


def _rounded(approx: np.ndarray, exact: Callable[[int], decimal.Decimal]) -> np.ndarray:
    """approx rounded half to even where it is clearly away from a tie, exact(i) rounded elsewhere."""
    out = np.rint(approx).astype(np.int64)
    near_tie = np.abs(approx - np.floor(approx) - 0.5) < _TIE_MARGIN
    for i in np.flatnonzero(near_tie):
        out[i] = _round(exact(int(i)))
    return out


def _squash(one: int) -> np.ndarray:
    """Index d + LOGIT_MAX for logits d in [-LOGIT_MAX, LOGIT_MAX] -> one / (1 + exp(-d / LOGIT_ONE))."""
    ctx = _decimal_context()

    def exact(i: int) -> decimal.Decimal:
        d = i - LOGIT_MAX
        return ctx.divide(decimal.Decimal(one), 1 + ctx.exp(ctx.divide(decimal.Decimal(-d), decimal.Decimal(LOGIT_ONE))))

    d = np.arange(-LOGIT_MAX, LOGIT_MAX + 1, dtype=np.float64)
    table = np.clip(_rounded(one / (1 + np.exp(-d / LOGIT_ONE)), exact), 1, one - 1)
    table.flags.writeable = False
    return table


@lru_cache(maxsize=None)
def squash_table() -> np.ndarray:
    """Logit -> 12-bit probability: what the mixers train on."""
    return _squash(P_ONE)


@lru_cache(maxsize=None)
def squash16_table() -> np.ndarray:
    """Logit -> 16-bit probability: the mixers' output, refined by SSE and coded."""
    return _squash(P16_ONE)


@lru_cache(maxsize=None)
def stretch_table() -> np.ndarray:
    """Index p in [0, P_ONE) -> LOGIT_ONE * ln(p / (P_ONE - p)), clamped to +-LOGIT_MAX (p = 0 counts as 1)."""
    ctx = _decimal_context()

    def exact(p: int) -> decimal.Decimal:
        p = max(p, 1)
        return ctx.multiply(decimal.Decimal(LOGIT_ONE), ctx.ln(ctx.divide(decimal.Decimal(p), decimal.Decimal(P_ONE - p))))

    p = np.maximum(np.arange(P_ONE), 1).astype(np.float64)
    table = np.clip(_rounded(LOGIT_ONE * np.log(p / (P_ONE - p)), exact), -LOGIT_MAX, LOGIT_MAX)
    table.flags.writeable = False
    return table


def squash(d: np.ndarray) -> np.ndarray:
    return squash_table()[np.clip(d, -LOGIT_MAX, LOGIT_MAX) + LOGIT_MAX]


def stretch(p: np.ndarray) -> np.ndarray:
    return stretch_table()[p]
