"""The logistic domain of the side models: 12-bit probabilities and their stretched logits.

``stretch(p) = ln(p / (1 - p))`` and its inverse ``squash`` map between
probabilities (units of 1/4096) and logits (units of 1/256). Mixing happens on
logits, as in paq. Both tables are computed with the decimal module, which
rounds correctly at a fixed precision, so they hold the same integers on every
machine; a test pins their hashes.
"""

from __future__ import annotations

import decimal
from functools import lru_cache

import numpy as np

P_BITS = 12
P_ONE = 1 << P_BITS  # probabilities live in 1 .. P_ONE - 1
P16_ONE = 1 << 16  # the mixers' output, the SSE stages and the coder: 1 .. P16_ONE - 1
LOGIT_ONE = 256  # one nat in logit units
LOGIT_MAX = 2047


def _decimal_context() -> decimal.Context:
    return decimal.Context(prec=30, rounding=decimal.ROUND_HALF_EVEN)


def _round(x: decimal.Decimal) -> int:
    return int(x.to_integral_value(decimal.ROUND_HALF_EVEN))


def _squash(one: int) -> np.ndarray:
    """Index d + LOGIT_MAX for logits d in [-LOGIT_MAX, LOGIT_MAX] -> one / (1 + exp(-d / LOGIT_ONE))."""
    ctx = _decimal_context()
    values = [
        _round(ctx.divide(decimal.Decimal(one), 1 + ctx.exp(ctx.divide(decimal.Decimal(-d), decimal.Decimal(LOGIT_ONE)))))
        for d in range(-LOGIT_MAX, LOGIT_MAX + 1)
    ]
    table = np.clip(np.array(values, dtype=np.int64), 1, one - 1)
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
    values = [
        _round(ctx.multiply(decimal.Decimal(LOGIT_ONE), ctx.ln(ctx.divide(decimal.Decimal(max(p, 1)), decimal.Decimal(P_ONE - max(p, 1))))))
        for p in range(P_ONE)
    ]
    table = np.clip(np.array(values, dtype=np.int64), -LOGIT_MAX, LOGIT_MAX)
    table.flags.writeable = False
    return table


def squash(d: np.ndarray) -> np.ndarray:
    return squash_table()[np.clip(d, -LOGIT_MAX, LOGIT_MAX) + LOGIT_MAX]


def stretch(p: np.ndarray) -> np.ndarray:
    return stretch_table()[p]
