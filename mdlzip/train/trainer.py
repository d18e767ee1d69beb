"""Training the byte transformer on the very input it will code.

The loop samples windows of the input, minimizes cross-entropy with AdamW
(linear warm-up, cosine decay) and, for the last part of the run, trains
quantization-aware: activation sites are calibrated, weight steps fixed and
every forward pass rounds exactly where the integer model will. The budget is a
number of steps fixed by the plan, never a wall-clock time, so a run is
deterministic given the seed, the device and the thread count.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..model.config import BOS, N_TOKENS, ModelConfig
from ..model.float_model import ByteTransformer


@dataclass(frozen=True)
class TrainPlan:
    steps: int = 1000
    batch: int = 8
    seq_len: int = 256
    lr: float = 2e-3
    warmup: float = 0.03  # fraction of steps
    qat_from: float = 0.85  # fraction of steps after which training is quantization-aware
    weight_decay: float = 0.01
    rel_step: float = 0.4  # weight quantization step relative to each tensor's rms
    seed: int = 0


@dataclass
class TrainResult:
    model: ByteTransformer
    float_bpb: float  # fake-quant-free estimate just before quantization-aware training
    qat_bpb: float  # mean training loss over the last 5% of steps, in bits per byte
    seconds: float
    steps: int


class ByteWindows:
    """Random windows of the input: model inputs (with n_prev bytes of left context) and targets."""

    def __init__(self, data: bytes, n_prev: int, seq_len: int, device):
        raw = torch.from_numpy(np.frombuffer(data, dtype=np.uint8).astype(np.int64))
        # Input token t is byte t-1 (BOS before the start), preceded by n_prev BOS of context.
        self.inputs = torch.cat([torch.full((n_prev + 1,), BOS, dtype=torch.int64), raw[:-1]]).to(device)
        self.targets = raw.to(device)
        self.n_prev, self.seq_len = n_prev, min(seq_len, len(data))
        self.device = device

    def sample(self, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        L, P = self.seq_len, self.n_prev
        starts = torch.randint(0, len(self.targets) - L + 1, (batch,), generator=gen).to(self.device)
        offs = torch.arange(L + P, device=self.device)
        x = self.inputs[starts[:, None] + offs]
        y = self.targets[starts[:, None] + offs[:L]]
        return x, y


def bits_per_byte(model: ByteTransformer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)) / math.log(2)


def train(
    data: bytes,
    cfg: ModelConfig,
    plan: TrainPlan,
    device: torch.device,
    progress: Optional[Callable[[int, int, dict], None]] = None,
) -> TrainResult:
    torch.manual_seed(plan.seed)
    gen = torch.Generator().manual_seed(plan.seed)
    model = ByteTransformer(cfg).to(device)
    # Byte values absent from the input are never an input token: their embedding rows
    # are dead weight, so they are masked to zero and cost nothing to store.
    present = torch.zeros(N_TOKENS, dtype=torch.bool)
    present[torch.from_numpy(np.unique(np.frombuffer(data, dtype=np.uint8)).astype(np.int64))] = True
    present[BOS] = True
    for emb in model.emb:
        emb.mask.copy_(present[:, None].float().expand_as(emb.mask))
    windows = ByteWindows(data, cfg.n_prev, plan.seq_len, device)

    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and not n.startswith("emb")]
    rest = [p for n, p in model.named_parameters() if not (p.dim() == 2 and not n.startswith("emb"))]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": plan.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=plan.lr,
        betas=(0.9, 0.98),
    )
    warm = max(1, int(plan.warmup * plan.steps))
    qat_step = int(plan.qat_from * plan.steps)
    float_bpb, tail, recent = float("nan"), [], []
    start = time.monotonic()
    for step in range(plan.steps):
        if step == qat_step:
            float_bpb = float(np.mean(recent[-50:])) if recent else float("nan")
            x, _ = windows.sample(min(64, 8 * plan.batch), gen)
            model.start_quantization(x, plan.rel_step)
        frac = step / plan.steps
        lr = plan.lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = windows.sample(plan.batch, gen)
        loss = bits_per_byte(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = loss.item()
        recent.append(value)
        if step >= plan.steps - max(1, plan.steps // 20):
            tail.append(value)
        if progress and (step % 10 == 0 or step == plan.steps - 1):
            progress(step + 1, plan.steps, {"bpb": float(np.mean(recent[-50:])), "qat": step >= qat_step})
    if qat_step >= plan.steps:  # too few steps for a separate phase: quantize at the end
        x, _ = windows.sample(min(64, 8 * plan.batch), gen)
        model.start_quantization(x, plan.rel_step)
    model.eval()
    return TrainResult(model, float_bpb, float(np.mean(tail)), time.monotonic() - start, plan.steps)
