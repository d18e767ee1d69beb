"""The integer-exact byte transformer that the data coder trusts.

Every value here is an integer: weights are ``values * mant * 2**-exp``, each
activation site has a power-of-two scale, and the arithmetic is integer
multiply, shift with round-half-up, integer square root and an exp lookup table.
Matmuls run on integer-valued floats whose every partial sum stays exactly
representable (below 2**24 in float32, which is chosen per layer where the
weights allow it, else below 2**53 in float64), so they are exact in any
summation order: the result is the same on any machine, thread count, batch
layout, CPU or GPU.

One engine serves both evaluation orders. ``IntModel.run`` takes a chunk of C
time steps for S streams in lock-step; the encoder feeds long chunks, the decoder
feeds C = 1 and keeps the attention keys in a ring buffer. Both see identical
integers, which the tests check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import MdlzipError
from .config import ACT_EXP_MAX, ACT_EXP_MIN, ACT_MAX, BOS, RESID_MAX, ModelConfig, alibi_slopes
from .tables import LOGIT_BITS, exp_table

NORM_FRAC_BITS = 16  # extra precision of the RMSNorm constant
# Ranges a valid model stays in; they keep every intermediate below 2**62.
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -8, 40
WEIGHT_MAX = (1 << 15) - 1
_MASKED = -(1 << 40)  # a logit that no visible position can reach


@dataclass
class QTensor:
    """An integer weight tensor: real value = values * mant * 2**-exp."""

    values: torch.Tensor  # int64
    mant: int
    exp: int


@dataclass
class IntWeights:
    """Everything the integer model needs; what the archive's model section holds."""

    cfg: ModelConfig
    weights: dict[str, QTensor]
    act_exp: dict[str, int]  # activation site -> power-of-two scale exponent


def rshift_round(x: torch.Tensor, shift: int) -> torch.Tensor:
    """x * 2**-shift rounded half up (exact for any sign of shift)."""
    if shift <= 0:
        return x * (1 << -shift)
    return (x + (1 << (shift - 1))) >> shift


def div_round(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a / b rounded half up, for b > 0."""
    return torch.div(2 * a + b, 2 * b, rounding_mode="floor")


def isqrt(n: torch.Tensor) -> torch.Tensor:
    """floor(sqrt(n)) for int64 n >= 0 below 2**52: float64 sqrt, then integer correction."""
    s = torch.sqrt(n.double()).long()
    s = s - (s * s > n).long()
    return s + ((s + 1) * (s + 1) <= n).long()


def _exact_float(values: torch.Tensor, in_bound: int) -> torch.Tensor:
    """values as float32 if every product sum with inputs up to in_bound stays below 2**24, else float64."""
    vmax = int(values.abs().max()) if values.numel() else 0
    return values.float() if in_bound * vmax < 1 << 24 else values.double()


def check_bounds(w: IntWeights):
    """Reject weights whose arithmetic could leave int64 or the exact float64 range.

    Honest archives are far inside these bounds; a hostile one must fail here,
    not wrap around silently later.
    """
    cfg, e = w.cfg, w.act_exp
    if set(e) != set(cfg.act_sites()) or not all(ACT_EXP_MIN <= v <= ACT_EXP_MAX for v in e.values()):
        raise MdlzipError("invalid model: bad activation scales")
    inputs = {"wq": "attn_in", "wk": "attn_in", "wv": "attn_in", "wo": "v", "w1": "mlp_in", "w2": "hidden"}
    outputs = {"wq": "q", "wk": "k", "wv": "v", "wo": "resid", "w1": "hidden", "w2": "resid"}
    for name, q in w.weights.items():
        vmax = int(q.values.abs().max()) if q.values.numel() else 0
        if not (1 <= q.mant <= 255 and WEIGHT_EXP_MIN <= q.exp <= WEIGHT_EXP_MAX and vmax <= WEIGHT_MAX):
            raise MdlzipError(f"invalid model: bad scale or range in {name}")
        if name.startswith("emb"):
            continue
        if name == "head":
            in_exp, out_exp = e["head_in"], LOGIT_BITS
        else:
            layer, kind = name.split(".")
            in_exp, out_exp = e[f"{layer}.{inputs[kind]}"], (e[f"{layer}.{outputs[kind]}"] if outputs[kind] != "resid" else e["resid"])
        acc = q.values.shape[1] * ACT_MAX * vmax
        if acc >= 1 << 53 or (acc * q.mant) << max(0, out_exp - in_exp - q.exp) >= 1 << 62:
            raise MdlzipError(f"invalid model: {name} would overflow")


class AttentionCache:
    """The last ``window`` keys and values of one layer, as a ring buffer indexed by position % window."""

    def __init__(self, S: int, H: int, window: int, d_head: int, device):
        # Scores q.k stay below d_head * 127^2 < 2^24: float32 is exact. The attention
        # average p.v reaches 2^16 * 127 * window: float64.
        self.k = torch.zeros(S, H, window, d_head, dtype=torch.float32, device=device)
        self.v = torch.zeros(S, H, window, d_head, dtype=torch.float64, device=device)
        self.pos = torch.full((window,), -(1 << 40), dtype=torch.int64, device=device)  # empty slots are far away

    def store(self, k: torch.Tensor, v: torch.Tensor, pos: torch.Tensor):
        W = self.pos.numel()
        k, v, pos = k[:, :, -W:], v[:, :, -W:], pos[-W:]
        slots = pos % W
        self.k[:, :, slots] = k
        self.v[:, :, slots] = v
        self.pos[slots] = pos


class IntModel:
    def __init__(self, w: IntWeights, device: str | torch.device = "cpu"):
        check_bounds(w)
        cfg = w.cfg
        self.cfg, self.device = cfg, torch.device(device)
        self.e = dict(w.act_exp)
        self.table = torch.tensor(exp_table(), dtype=torch.int64, device=self.device)
        e_res = self.e["resid"]
        # Embeddings go straight to residual units, one lookup table per previous-byte offset.
        self.emb = [
            rshift_round(w.weights[f"emb{k}"].values.to(self.device) * w.weights[f"emb{k}"].mant, w.weights[f"emb{k}"].exp - e_res)
            for k in range(cfg.n_prev + 1)
        ]
        # Linear layers: transposed float copies for exact matmuls, plus the integer scale.
        self.lin = {name: (_exact_float(q.values, q.values.shape[1] * ACT_MAX).to(self.device).T.contiguous(), q.mant, q.exp) for name, q in w.weights.items() if not name.startswith("emb")}
        self.slope_units = torch.tensor([1 << (LOGIT_BITS - s) for s in alibi_slopes(cfg.n_head)], device=self.device).view(1, -1, 1, 1)
        self.score_shift = [self.e[f"l{i}.q"] + self.e[f"l{i}.k"] + (cfg.d_head.bit_length() - 1) // 2 - LOGIT_BITS for i in range(cfg.n_layer)]
    def linear(self, x: torch.Tensor, name: str, in_exp: int, out_exp: int) -> torch.Tensor:
        wt, mant, exp = self.lin[name]
        acc = (x.to(wt.dtype) @ wt).long()
        return rshift_round(acc * mant, exp + in_exp - out_exp)

    def norm(self, x: torch.Tensor, out_exp: int) -> torch.Tensor:
        """RMSNorm to the int8 grid 2**-out_exp: x * sqrt(d) / sqrt(sum x^2)."""
        d = self.cfg.d_model
        root = isqrt((x * x).sum(-1, keepdim=True)).clamp(min=1) << NORM_FRAC_BITS
        c = math.isqrt(d << 2 * (out_exp + NORM_FRAC_BITS))
        return div_round(x * c, root).clamp(-ACT_MAX, ACT_MAX)

    def new_state(self, S: int) -> dict:
        cfg = self.cfg
        return {
            "t": 0,
            "prev": torch.full((S, cfg.n_prev), BOS, dtype=torch.int64, device=self.device),
            "caches": [AttentionCache(S, cfg.n_head, cfg.window, cfg.d_head, self.device) for _ in range(cfg.n_layer)],
        }

    def attention(self, i: int, h: torch.Tensor, cache: AttentionCache, pos: torch.Tensor) -> torch.Tensor:
        cfg, e = self.cfg, self.e
        S, C, _ = h.shape
        H, dh = cfg.n_head, cfg.d_head
        q, k, v = (
            self.linear(h, f"l{i}.w{n}", e[f"l{i}.attn_in"], e[f"l{i}.{n}"]).clamp(-ACT_MAX, ACT_MAX).view(S, C, H, dh).transpose(1, 2)
            for n in "qkv"
        )
        q, k, v = q.float(), k.float(), v.double()
        if C == 1:  # decoder: the new key overwrites the one that just left the window
            cache.store(k, v, pos)
            keys, values, kpos = cache.k, cache.v, cache.pos
        else:
            keys, values, kpos = torch.cat([cache.k, k], 2), torch.cat([cache.v, v], 2), torch.cat([cache.pos, pos])
            cache.store(k, v, pos)
        dist = pos[:, None] - kpos[None, :]
        visible = (dist >= 0) & (dist < cfg.window)
        z = rshift_round((q @ keys.transpose(-1, -2)).long(), self.score_shift[i]) - self.slope_units * dist
        z = z.masked_fill(~visible, _MASKED)
        u = (z.amax(-1, keepdim=True) - z).clamp(max=self.table.numel() - 1)
        p = self.table[u]
        y = div_round((p.double() @ values).long(), p.sum(-1, keepdim=True))
        return y.transpose(1, 2).reshape(S, C, -1)

    def run(self, tokens: torch.Tensor, state: dict) -> torch.Tensor:
        """Integer frequencies (S, C, 256), all >= 1, for the byte after each of ``tokens`` (S, C)."""
        cfg, e = self.cfg, self.e
        S, C = tokens.shape
        P = cfg.n_prev
        ctx = torch.cat([state["prev"], tokens], 1)
        x = sum(self.emb[k][ctx[:, P - k : P - k + C]] for k in range(P + 1)).clamp(-RESID_MAX, RESID_MAX)
        pos = torch.arange(state["t"], state["t"] + C, device=self.device)
        for i, cache in enumerate(state["caches"]):
            y = self.attention(i, self.norm(x, e[f"l{i}.attn_in"]), cache, pos)
            x = (x + self.linear(y, f"l{i}.wo", e[f"l{i}.v"], e["resid"])).clamp(-RESID_MAX, RESID_MAX)
            h = self.linear(self.norm(x, e[f"l{i}.mlp_in"]), f"l{i}.w1", e[f"l{i}.mlp_in"], e[f"l{i}.hidden"]).clamp(0, ACT_MAX)
            x = (x + self.linear(h, f"l{i}.w2", e[f"l{i}.hidden"], e["resid"])).clamp(-RESID_MAX, RESID_MAX)
        z = self.linear(self.norm(x, e["head_in"]), "head", e["head_in"], LOGIT_BITS)
        u = (z.amax(-1, keepdim=True) - z).clamp(max=self.table.numel() - 1)
        state["t"] += C
        state["prev"] = ctx[:, ctx.shape[1] - P :]
        return self.table[u].clamp(min=1)

