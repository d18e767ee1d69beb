"""Float model -> integer weights: the one place where floats become the integers the archive holds."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import MdlzipError
from .float_model import ByteTransformer
from .int_model import WEIGHT_MAX, IntWeights, QTensor


def to_integer(model: ByteTransformer, steps: dict[str, tuple[int, int]] | None = None) -> IntWeights:
    """Round each weight to its quantization step and read each activation site's scale.

    The model must have been through quantization-aware training (steps set and
    sites calibrated), so its fake-quantized forward pass is what this encodes.
    ``steps`` (name -> (mant, exp)) overrides the layers' own steps, to price a
    quantization during training without switching fake-quant on.
    """
    weights = {}
    for name, layer in model.named_weights().items():
        mant, exp = steps[name] if steps else (int(v) for v in layer.step)
        if mant == 0:
            raise MdlzipError(f"{name} has no quantization step: run quantization-aware training first")
        w = (layer.weight * layer.mask).detach().double().cpu()
        values = torch.round(w * 2.0**exp / mant).long().clamp(-WEIGHT_MAX, WEIGHT_MAX).numpy()
        weights[name] = QTensor(values, mant, exp)
    act_exp = {name: int(site.exp) for name, site in model.act_sites().items()}
    return IntWeights(model.cfg, weights, act_exp)


def from_integer(w: IntWeights) -> ByteTransformer:
    """The float model that ``to_integer`` turns back into ``w``: weights on their grids, steps
    and activation scales fixed, fake quantization on (to fine-tune a prior's transformer)."""
    model = ByteTransformer(w.cfg)
    with torch.no_grad():
        for name, layer in model.named_weights().items():
            q = w.weights[name]
            layer.weight.copy_(torch.from_numpy(q.values.astype(np.float64) * q.mant * 2.0**-q.exp))
            layer.step.copy_(torch.tensor([q.mant, q.exp]))
        for name, site in model.act_sites().items():
            site.exp.fill_(w.act_exp[name])
            site.enabled = True
    return model
