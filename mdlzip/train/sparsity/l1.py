"""Plain l1, the control: alpha * beta * sum |w| with DRR's per-tensor beta.

With that scaling it has the same pull as DRR near zero, so the two differ only
in that l1 keeps shrinking large weights.
"""

from __future__ import annotations

import torch

from .drr import DRR


class L1(DRR):
    def penalty(self) -> torch.Tensor:
        return sum(self.beta[n] * (l.weight * l.mask).abs().sum() for n, l in self.layers.items())


METHOD = L1
