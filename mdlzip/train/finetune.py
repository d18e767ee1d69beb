"""Fine-tuning a prior's transformer on the input: the archive stores only the change.

The two-part code of a fine-tuned model is the data's codelength plus the
delta's: a weight left where the prior put it costs nothing. So the objective
is cross-entropy plus alpha times a smooth l0 count of the changed weights
(DRR on the delta, with each tensor's quantization step as the scale: a change
of one step counts about 0.63 of a weight), alpha being the measured bits per
nonzero delta over the input length. The weights stay on the prior's grids and
the activations on its scales throughout, so the delta is an exact integer.
At the end a threshold on |delta| (in steps) is chosen by total codelength,
smallest first among equals, and everything below it goes back to the prior.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch

from ..coding import weight_codec
from ..model.convert import from_integer, to_integer
from ..model.int_model import IntWeights, QTensor
from ..prior import delta_of
from .plan import TrainPlan
from .trainer import ByteWindows, bits_per_byte

_THRESHOLDS = (1, 2, 3, 4, 6, 8, 12, 16, 1 << 20)  # the last keeps nothing: the prior as it is
_START_BITS_PER_NONZERO = 16.0


def _delta_bits(delta: IntWeights) -> tuple[float, int]:
    stats = weight_codec.measure(delta)
    return sum(s.mask_bits + s.value_bits for s in stats), sum(s.nonzero for s in stats)


def finetune(
    data: bytes,
    base: IntWeights,
    plan: TrainPlan,
    device: torch.device,
    progress: Optional[Callable[[int, int, dict], None]] = None,
) -> IntWeights:
    """The prior's weights plus the delta that minimizes the estimated two-part codelength."""
    torch.manual_seed(plan.seed)
    gen = torch.Generator().manual_seed(plan.seed)
    model = from_integer(base).to(device)
    layers = model.named_weights()
    anchor = {n: l.weight.detach().clone() for n, l in layers.items()}
    scale = {n: float(l.step[0]) * 2.0 ** -int(l.step[1]) for n, l in layers.items()}
    windows = ByteWindows(data, base.cfg.n_prev, plan.seq_len, device)
    opt = torch.optim.AdamW([l.weight for l in layers.values()], lr=plan.lr / 4, betas=(0.9, 0.98), weight_decay=0.0)
    alpha = _START_BITS_PER_NONZERO / len(data)
    remeasure = max(1, plan.steps // 8)

    def penalty() -> torch.Tensor:
        return sum((1 - torch.exp(-(l.weight - anchor[n]).abs() / scale[n])).sum() for n, l in layers.items())

    model.train()
    for step in range(plan.steps):
        if step and step % remeasure == 0:
            bits, nonzero = _delta_bits(delta_of(base, to_integer(model)))
            if nonzero:
                alpha = bits / nonzero / len(data)
        frac = step / plan.steps
        for group in opt.param_groups:
            group["lr"] = plan.lr / 4 * 0.5 * (1 + math.cos(math.pi * frac))
        x, y, _ = windows.sample(plan.batch, gen)
        loss = bits_per_byte(model, x, y)
        opt.zero_grad(set_to_none=True)
        (loss + alpha * penalty()).backward()
        torch.nn.utils.clip_grad_norm_([l.weight for l in layers.values()], 1.0)
        opt.step()
        if progress and (step % 10 == 0 or step == plan.steps - 1):
            progress(step + 1, plan.steps, {"bpb": loss.item(), "phase": "fine-tune"})
    model.eval()
    return _cheapest_delta(model, base, windows, gen, len(data))


@torch.no_grad()
def _cheapest_delta(model, base: IntWeights, windows: ByteWindows, gen: torch.Generator, n: int) -> IntWeights:
    """The base plus the deltas of at least some threshold, the threshold chosen by total bits."""
    tuned = to_integer(model)
    full = delta_of(base, tuned)
    x, y, _ = windows.sample(48, gen)
    layers = model.named_weights()
    best = None
    for threshold in _THRESHOLDS:
        kept = {name: QTensor(d.values * (np.abs(d.values) >= threshold), d.mant, d.exp) for name, d in full.weights.items()}
        delta = IntWeights(base.cfg, kept, dict(base.act_exp))
        for name, layer in layers.items():
            q = base.weights[name]
            layer.weight.copy_(torch.from_numpy((q.values + kept[name].values) * q.mant * 2.0**-q.exp))
        total = _delta_bits(delta)[0] + float(bits_per_byte(model, x, y)) * n
        if best is None or total < best[0]:
            best = (total, delta)
    delta = best[1]
    weights = {name: QTensor(q.values + delta.weights[name].values, q.mant, q.exp) for name, q in base.weights.items()}
    return IntWeights(base.cfg, weights, dict(base.act_exp))
