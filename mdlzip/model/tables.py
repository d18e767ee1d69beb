"""Integer lookup tables for the integer model, computed without platform floats.

``math.exp`` comes from the C library and may differ in the last ulp between
machines, which could flip a rounding and so break decoding. The decimal module
is specified to round correctly, so ``Decimal.exp`` at a fixed precision gives
the same digits everywhere; a test pins the table's hash as well.
"""

from __future__ import annotations

import decimal
from functools import lru_cache

# One logit unit is 2**-LOGIT_BITS nats, in attention scores and output logits alike.
LOGIT_BITS = 8
# exp table values are round(EXP_ONE * exp(-u / 2**LOGIT_BITS)).
EXP_ONE = 1 << 16


@lru_cache(maxsize=None)
def exp_table() -> tuple[int, ...]:
    """exp(-u / 2**LOGIT_BITS) scaled by EXP_ONE for u = 0, 1, ...; ends at the first 0."""
    ctx = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)
    scale = decimal.Decimal(1 << LOGIT_BITS)
    values = []
    u = 0
    while True:
        v = int((ctx.exp(ctx.divide(decimal.Decimal(-u), scale)) * EXP_ONE).to_integral_value(decimal.ROUND_HALF_EVEN))
        values.append(v)
        if v == 0:
            return tuple(values)
        u += 1
