"""Adaptive per-neuron pruning with the l_q sparsity index (Yang, Wang, Ding & Yang 2022).

For the surviving incoming weights w of a neuron (a row), d of them, the index
SI = M_1(w) / M_q(w) (power means, 0 < q < 1) measures how concentrated they
are; the neuron keeps m = ceil(d * SI^(q/(q-1)) * (1+eta)^(1/(q-1))) weights,
flat rows keeping all and peaked rows few. Each of ROUNDS pruning rounds
removes the floor(d * r) smallest survivors with r = min(c (1 - m/d), 0.9);
training between rounds lets the rest adapt.
"""

from __future__ import annotations

import torch

from .base import Sparsifier

Q, ETA, C, MAX_FRACTION = 0.5, 0.0, 1.0, 0.9
ROUNDS = 5


def keep_counts(w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """m per row of w over the weights where mask is set."""
    a = w.abs() * mask
    d = mask.sum(1).clamp(min=1)
    m1 = a.sum(1) / d
    mq = (a.pow(Q).sum(1) / d).pow(1 / Q).clamp(min=1e-30)
    si = (m1 / mq).clamp(min=1.0)
    return torch.ceil(d * si.pow(Q / (Q - 1)) * (1 + ETA) ** (1 / (Q - 1)))


def prune_rows(w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The new mask after one round."""
    d = mask.sum(1)
    m = keep_counts(w, mask)
    frac = torch.where(m <= d, (C * (1 - m / d.clamp(min=1))).clamp(0, MAX_FRACTION), torch.zeros_like(d))
    drop = torch.floor(d * frac)
    # Rank survivors by magnitude within each row; pruned entries rank first.
    a = torch.where(mask > 0, w.abs(), torch.full_like(w, -1.0))
    ranks = a.argsort(1).argsort(1)
    already = (mask.shape[1] - d)[:, None]
    return mask * (ranks >= already + drop[:, None]).float()


class LQ(Sparsifier):
    def start(self, first: int, last: int):
        super().start(first, last)
        self.every = max(1, (last - first) // ROUNDS)

    @torch.no_grad()
    def after_step(self, step: int):
        if (step + 1 - self.first) % self.every or (step + 1 - self.first) // self.every > ROUNDS:
            return
        for layer in self.layers.values():
            layer.mask.copy_(prune_rows(layer.weight, layer.mask))
            layer.weight.mul_(layer.mask)


METHOD = LQ
