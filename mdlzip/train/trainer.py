"""Training the byte transformer on the very input it will code.

The loop samples windows of the input, minimizes the data's codelength with AdamW
(linear warm-up, cosine decay) and, for the last part of the run, trains
quantization-aware: activation sites are calibrated, weight steps fixed and
every forward pass rounds exactly where the integer model will. The budget is a
number of steps fixed by the plan, never a wall-clock time, so a run is
deterministic given the seed, the device and the thread count.

When the coder will mix the transformer with the side models, the codelength
trained and priced is that of their mixture, not the transformer's alone: the
side models already code most of text well, and a weight pays only for what it
adds to them. Then the training also stops where the transformer cannot pay: at the
end of pruning, if the model kept does not beat the side models alone by the
two-part estimate (its weights' bits and the data's codelength on windows of the
input held out of training, against the side models' own codelength there), the
quantization-aware phase is not run, and the encoder does not code a candidate that
would lose (``TrainResult.stopped``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..coding.data_coder import segment_lengths
from ..model.config import BOS, N_TOKENS, VOCAB, ModelConfig
from ..coding import weight_codec
from ..coding.adaptive.logistic import P16_ONE
from ..model.convert import to_integer
from ..model.float_model import ByteTransformer, weight_step
from ..errors import MdlzipError
from . import sparsity
from .distributed import Group
from .plan import TrainPlan
from .sparsity import tamade
from .sparsity.base import Sparsifier


# The float model's codelengths reported with the archive are measured on at most this many bytes
# of the input, evenly spread: at 4 MiB a whole pass cost more than the training itself.
EVAL_BYTES = 1 << 17
# Windows held out of training to judge whether the model kept pays (at most one in HELD_SHARE
# of the input): on linux-4MiB the training sample's estimate, 48 windows the model had trained
# on, said a model paid that coded the input 275 bytes larger than the side models alone.
HELD_WINDOWS, HELD_SHARE = 256, 16
# malloc maps a tensor beyond a few MiB afresh at every allocation, a page fault per 4 KiB: the
# passes without gradients (pricing, calibration, evaluation) take a few windows at a time so
# that their attention matrices (heads x T x T floats a window) stay within this. Measured on 48
# windows of 256: 30 times the page faults and twice the CPU time of 8 windows at a time.
ATTENTION_BYTES = 8 << 20


def windows_per_pass(cfg: ModelConfig, tokens: int) -> int:
    return max(1, ATTENTION_BYTES // (4 * cfg.n_head * tokens * tokens))


@dataclass
class TrainResult:
    model: ByteTransformer
    float_bpb: float  # the float model's codelength of the input (up to EVAL_BYTES of it) before pruning and quantization (nan if not measured)
    final_bpb: float  # the same for the final pruned model with fake quantization, what the integer model approximates
    qat_bpb: float  # mean data term of the objective over the last 5% of steps, in bits per byte
    seconds: float
    steps: int
    bits_per_nonzero: float  # the price of a weight the model-size term used last
    rel_step: float  # the quantization step chosen
    mix: tuple[float, float] = (1.0, 1.0)  # the weights of the transformer's and the side models' logits in the mixture trained
    # Set where the training stopped because the model kept cannot pay: by how many bytes its two-part
    # estimate (model + data) exceeds the side models' own (infinite: it kept no weight).
    stopped: Optional[float] = None


def _tokens(raw: np.ndarray, first: np.ndarray, floor: np.ndarray, width: int) -> torch.Tensor:
    """(B, width) input tokens: bytes first[b] .. first[b] + width - 1 of ``raw``, BOS for those before floor[b]
    (the start of their segment). Only the windows asked for are widened to int64."""
    idx = first[:, None] + np.arange(width)
    return torch.from_numpy(np.where(idx >= floor[:, None], raw[np.maximum(idx, 0)].astype(np.int64), BOS))


def _present(raw: np.ndarray) -> np.ndarray:
    """Which byte values occur, counted a slice at a time: bincount widens its input to int64."""
    counts = np.zeros(VOCAB, dtype=np.int64)
    for i in range(0, len(raw), 1 << 20):
        counts += np.bincount(raw[i : i + (1 << 20)], minlength=VOCAB)
    return counts > 0


# The side models' logit (nats) of a bit for each of their 16-bit probabilities: a table, so that the
# (n, 8) probabilities stay as they come (uint16) and only the windows drawn become float.
with np.errstate(divide="ignore"):
    _P16 = np.arange(P16_ONE, dtype=np.float32)
    _SIDE_LOGIT = np.log(_P16 / (P16_ONE - _P16))
del _P16


class ByteWindows:
    """Random windows of the input: model inputs (with n_prev bytes of left context), targets and,
    when given, the side models' logit (nats) of each bit of each target.

    Holds the input and the side models' probabilities as given (uint8 and uint16, no copies), so
    memory and the work of a draw follow the batch, not the input.
    """

    def __init__(self, data: bytes, n_prev: int, seq_len: int, device, side_probs: Optional[np.ndarray] = None, held: int = 0):
        self.raw = np.frombuffer(data, dtype=np.uint8)
        self.side = side_probs
        self.n_prev, self.seq_len = n_prev, min(seq_len, len(data))
        self.device = device
        # ``held`` windows evenly spread, whose bytes no drawn window's targets include
        span = len(self.raw) - self.seq_len
        self.held = np.array([(2 * k + 1) * span // (2 * held) for k in range(held)], dtype=np.int64)

    def _starts(self, batch: int, gen: torch.Generator) -> np.ndarray:
        """Window starts drawn from ``gen``, those that would overlap a held window drawn again."""
        L = self.seq_len
        starts = torch.randint(0, len(self.raw) - L + 1, (batch,), generator=gen).numpy()
        while len(self.held):
            clash = (np.abs(starts[:, None] - self.held[None, :]) < L).any(axis=1)
            if not clash.any():
                break
            starts[clash] = torch.randint(0, len(self.raw) - L + 1, (int(clash.sum()),), generator=gen).numpy()
        return starts

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        return self._windows(self.held)

    def sample(self, batch: int, gen: torch.Generator, share: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """``batch`` windows drawn from ``gen``, of which ``share`` is made (a rank's part of a batch)."""
        return self._windows(self._starts(batch, gen)[share])

    def _windows(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        L, P = self.seq_len, self.n_prev
        # Input token t is byte t - 1 (BOS before the start), preceded by n_prev tokens of context.
        x = _tokens(self.raw, starts - P - 1, np.zeros_like(starts), L + P)
        targets = starts[:, None] + np.arange(L)
        y = torch.from_numpy(self.raw[targets].astype(np.int64))
        side = None if self.side is None else torch.from_numpy(_SIDE_LOGIT[self.side[targets]]).to(self.device)
        return x.to(self.device), y.to(self.device), side


def bits_per_byte(
    model: ByteTransformer, x: torch.Tensor, y: torch.Tensor, side: Optional[torch.Tensor] = None, mix: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """The mean codelength of the targets in bits: under the transformer alone, or with ``side``
    (the side models' logit of each bit that occurred) under their logistic mixture, bit by bit
    as the coder mixes them: P(bit) = sigmoid(mix[0] * transformer logit + mix[1] * side logit).

    It needs only the side models' view of the bits that occurred, and its gradient
    vanishes where they are already right and sure: the transformer spends its weights
    on what they miss, which is all it can add to the coder.
    """
    logits = model(x)
    if side is None:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)) / math.log(2)
    logp, cost = F.log_softmax(logits, -1), 0.0
    for j in range(8):
        # Log-masses of the 2**(j+1) nodes at depth j+1 of the bit tree; the logit of the bit
        # that occurred is its node's log-mass minus its sibling's.
        nodes = torch.logsumexp(logp.unflatten(-1, (2 << j, 128 >> j)), -1)
        node = (y >> (7 - j)).unsqueeze(-1)
        logit = (nodes.gather(-1, node) - nodes.gather(-1, node ^ 1)).squeeze(-1)
        cost = cost + F.softplus(-(mix[0] * logit + mix[1] * side[..., j]))
    return cost.mean() / math.log(2)


@torch.no_grad()
def evaluate_bpb(model: ByteTransformer, data: bytes, streams: int, chunk: int = 256, max_bytes: Optional[int] = None) -> float:
    """The float model's ideal codelength of the input in the coding layout, in bits per byte.

    Segments start from BOS exactly as the data coder's do; they are cut into
    chunks that carry window - 1 positions of left context, so every position
    sees what it would see when coded. With ``max_bytes``, only that many bytes'
    worth of chunks, evenly spread over the input, are measured: an estimate whose
    cost does not grow with the input. Short chunks keep the attention matrices
    (chunk + window)^2 small.
    """
    cfg, device = model.cfg, next(model.parameters()).device
    P, W = cfg.n_prev, cfg.window
    raw = np.frombuffer(data, dtype=np.uint8)
    lengths = segment_lengths(len(data), streams)
    # (segment start, chunk start, chunk end) in bytes; the context starts W - 1 before, within the segment.
    chunks = [(a, a + t0, a + min(length, t0 + chunk)) for a, length in zip(np.cumsum([0] + lengths[:-1]).tolist(), lengths) for t0 in range(0, length, chunk)]
    if max_bytes is not None and len(chunks) * chunk > max_bytes:
        keep = max(1, max_bytes // chunk)
        chunks = [chunks[i * len(chunks) // keep] for i in range(keep)]
    # Chunks of the same context and target lengths go through the model together.
    shapes: dict[tuple[int, int], list] = {}
    for a, t0, t1 in chunks:
        shapes.setdefault((min(W - 1, t0 - a), t1 - t0), []).append((a, t0))
    total, count = 0.0, 0
    for (context, length), alike in shapes.items():
        k = windows_per_pass(cfg, context + length)
        for b in range(0, len(alike), k):
            seg, start = (np.array(v, dtype=np.int64) for v in zip(*alike[b : b + k]))
            x = _tokens(raw, start - context - P - 1, seg, context + length + P).to(device)
            y = torch.from_numpy(raw[start[:, None] + np.arange(length)].astype(np.int64)).to(device)
            logits = model(x)[:, context:]
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
            count += y.numel()
    return total / math.log(2) / max(1, count)


class Pricer:
    """Prices a model in bits: the weights with the weight codec's own models, the data on a fixed sample.

    Used for the MDL objective's alpha (bits per nonzero weight) and for choosing
    the final mask and quantization step by total codelength.
    """

    def __init__(self, model: ByteTransformer, windows: "ByteWindows", n_bytes: int, gen: torch.Generator, mix: torch.Tensor, sample_windows: int = 48, sample: Optional[tuple] = None):
        self.model, self.n_bytes, self.mix = model, n_bytes, mix
        self.x, self.y, self.side = sample if sample is not None else windows.sample(sample_windows, gen)

    def _steps(self, rel_step: float) -> dict[str, tuple[int, int]]:
        return {n: weight_step(l.weight * l.mask, rel_step) for n, l in self.model.named_weights().items()}

    def model_bits(self, rel_step: float) -> tuple[float, int]:
        """(bits of the model section, nonzero weights) if quantized with this step now."""
        w = to_integer(self.model, self._steps(rel_step))
        stats = weight_codec.measure(w)
        return sum(s.mask_bits + s.value_bits for s in stats) + 8 * weight_codec.table_bytes(w), sum(s.nonzero for s in stats)

    @torch.no_grad()
    def data_bits(self, rel_step: float) -> float:
        """The input's codelength estimated from the sample, with the weights quantized."""
        layers = self.model.named_weights()
        saved = {n: l.step.clone() for n, l in layers.items()}
        for n, step in self._steps(rel_step).items():
            layers[n].step.copy_(torch.tensor(step))
        try:
            k = windows_per_pass(self.model.cfg, self.x.shape[1])
            parts = [(i, min(len(self.x), i + k)) for i in range(0, len(self.x), k)]
            side = [None] * len(parts) if self.side is None else [self.side[a:b] for a, b in parts]
            bits = sum(float(bits_per_byte(self.model, self.x[a:b], self.y[a:b], s, self.mix)) * (b - a) for (a, b), s in zip(parts, side))
            return bits / len(self.x) * self.n_bytes
        finally:
            for n, l in layers.items():
                l.step.copy_(saved[n])

    def total_bits(self, rel_step: float) -> float:
        return self.model_bits(rel_step)[0] + self.data_bits(rel_step)

    def side_bits(self) -> float:
        """The input's codelength under the side models alone, estimated from the same sample
        (which makes the difference from ``data_bits`` far steadier than either)."""
        return float(F.softplus(-self.side).sum()) / math.log(2) / len(self.x) / self.side.shape[1] * self.n_bytes


def _loses_by(judge: Pricer, rel_step: float) -> float:
    """Bytes by which the model as it stands codes the input larger than the side models alone, by
    the judge's estimate; infinite where it kept no weight."""
    bits, nonzero = judge.model_bits(rel_step)
    return (bits + judge.data_bits(rel_step) - judge.side_bits()) / 8 if nonzero else math.inf


@torch.no_grad()
def choose_mask_and_step(model: ByteTransformer, sparsifier: Sparsifier, pricer: Pricer, plan: TrainPlan) -> float:
    """TAMADE by codelength over the sparsifier's scores, then the cheapest quantization step.

    Leaves the mask applied to the weights; returns the chosen relative step.
    """
    layers = model.named_weights()
    scores = sparsifier.scores()
    base = {n: l.mask.clone() for n, l in layers.items()}

    def total(threshold: float) -> float:
        for n, l in layers.items():
            l.mask.copy_(base[n] * (scores[n] > threshold))
        return pricer.total_bits(plan.rel_step)

    threshold = tamade.search(total, max(float(v.max()) for v in scores.values()))[0] if plan.tamade else 0.0
    total(threshold)
    for l in layers.values():
        l.weight.mul_(l.mask)
    return min(plan.rel_steps, key=pricer.total_bits)


def penalty_weight(plan: TrainPlan, step: int, first: int, prune: int) -> float:
    """The multiple of alpha that prices the weights at ``step`` of the regularized phase
    (steps first..prune-1): ``plan.penalty_scale``, reached by a linear continuation over the
    first ``plan.ramp`` of the phase, so that the model leaves the dense solution gradually."""
    span = plan.ramp * (prune - first)
    rise = 1.0 if span < 1 else min(1.0, (step - first + 1) / span)
    return plan.penalty_scale * rise


def train(
    data: bytes,
    cfg: ModelConfig,
    plan: TrainPlan,
    device: torch.device,
    progress: Optional[Callable[[int, int, dict], None]] = None,
    streams: Optional[int] = None,
    side_probs: Optional[np.ndarray] = None,
    group: Optional[Group] = None,
) -> TrainResult:
    """Train on ``data`` minimizing the two-part codelength per byte.

    Phases: a prelude of plain cross-entropy; then cross-entropy plus alpha times
    the sparsifier's penalty, alpha being the measured bits per nonzero weight over
    the input length (re-measured as the model thins out); then the final mask
    and quantization step by total codelength, and masked quantization-aware
    training to the end. With ``streams``, the float model's codelength in that
    coding layout is measured (on up to EVAL_BYTES of the input) just before
    quantization and at the end (reported, never stored as a float). With
    ``side_probs`` (``coding.adaptive.side_bit_probs``) and ``plan.mixture``, the data term is the codelength of the logistic mixture with
    the side models (mixing weights learned too): the transformer is priced by
    what it adds to them, as the coder will use it. With ``group`` (torchrun's
    processes, ``distributed.join``) every rank trains on its share of each batch.
    """
    group = group or Group(device)
    if plan.batch < group.world:
        raise MdlzipError(f"a batch of {plan.batch} windows cannot be shared by {group.world} processes")
    torch.manual_seed(plan.seed)
    gen = torch.Generator().manual_seed(plan.seed)
    model = ByteTransformer(cfg).to(device)
    # Byte values absent from the input are never an input token: their embedding rows
    # are dead weight, so they are masked to zero and cost nothing to store.
    present = torch.zeros(N_TOKENS, dtype=torch.bool)
    present[:VOCAB] = torch.from_numpy(_present(np.frombuffer(data, dtype=np.uint8)))
    present[BOS] = True
    for emb in model.emb:
        emb.mask.copy_(present[:, None].float().expand_as(emb.mask))
    group.broadcast_model(model)
    judging = side_probs is not None and plan.mixture and plan.stop_early
    held = min(HELD_WINDOWS, len(data) // (HELD_SHARE * plan.seq_len)) if judging else 0
    windows = ByteWindows(data, cfg.n_prev, plan.seq_len, device, side_probs if plan.mixture else None, held)
    mix = torch.ones(2, device=device, requires_grad=True)
    pricer = Pricer(model, windows, len(data), gen, mix)
    judge = Pricer(model, windows, len(data), gen, mix, sample=windows.held_out()) if held else None
    sparsifier = sparsity.make(plan.sparsifier, model, plan.steps)

    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and not n.startswith("emb")]
    rest = [p for n, p in model.named_parameters() if not (p.dim() == 2 and not n.startswith("emb"))]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": plan.weight_decay}, {"params": rest + [mix], "weight_decay": 0.0}],
        lr=plan.lr,
        betas=(0.9, 0.98),
    )
    warm = max(1, int(plan.warmup * plan.steps))
    first = int(plan.prelude * plan.steps)
    prune = max(first, int(plan.prune_at * plan.steps))
    remeasure = max(1, (prune - first) // 8)
    alpha, bits_per_nonzero, rel_step, loses_by, trained = 0.0, float("nan"), plan.rel_step, None, plan.steps
    float_bpb, tail, recent = float("nan"), [], []
    start = time.monotonic()

    def price_a_weight() -> float:
        nonlocal bits_per_nonzero
        bits, nonzero = pricer.model_bits(plan.rel_step)
        bits_per_nonzero = bits / max(1, nonzero)
        return bits_per_nonzero / len(data)

    def finish_training_phase() -> bool:
        """Fixes the mask and step; False where the model kept cannot pay (then nothing else is done)."""
        nonlocal float_bpb, rel_step, loses_by
        sparsifier.finish()
        model.eval()
        if streams:
            float_bpb = evaluate_bpb(model, data, streams, max_bytes=EVAL_BYTES)
        rel_step = choose_mask_and_step(model, sparsifier, pricer, plan)
        if judge is not None:
            # Every rank stops or none: rank 0's estimate decides. A mask that kept no weight leaves
            # no model at all, whatever the mixing weights make of the side models' logits.
            margin = np.array([_loses_by(judge, rel_step)], dtype=np.float64) if group.leader else None
            margin = float(group.broadcast_array(margin, (1,), np.float64)[0])
            if margin >= 0:
                loses_by = margin
                return False
        x = windows.sample(min(64, 8 * plan.batch), gen)[0]
        model.start_quantization(x, rel_step, windows_per_pass(cfg, x.shape[1]))
        group.broadcast_model(model)
        model.train()
        return True

    for step in range(plan.steps):
        if step == first and first < prune:
            sparsifier.start(first, prune)
            if sparsifier.parameters():
                opt.add_param_group({"params": sparsifier.parameters(), "weight_decay": 0.0})
        regularized = first <= step < prune
        if regularized and (step - first) % remeasure == 0:
            alpha = price_a_weight()
        if step == prune and not finish_training_phase():
            trained = step
            break
        frac = step / plan.steps
        lr = plan.lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y, side = windows.sample(plan.batch, gen, group.share(plan.batch))
        part = group.part(bits_per_byte(model, x, y, side, mix), plan.batch)
        # Every rank adds the penalty's 1/world: summed over the ranks it counts once.
        price = alpha * penalty_weight(plan, step, first, prune)
        objective = part + price / group.world * sparsifier.penalty() if regularized else part
        opt.zero_grad(set_to_none=True)
        objective.backward()
        loss = group.sum_gradients([p for g in opt.param_groups for p in g["params"]], part)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if regularized:
            sparsifier.after_step(step)
        value = loss.item()
        recent.append(value)
        if step >= plan.steps - max(1, plan.steps // 20):
            tail.append(value)
        if progress and (step % 10 == 0 or step == plan.steps - 1):
            progress(step + 1, plan.steps, {"bpb": float(np.mean(recent[-50:])), "phase": "qat" if step >= prune else "sparsify" if regularized else "dense"})
    if prune >= plan.steps:  # too few steps for a separate phase: choose the mask and quantize at the end
        finish_training_phase()
    model.eval()
    weights = tuple(float(v) for v in mix.detach().cpu()) if windows.side is not None else (1.0, 1.0)
    if loses_by is not None:
        return TrainResult(model, float_bpb, float("nan"), float("nan"), time.monotonic() - start, trained, bits_per_nonzero, rel_step, weights, loses_by)
    group.check_same(model)
    final_bpb = evaluate_bpb(model, data, streams, max_bytes=EVAL_BYTES) if streams else float("nan")
    return TrainResult(model, float_bpb, final_bpb, float(np.mean(tail)), time.monotonic() - start, plan.steps, bits_per_nonzero, rel_step, weights)
