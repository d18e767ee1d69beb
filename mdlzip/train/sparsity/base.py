"""The interface every sparsifier implements, and the plain no-penalty baseline."""

from __future__ import annotations

import torch

from ...model.float_model import ByteTransformer, QLinear


def rms(t: torch.Tensor) -> torch.Tensor:
    return t.detach().pow(2).mean().sqrt().clamp(min=1e-12)


class Sparsifier:
    """No penalty: training is dense and only the final threshold search prunes.

    Subclasses override what they need. ``penalty`` is a relaxed count of nonzero
    weights (one unit per weight that is surely kept), so that alpha prices it in
    bits per byte.
    """

    def __init__(self, model: ByteTransformer, steps: int):
        self.layers: dict[str, QLinear] = model.named_weights()
        self.steps = steps

    def parameters(self) -> list[torch.Tensor]:
        """Extra trainable tensors (gates, shadow weights) for the main optimizer."""
        return []

    def start(self, first: int, last: int):
        """Called when the regularized phase, steps first..last-1, begins (after the prelude)."""
        self.first, self.last = first, last

    def progress(self, step: int) -> float:
        """Fraction of the regularized phase done after ``step``."""
        return (step + 1 - self.first) / max(1, self.last - self.first)

    def penalty(self) -> torch.Tensor:
        return torch.zeros(())

    def after_step(self, step: int):
        """Projections and pruning schedules, after each optimizer step of the regularized phase."""

    @torch.no_grad()
    def scores(self) -> dict[str, torch.Tensor]:
        """Per weight: how much it deserves to be kept, on a scale comparable across tensors
        (the final threshold is global). Zero means pruned already."""
        return {name: (layer.weight * layer.mask).abs() / rms(layer.weight * layer.mask) for name, layer in self.layers.items()}

    def finish(self):
        """Fold whatever the method keeps beside the weights (gates) into them."""


METHOD = Sparsifier
