"""Hard-concrete l0 gates (Louizos, Welling & Kingma 2017), one gate per weight.

Training samples z = min(1, max(0, sigmoid((log u - log(1-u) + log_alpha) / beta) (zeta - gamma) + gamma)),
u ~ U(0, 1), and multiplies each weight by it; the penalty is the expected
number of open gates, sum sigmoid(log_alpha - beta log(-gamma / zeta)).
At test time the gate is deterministic, min(1, max(0, sigmoid(log_alpha) (zeta - gamma) + gamma)),
and ``finish`` folds it into the weights.
"""

from __future__ import annotations

import math

import torch

from .base import Sparsifier

BETA, GAMMA, ZETA = 2 / 3, -0.1, 1.1
INIT_DROP = 0.1  # initial gate-closed probability; log_alpha starts near log(0.9/0.1)


class HardConcrete(Sparsifier):
    def __init__(self, model, steps: int):
        super().__init__(model, steps)
        self.log_alpha = {}

    def start(self, first: int, last: int):
        super().start(first, last)
        for name, layer in self.layers.items():
            init = math.log(1 - INIT_DROP) - math.log(INIT_DROP)
            self.log_alpha[name] = (init + 0.01 * torch.randn_like(layer.weight)).requires_grad_(True)
            layer.gate = self._gate_fn(name, layer)

    def _gate_fn(self, name, layer):
        def gate() -> torch.Tensor:
            la = self.log_alpha[name]
            if layer.training:
                u = torch.rand_like(la).clamp(1e-6, 1 - 1e-6)
                s = torch.sigmoid((torch.log(u) - torch.log(1 - u) + la) / BETA)
            else:
                s = torch.sigmoid(la)
            return (s * (ZETA - GAMMA) + GAMMA).clamp(0, 1)

        return gate

    def parameters(self) -> list[torch.Tensor]:
        return list(self.log_alpha.values())

    def penalty(self) -> torch.Tensor:
        shift = BETA * math.log(-GAMMA / ZETA)
        return sum((torch.sigmoid(la - shift) * self.layers[n].mask).sum() for n, la in self.log_alpha.items())

    @torch.no_grad()
    def after_step(self, step: int):
        for la in self.log_alpha.values():
            la.clamp_(math.log(1e-2), math.log(1e2))

    @torch.no_grad()
    def finish(self):
        for name, layer in self.layers.items():
            training = layer.training
            layer.eval()
            layer.weight.mul_(layer.gate())
            layer.train(training)
            layer.gate = None


METHOD = HardConcrete
