"""The dense integer engine as it was before the C engine: the reference the tests compare with.

This is the previous ``mdlzip.model.int_model.IntModel``, unchanged but for its
name: torch ops on the full dense architecture, int64 and float64 where the
values need it, every partial sum of its float matmuls exact (below 2**24 in
float32, else below 2**53 in float64). It defines, with FORMAT.md, the
frequencies the archives were written with; the C engine must give the very
same integers for any weights, batch layout and thread count.
"""

from __future__ import annotations

import math

import torch

from mdlzip.model.config import ACT_MAX, BOS, RESID_MAX, alibi_slopes
from mdlzip.model.int_model import IntWeights, check_bounds
from mdlzip.model.tables import LOGIT_BITS, exp_table

NORM_FRAC_BITS = 16
_MASKED = -(1 << 40)  # a logit that no visible position can reach


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


class ReferenceEngine:
    def __init__(self, w: IntWeights, device: str | torch.device = "cpu"):
        check_bounds(w)
        cfg = w.cfg
        self.cfg, self.device = cfg, torch.device(device)
        self.e = dict(w.act_exp)
        self.table = torch.tensor(exp_table(), dtype=torch.int64, device=self.device)
        e_res = self.e["resid"]
        # Embeddings go straight to residual units, one lookup table per previous-byte offset.
        self.emb = [
            rshift_round(torch.from_numpy(w.weights[f"emb{k}"].values).to(self.device) * w.weights[f"emb{k}"].mant, w.weights[f"emb{k}"].exp - e_res)
            for k in range(cfg.n_prev + 1)
        ]
        # Linear layers: transposed float copies for exact matmuls, plus the integer scale.
        self.lin = {name: (_exact_float(torch.from_numpy(q.values), q.values.shape[1] * ACT_MAX).to(self.device).T.contiguous(), q.mant, q.exp) for name, q in w.weights.items() if not name.startswith("emb")}
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
