"""Gradual magnitude pruning (Zhu & Gupta 2017), the baseline.

No penalty: every few steps the smallest weights (relative to their tensor's
rms, with one global threshold) are masked, so that the density follows the
cubic schedule d(s) = D + (1 - D)(1 - s)^3 from 1 down to FINAL_DENSITY over the
regularized phase. The final threshold search may prune further.
"""

from __future__ import annotations

import torch

from .base import Sparsifier

FINAL_DENSITY = 0.25
UPDATES = 40  # pruning events over the regularized phase


class Magnitude(Sparsifier):
    def start(self, first: int, last: int):
        super().start(first, last)
        self.every = max(1, (last - first) // UPDATES)

    @torch.no_grad()
    def after_step(self, step: int):
        if (step + 1 - self.first) % self.every:
            return
        s = min(1.0, self.progress(step))
        density = FINAL_DENSITY + (1 - FINAL_DENSITY) * (1 - s) ** 3
        scores = self.scores()
        flat = torch.cat([v.flatten() for v in scores.values()])
        keep = max(1, int(density * flat.numel()))
        threshold = flat.kthvalue(flat.numel() - keep + 1).values if keep < flat.numel() else flat.min() - 1
        for name, layer in self.layers.items():
            layer.mask.mul_((scores[name] >= threshold).float())
            layer.weight.mul_(layer.mask)


METHOD = Magnitude
