"""The float byte transformer that is trained on the input.

It is built to have an exact integer twin (``int_model.py``): no biases, RMSNorm
without a gain (the next linear layer learns it), ReLU, ALiBi position bias with
power-of-two slopes over a sliding window, and fake-quantization points exactly
where the integer model rounds. Quantization-aware training switches those
points on at the end of training, so the integer model loses almost nothing.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ACT_EXP_MAX, ACT_EXP_MIN, ACT_MAX, N_TOKENS, RESID_MAX, VOCAB, ModelConfig, alibi_slopes


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return x + (torch.round(x) - x).detach()


class ActQuant(nn.Module):
    """An activation site: observes its range, then fake-quantizes to q * 2**-exp."""

    def __init__(self, lo: int, hi: int):
        super().__init__()
        self.lo, self.hi = lo, hi
        self.register_buffer("exp", torch.zeros((), dtype=torch.int64))
        self.register_buffer("amax", torch.zeros(()))
        self.observing = False
        self.enabled = False

    def calibrate(self):
        """Largest power-of-two scale whose grid still covers the observed range."""
        amax = max(float(self.amax), 1e-8)
        self.exp.fill_(min(ACT_EXP_MAX, max(ACT_EXP_MIN, math.floor(math.log2(self.hi / amax)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self.amax = torch.maximum(self.amax, x.detach().abs().max())
        if not self.enabled:
            return x
        scale = 2.0 ** int(self.exp)
        return torch.clamp(round_ste(x * scale), self.lo, self.hi) / scale


def weight_step(w: torch.Tensor, rel_step: float) -> tuple[int, int]:
    """The quantization step mant * 2**-exp (mant in 128..255) nearest to rel_step times the rms
    of w's nonzeros: the kept weights set the scale, so a pruned tensor gets the same few
    integer levels as a dense one instead of a grid as fine as its zeros are many."""
    w = w.detach()
    rms = float(w.pow(2).sum() / max(1, int(w.count_nonzero()))) ** 0.5
    step = max(rel_step * rms, 2.0**-30)
    exp = 7 - math.floor(math.log2(step))
    mant = round(step * 2.0**exp)
    if mant > 255:
        mant, exp = 128, exp - 1
    return mant, exp


class QLinear(nn.Module):
    """A bias-free linear layer whose weight can be fake-quantized to mant * 2**-exp steps."""

    def __init__(self, d_in: int, d_out: int, std: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) * std)
        self.register_buffer("step", torch.zeros(2, dtype=torch.int64))  # mant, exp; 0 = float
        self.register_buffer("mask", torch.ones(d_out, d_in))
        self.gate = None  # optional callable giving a multiplicative gate (hard-concrete sparsifier)

    def set_step(self, rel_step: float):
        self.step.copy_(torch.tensor(weight_step(self.weight * self.mask, rel_step)))

    def effective_weight(self) -> torch.Tensor:
        w = self.weight * self.mask
        if self.gate is not None:
            w = w * self.gate()
        mant, exp = (int(v) for v in self.step)
        if mant == 0:
            return w
        delta = mant * 2.0**-exp
        return round_ste(w / delta) * delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight())


class QEmbedding(QLinear):
    """An embedding table with the same quantization as QLinear; stored as (tokens, d)."""

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.effective_weight())


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-12)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, std: float):
        super().__init__()
        d, out_std = cfg.d_model, std / math.sqrt(2 * cfg.n_layer)
        self.cfg = cfg
        self.wq, self.wk, self.wv = (QLinear(d, d, std) for _ in range(3))
        self.wo = QLinear(d, d, out_std)
        self.w1 = QLinear(d, cfg.d_ff, std)
        self.w2 = QLinear(cfg.d_ff, d, out_std)
        self.attn_in, self.q, self.k, self.v, self.mlp_in = (ActQuant(-ACT_MAX, ACT_MAX) for _ in range(5))
        self.hidden = ActQuant(0, ACT_MAX)

    def attention(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        H, dh = self.cfg.n_head, self.cfg.d_head
        h = self.attn_in(rms_norm(x))
        q, k, v = (quant(lin(h)).view(B, T, H, dh).transpose(1, 2) for lin, quant in ((self.wq, self.q), (self.wk, self.k), (self.wv, self.v)))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(dh) + bias
        # The integer model rounds the attention average to v's grid.
        y = self.v(att.softmax(-1) @ v)
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.hidden(F.relu(self.w1(self.mlp_in(rms_norm(x))))))


class ByteTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        std = 0.02 * math.sqrt(768 / cfg.d_model)  # GPT-2's 0.02 at d=768, scaled to keep unit-size activations
        self.emb = nn.ModuleList(QEmbedding(cfg.d_model, N_TOKENS, 1.0 / math.sqrt(cfg.n_prev + 1)) for _ in range(cfg.n_prev + 1))
        self.blocks = nn.ModuleList(Block(cfg, std) for _ in range(cfg.n_layer))
        self.head = QLinear(cfg.d_model, VOCAB, std)
        self.resid = ActQuant(-RESID_MAX, RESID_MAX)
        self.head_in = ActQuant(-ACT_MAX, ACT_MAX)

    # The float and integer models share these names: see ModelConfig.weight_shapes/act_sites.
    def named_weights(self) -> dict[str, QLinear]:
        named = {f"emb{k}": e for k, e in enumerate(self.emb)}
        for i, b in enumerate(self.blocks):
            named.update({f"l{i}.{n}": getattr(b, n) for n in ("wq", "wk", "wv", "wo", "w1", "w2")})
        named["head"] = self.head
        return named

    def act_sites(self) -> dict[str, ActQuant]:
        sites = {"resid": self.resid}
        for i, b in enumerate(self.blocks):
            sites.update({f"l{i}.{n}": getattr(b, n) for n in ("attn_in", "q", "k", "v", "mlp_in", "hidden")})
        sites["head_in"] = self.head_in
        return sites

    @torch.no_grad()
    def start_quantization(self, sample: torch.Tensor, rel_step: float, per_pass: int | None = None):
        """Calibrate every activation site on ``sample``, fix the weight steps, switch fake-quant on.

        Sites are calibrated in order with the earlier ones already quantized, so each
        sees the rounded values the integer model will feed it. ``per_pass`` windows of
        the sample go through the model at a time (the observed maximum is the same).
        """
        for layer in self.named_weights().values():
            layer.set_step(rel_step)
        for site in self.act_sites().values():
            site.amax.zero_()
            site.observing = True
            for part in sample.split(per_pass or len(sample)):
                self(part)
            site.observing = False
            site.calibrate()
            site.enabled = True

    def attention_bias(self, T: int, device) -> torch.Tensor:
        """ALiBi bias with the sliding-window mask, shape (H, T, T)."""
        pos = torch.arange(T, device=device)
        dist = (pos[:, None] - pos[None, :]).float()
        slopes = torch.tensor([2.0**-s for s in alibi_slopes(self.cfg.n_head)], device=device)
        bias = -slopes[:, None, None] * dist
        visible = (dist >= 0) & (dist < self.cfg.window)
        return bias.masked_fill(~visible, float("-inf"))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, 256) in nats for the byte after each input token.

        ``tokens`` (B, T + n_prev) holds n_prev tokens of left context followed by the
        T input tokens; the context only feeds the previous-byte embeddings.
        """
        P = self.cfg.n_prev
        T = tokens.shape[1] - P
        x = sum(emb(tokens[:, P - k : P - k + T]) for k, emb in enumerate(self.emb))
        x = self.resid(x)
        bias = self.attention_bias(T, tokens.device)
        for block in self.blocks:
            x = self.resid(x + block.attention(x, bias))
            x = self.resid(x + block.mlp(x))
        return self.head(self.head_in(rms_norm(x)))
