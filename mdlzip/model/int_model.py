"""The integer-exact byte transformer that the data coder trusts.

Every value here is an integer: weights are ``values * mant * 2**-exp``, each
activation site has a power-of-two scale, and the arithmetic is integer
multiply, shift with round-half-up, integer square root and an exp lookup table
(FORMAT.md, "The integer model", is the contract). The result is the same on
any machine, thread count and batch layout.

``IntModel`` builds the engine (``engine/``, a C extension) from the weights:

- Cost follows the kept weights. Rows, columns, neurons, heads and layers that
  are all zero are dropped; so are rows whose largest possible sum rounds to 0
  in the requantizing shift, and query/key dimensions whose scores do. Each
  dropped value is an exact zero of the dense model, so the frequencies are the
  dense model's, bit for bit. A map sparse enough (see SPARSE_COST) runs as a
  sparse product. A model whose output layer is all zero (the empty model)
  predicts uniform frequencies: its engine computes nothing else.
- Every sum of products is accumulated in int32 when the weights' and the
  activations' ranges prove that every value fits (``_Plan.narrow``; always, for
  the models mdlzip trains), else in int64.

``IntModel.run`` takes a chunk of C time steps for S streams in lock-step; the
encoder feeds long chunks, the decoder feeds C = 1. The engine runs them step
by step either way (each stream's keys sit in a ring buffer of ``window``
slots), so both see identical integers, which the tests check against the
dense reference engine (tests/reference_engine.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import os

import numpy as np

from ..errors import MdlzipError
from ._engine import Engine
from .config import ACT_EXP_MAX, ACT_EXP_MIN, ACT_MAX, VOCAB, ModelConfig, alibi_slopes
from .tables import EXP_ONE, LOGIT_BITS, exp_table

NORM_FRAC_BITS = 16  # extra precision of the RMSNorm constant
# Ranges a valid model stays in; they keep every intermediate below 2**62.
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -8, 40
WEIGHT_MAX = (1 << 15) - 1
INT32_LIMIT = 1 << 31  # an int32 engine is built only where every value it holds is proved below this
# A sparse product's multiply-add (scalar, indexed) costs about as much as this many of a dense
# one (vectorized): a map runs sparse below that density.
SPARSE_COST = 16


@dataclass
class QTensor:
    """An integer weight tensor: real value = values * mant * 2**-exp."""

    values: np.ndarray  # int64
    mant: int
    exp: int


@dataclass
class IntWeights:
    """Everything the integer model needs; what the archive's model section holds."""

    cfg: ModelConfig
    weights: dict[str, QTensor]
    act_exp: dict[str, int]  # activation site -> power-of-two scale exponent


def rshift_round(x, shift: int):
    """x * 2**-shift rounded half up (exact for any sign of shift)."""
    if shift <= 0:
        return x * (1 << -shift)
    return (x + (1 << (shift - 1))) >> shift


# Each linear map's input site, and its output site ("resid": added to the residual).
_INPUTS = {"wq": "attn_in", "wk": "attn_in", "wv": "attn_in", "wo": "v", "w1": "mlp_in", "w2": "hidden"}
_OUTPUTS = {"wq": "q", "wk": "k", "wv": "v", "wo": "resid", "w1": "hidden", "w2": "resid"}


def _exps(name: str, act_exp: dict[str, int]) -> tuple[int, int]:
    """The input and output scale exponents of a linear map."""
    if name == "head":
        return act_exp["head_in"], LOGIT_BITS
    layer, kind = name.split(".")
    out = _OUTPUTS[kind]
    return act_exp[f"{layer}.{_INPUTS[kind]}"], act_exp["resid" if out == "resid" else f"{layer}.{out}"]


def check_bounds(w: IntWeights):
    """Reject weights whose arithmetic could leave the ranges FORMAT.md allows (int64; a linear
    map's sums below 2**53, where the dense reference engine's float64 products are exact).

    Honest archives are far inside these bounds; a hostile one must fail here,
    not wrap around silently later.
    """
    cfg, e = w.cfg, w.act_exp
    if set(e) != set(cfg.act_sites()) or not all(ACT_EXP_MIN <= v <= ACT_EXP_MAX for v in e.values()):
        raise MdlzipError("invalid model: bad activation scales")
    for name, q in w.weights.items():
        vmax = int(np.abs(q.values).max()) if q.values.size else 0
        if not (1 <= q.mant <= 255 and WEIGHT_EXP_MIN <= q.exp <= WEIGHT_EXP_MAX and vmax <= WEIGHT_MAX):
            raise MdlzipError(f"invalid model: bad scale or range in {name}")
        if name.startswith("emb"):
            continue
        in_exp, out_exp = _exps(name, e)
        acc = q.values.shape[1] * ACT_MAX * vmax
        if acc >= 1 << 53 or (acc * q.mant) << max(0, out_exp - in_exp - q.exp) >= 1 << 62:
            raise MdlzipError(f"invalid model: {name} would overflow")


class _Map:
    """A linear map's live part: ``rows`` of the dense output read ``cols`` of the dense input.

    Its inputs are at most ACT_MAX in magnitude, so ``bound`` (the largest |sum * mant|
    of any live row) bounds every value before the rounding shift, ``out_bound`` after it.
    """

    def __init__(self, q: QTensor, shift: int, rows: np.ndarray | None = None, cols: np.ndarray | None = None):
        """The map restricted to ``rows`` and ``cols`` (default: all), less the rows that are always 0."""
        values = q.values
        rows = np.arange(values.shape[0]) if rows is None else rows
        cols = np.arange(values.shape[1]) if cols is None else cols
        sums = np.abs(values[np.ix_(rows, cols)]).sum(1) * ACT_MAX * q.mant
        # A row whose largest sum is below 2**(shift-1) rounds to 0 whatever its inputs.
        self.rows = rows[sums >= (1 << min(shift - 1, 62) if shift > 0 else 1)]
        self.cols = cols[values[np.ix_(self.rows, cols)].any(0)]
        self.values = values[np.ix_(self.rows, self.cols)]
        self.mant, self.shift = q.mant, shift if len(self.rows) else 0
        self.bound = int(np.abs(self.values).sum(1).max()) * ACT_MAX * q.mant if len(self.rows) else 0

    @property
    def out_bound(self) -> int:
        return (self.bound >> self.shift) + 1 if self.shift > 0 else self.bound << -self.shift

    def magnitudes(self) -> list[int]:
        """The largest magnitudes the engine holds for this map: the sum plus the rounding
        term, and the result (the engine adds it to the residual in int64)."""
        return [self.bound + (1 << (self.shift - 1) if self.shift > 0 else 0), self.out_bound]

    def dense(self) -> bool:
        return np.count_nonzero(self.values) * SPARSE_COST >= self.values.size

    def macs(self) -> int:
        return self.values.size if self.dense() else int(np.count_nonzero(self.values))

    def spec(self, inputs: np.ndarray | None = None) -> tuple:
        """What the engine reads (engine.c, read_lin). ``inputs``: the dense columns as laid out in
        the input buffer, when it holds only some of them (default: all, in order)."""
        in_idx = self.cols if inputs is None else np.searchsorted(inputs, self.cols)
        head = (_i32(in_idx), _i32(self.rows), self.mant, self.shift)
        if self.dense():
            return (*head, np.ascontiguousarray(self.values, dtype=np.int16), None, None, None)
        rows, cols = np.nonzero(self.values)  # row-major order
        row_ptr = np.searchsorted(rows, np.arange(len(self.rows) + 1))
        return (*head, None, _i32(row_ptr), _i32(in_idx[cols]), np.ascontiguousarray(self.values[rows, cols], dtype=np.int16))


def _i32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int32)


def _concat(arrays) -> np.ndarray:
    return np.concatenate([np.zeros(0, dtype=np.int64), *arrays])


class _Plan:
    """The pruned model as the engine reads it, the proof that int32 suffices, and its cost."""

    def __init__(self, w: IntWeights):
        self.cfg, self.e, self.w = w.cfg, w.act_exp, w.weights
        self.maps: list[_Map] = []  # every map the engine runs
        self.magnitudes: list[int] = []  # the largest values it holds outside the maps
        self.attention_macs = 0
        head = self._used(self._map("head"))
        self.magnitudes.append(2 * head.out_bound)  # max logit - logit
        self.emb_k, self.emb, self.layers = [], [], []
        if len(head.rows):  # else every logit is 0, and no other weight can change a frequency
            for k in range(self.cfg.n_prev + 1):
                q = self.w[f"emb{k}"]
                table = rshift_round(q.values * q.mant, q.exp - self.e["resid"])
                if table.any():
                    self.emb_k.append(k)
                    self.emb.append(table)
            self.magnitudes.append(sum(int(np.abs(t).max()) for t in self.emb))
            self.layers = [(self._attention(i), self._mlp(i)) for i in range(self.cfg.n_layer)]
        self.head = (self._norm("head_in", head), head.spec())

    def _map(self, name: str, rows: np.ndarray | None = None, cols: np.ndarray | None = None) -> _Map:
        q = self.w[name]
        in_exp, out_exp = _exps(name, self.e)
        return _Map(q, q.exp + in_exp - out_exp, rows, cols)

    def _used(self, m: _Map) -> _Map:
        self.maps.append(m)
        return m

    def _norm(self, site: str, *maps: _Map) -> tuple:
        """An RMSNorm to the int8 grid of ``site``, run where one of the maps reads it."""
        return (any(len(m.cols) for m in maps), math.isqrt(self.cfg.d_model << 2 * (self.e[site] + NORM_FRAC_BITS)))

    def _attention(self, i: int) -> tuple | None:
        cfg, dh, win = self.cfg, self.cfg.d_head, self.cfg.window
        rows = {n: self._map(f"l{i}.w{n}").rows for n in "qkv"}
        # Value dimensions: v's row and wo's column nonzero. Score dimensions: q's and k's rows.
        value = np.intersect1d(rows["v"], self._map(f"l{i}.wo").cols)
        wo = self._map(f"l{i}.wo", cols=value)
        if not len(wo.rows):
            return None
        heads = np.unique(value // dh)
        shift = self.e[f"l{i}.q"] + self.e[f"l{i}.k"] + (dh.bit_length() - 1) // 2 - LOGIT_BITS
        score = np.intersect1d(rows["q"], rows["k"])
        # A head whose largest score rounds to 0 attends by distance alone.
        per_head = [score[score // dh == h] for h in heads]
        per_head = [s if shift <= 0 or len(s) * ACT_MAX**2 >= 1 << (shift - 1) else s[:0] for s in per_head]
        score = _concat(per_head)
        shift = shift if len(score) else 0
        wq, wk, wv = (self._used(self._map(f"l{i}.w{n}", rows=r)) for n, r in (("q", score), ("k", score), ("v", value)))
        self._used(wo)
        slopes = alibi_slopes(cfg.n_head)
        spec, s0, v0 = [], 0, 0
        for h, s in zip(heads, per_head):
            n_v = int(np.count_nonzero(value // dh == h))
            spec.append((s0, len(s), v0, n_v, 1 << (LOGIT_BITS - slopes[h])))
            s0, v0 = s0 + len(s), v0 + n_v
        # A score plus its rounding term or times its scale; the scores with distance and their
        # differences; the sum of p * v.
        largest = max(len(s) for s in per_head) * ACT_MAX**2
        score_max = largest + (1 << (shift - 1)) if shift > 0 else largest << -shift
        self.magnitudes += [score_max, 2 * (score_max + (1 << LOGIT_BITS) * win), win * EXP_ONE * ACT_MAX]
        self.attention_macs += win * (len(score) + len(value))
        return (
            self._norm(f"l{i}.attn_in", wq, wk, wv),
            wq.spec(), wk.spec(), wv.spec(), wo.spec(value),
            _i32(spec).reshape(-1), shift,
        )

    def _mlp(self, i: int) -> tuple | None:
        neurons = np.intersect1d(self._map(f"l{i}.w1").rows, self._map(f"l{i}.w2").cols)
        w2 = self._map(f"l{i}.w2", cols=neurons)
        if not len(w2.rows):
            return None
        w1 = self._used(self._map(f"l{i}.w1", rows=neurons))
        self._used(w2)
        return (self._norm(f"l{i}.mlp_in", w1), w1.spec(), w2.spec(neurons))

    def narrow(self) -> bool:
        return max(self.magnitudes + [v for m in self.maps for v in m.magnitudes()]) < INT32_LIMIT

    def macs(self) -> int:
        return sum(m.macs() for m in self.maps) + self.attention_macs


class IntModel:
    """The integer model over lock-step streams; ``threads`` defaults to the cores this process may use."""

    def __init__(self, w: IntWeights, threads: int | None = None):
        check_bounds(w)
        self.cfg = w.cfg
        plan = _Plan(w)
        self.wide = not plan.narrow()
        # Multiply-adds per stream and step once the window is full, as run (dense maps count
        # every entry of their live block, sparse ones their nonzeros).
        self.multiply_adds = plan.macs()
        emb = np.stack(plan.emb) if plan.emb else np.zeros((0, VOCAB + 1, self.cfg.d_model))
        self._engine = Engine(
            np.array(exp_table(), dtype=np.int32),
            self.cfg.d_model,
            self.cfg.window,
            self.cfg.n_prev,
            self.wide,
            np.array(plan.emb_k, dtype=np.int32),
            np.ascontiguousarray(emb, dtype=np.int64 if self.wide else np.int32),
            plan.layers,
            plan.head,
            threads or len(os.sched_getaffinity(0)),
        )

    @property
    def isa(self) -> str:
        """The instruction set the engine's step was compiled for (engine/forward.c)."""
        return self._engine.isa

    def new_state(self, S: int):
        return self._engine.new_state(S)

    def run(self, tokens, state, out: np.ndarray | None = None) -> np.ndarray:
        """Integer frequencies (S, C, 256) int64, all >= 1, for the byte after each of ``tokens`` (S, C).

        ``out``, when given, receives them (a C-contiguous int64 array of that shape) and is returned.
        """
        tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        if out is None:
            out = np.empty((*tokens.shape, VOCAB), dtype=np.int64)
        self._engine.run(state, tokens, out)
        return out
