"""PMMP, probabilistic minimax pruning (Barth & von Petersenn 2025).

Each weight theta gets a shadow value w, a keep-probability gamma in [0, 1] and
a multiplier u >= 0. With z ~ Bernoulli(gamma), the constraint theta = w z
almost surely reads E[(theta - w z)^2] = (theta - w gamma)^2 + w^2 gamma (1 - gamma) = 0,
and the Lagrangian

    CE(theta) + alpha * sum[ u ((theta - w gamma)^2 + w^2 gamma (1 - gamma)) + gamma ]

is minimized over theta, w, gamma and maximized over u: no Monte Carlo
sampling. Here u is measured in units of alpha, so the penalty below is in
nonzero-weight units like every other sparsifier's. The ascent on u is a
separate Adam with ``maximize=True``. The final mask keeps gamma > 0.5.
"""

from __future__ import annotations

import torch

from .base import Sparsifier, rms

U_LR = 1e-2


class PMMP(Sparsifier):
    def __init__(self, model, steps: int):
        super().__init__(model, steps)
        self.w, self.gamma, self.u = {}, {}, {}

    def start(self, first: int, last: int):
        super().start(first, last)
        for name, layer in self.layers.items():
            theta = (layer.weight * layer.mask).detach()
            # The constraint is scale-free in units of the tensor's rms, so one u learning rate fits all tensors.
            self.w[name] = theta.clone().requires_grad_(True)
            self.gamma[name] = layer.mask.clone().requires_grad_(True)
            self.u[name] = torch.zeros_like(theta, requires_grad=True)
        self.scale = {name: 1 / rms(layer.weight).pow(2) for name, layer in self.layers.items()}
        self.ascent = torch.optim.Adam(list(self.u.values()), lr=U_LR, maximize=True)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.w.values()) + list(self.gamma.values())

    def penalty(self) -> torch.Tensor:
        total = torch.zeros(())
        for name, layer in self.layers.items():
            theta, w, g, u = layer.weight * layer.mask, self.w[name], self.gamma[name], self.u[name]
            violation = (theta - w * g).pow(2) + w.pow(2) * g * (1 - g)
            total = total + (u * violation * self.scale[name]).sum() + g.sum()
        return total

    @torch.no_grad()
    def after_step(self, step: int):
        self.ascent.step()  # u's gradient came with the loss's backward pass
        self.ascent.zero_grad(set_to_none=True)
        for name in self.layers:
            self.gamma[name].clamp_(0, 1)
            self.u[name].clamp_(min=0)

    @torch.no_grad()
    def scores(self) -> dict[str, torch.Tensor]:
        base = super().scores()
        return {name: base[name] * (self.gamma[name] > 0.5) for name in self.layers}


METHOD = PMMP
