"""DRR, the smooth l0 relaxation of Barth & von Petersenn (2025): alpha * sum(1 - exp(-beta |w|)).

Near zero it pulls like l1 with slope alpha * beta; weights well above 1/beta
feel no force, unlike l1. beta is set per tensor relative to the size of a
typical kept weight (3 / rms at the start of the regularized phase), not as a
fixed constant, because tensors differ in scale by an order of magnitude.
"""

from __future__ import annotations

import torch

from .base import Sparsifier, rms

BETA_TIMES_RMS = 3.0


class DRR(Sparsifier):
    def start(self, first: int, last: int):
        super().start(first, last)
        self.beta = {name: BETA_TIMES_RMS / rms(layer.weight) for name, layer in self.layers.items()}

    def penalty(self) -> torch.Tensor:
        return sum((1 - torch.exp(-self.beta[n] * (l.weight * l.mask).abs())).sum() for n, l in self.layers.items())


METHOD = DRR
