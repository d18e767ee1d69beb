"""TAMADE with the codelength as its criterion: the global threshold that minimizes total bits.

Barth & von Petersenn binary-search the largest magnitude threshold whose loss
stays within (1 + delta) of the unpruned loss. A compressor has a better
criterion: the archive size itself. ``total_bits(threshold)`` prices a threshold
exactly on the model side (the weight codec's own codelength) and by the data
codelength estimated on a fixed sample. That function is not monotone, so the
search is a log-spaced grid followed by a golden-section refinement around the
best grid point.
"""

from __future__ import annotations

import math
from typing import Callable

GRID = 16  # grid points between hi / 2**7.5 and hi, plus 0
REFINE = 6
_GOLD = (math.sqrt(5) - 1) / 2


def search(total_bits: Callable[[float], float], hi: float) -> tuple[float, float]:
    """The threshold in [0, hi] with the fewest total bits, and those bits."""
    grid = [0.0] + [hi * 2 ** (-(GRID - 1 - k) / 2) for k in range(GRID)]
    cost = {t: total_bits(t) for t in grid}
    i = min(range(len(grid)), key=lambda k: (cost[grid[k]], -k))
    lo, up = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    a, b = up - _GOLD * (up - lo), lo + _GOLD * (up - lo)
    for _ in range(REFINE):
        for t in (a, b):
            if t not in cost:
                cost[t] = total_bits(t)
        if cost[a] <= cost[b]:
            up, b = b, a
            a = up - _GOLD * (up - lo)
        else:
            lo, a = a, b
            b = lo + _GOLD * (up - lo)
    best = min(cost, key=lambda t: (cost[t], -t))
    return best, cost[best]
