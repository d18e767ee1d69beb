"""The model section: sparse integer weights, entropy-coded.

A pruned model is mostly zeros, so each tensor is coded as a mask plus the
values of its nonzeros (see FORMAT.md for the bytes):

- which rows are alive (a dead neuron or an absent byte's embedding costs one
  flag), with the static probability live/rows;
- the mask of each live row, bit by bit, with adaptive counts in four contexts:
  the bit above it (same column, previous live row) and whether its column has
  had a nonzero yet. Dead columns and structured sparsity become nearly free.
  Counts adapt after each row, so a whole row is one batched coder call;
- the magnitudes of the nonzeros with the tensor's histogram (sent up front),
  then their signs at one bit each.

Everything goes into one range-coder stream. The same ``_TensorCoder`` runs on
both sides and also reports the ideal codelength its models assign, which is
what ``info -v`` shows per tensor and what the MDL objective charges per weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import constriction

from ..errors import MdlzipError
from ..model.config import ModelConfig
from ..model.config import ACT_EXP_MAX
from ..model.int_model import WEIGHT_EXP_MAX, WEIGHT_MAX, IntWeights, QTensor
from .varint import Reader, put_int, put_uint

_FAMILY = constriction.stream.model.Categorical(perfect=False)
_FAIR_COIN = constriction.stream.model.Categorical(np.array([1.0, 1.0]), perfect=False)


@dataclass
class TensorStats:
    """Ideal codelengths, in bits, under the codec's own models."""

    name: str
    size: int
    nonzero: int
    mask_bits: float
    value_bits: float


def _bits(probs: np.ndarray, symbols: np.ndarray) -> float:
    return float(-np.log2(probs[np.arange(len(symbols)), symbols] / probs.sum(1)).sum())


class _TensorCoder:
    """Codes one tensor's mask and values, given its header fields, in either direction."""

    def __init__(self, rows: int, cols: int, live: int, magnitudes: np.ndarray):
        self.rows, self.cols, self.live = rows, cols, live
        self.magnitudes = magnitudes  # histogram of |v| for v = 1..vmax
        self.stats_mask = self.stats_value = 0.0

    def _row_flag_probs(self) -> np.ndarray:
        return np.tile(np.array([self.rows - self.live, self.live], dtype=np.float64), (self.rows, 1))

    def _run_mask(self, step) -> np.ndarray:
        """Walk the live rows with the adaptive context model; ``step(probs)`` codes one row's bits."""
        mask = np.zeros((self.rows, self.cols), dtype=bool)
        counts = np.ones((4, 2), dtype=np.int64)  # Krichevsky-Trofimov counts, doubled: 2c + 1
        above = np.zeros(self.cols, dtype=np.int64)
        seen = np.zeros(self.cols, dtype=np.int64)
        for r in self.live_rows:
            ctx = 2 * above + seen
            probs = (2 * counts[ctx] + 1).astype(np.float64)
            bits = step(probs).astype(bool)
            mask[r] = bits
            np.add.at(counts, (ctx, bits.astype(np.int64)), 1)
            above = bits.astype(np.int64)
            seen |= above
        return mask

    def _value_probs(self, n: int) -> np.ndarray:
        return np.tile(self.magnitudes.astype(np.float64), (n, 1))

    def encode(self, coder, values: np.ndarray):
        live = values.any(1)
        flags = self._row_flag_probs()
        coder.encode(live.astype(np.int32), _FAMILY, flags)
        self.stats_mask += _bits(flags, live.astype(np.int64))
        self.live_rows = np.flatnonzero(live)
        it = iter(values[self.live_rows] != 0)

        def step(probs):
            bits = next(it).astype(np.int32)
            coder.encode(bits, _FAMILY, probs)
            self.stats_mask += _bits(probs, bits)
            return bits

        self._run_mask(step)
        nonzero = values[values != 0]
        if nonzero.size:
            mags = np.abs(nonzero) - 1
            if len(self.magnitudes) > 1:  # a single magnitude needs no bits
                vp = self._value_probs(len(mags))
                coder.encode(mags.astype(np.int32), _FAMILY, vp)
                self.stats_value += _bits(vp, mags)
            coder.encode((nonzero < 0).astype(np.int32), _FAIR_COIN)
            self.stats_value += len(nonzero)

    def decode(self, decoder) -> np.ndarray:
        flags = self._row_flag_probs()
        live = decoder.decode(_FAMILY, flags).astype(bool)
        if int(live.sum()) != self.live:
            raise MdlzipError("corrupt model section: live row count mismatch")
        self.live_rows = np.flatnonzero(live)
        mask = self._run_mask(lambda probs: decoder.decode(_FAMILY, probs))
        n = int(mask.sum())
        if n != int(self.magnitudes.sum()):
            raise MdlzipError("corrupt model section: nonzero count mismatch")
        values = np.zeros((self.rows, self.cols), dtype=np.int64)
        if n:
            mags = decoder.decode(_FAMILY, self._value_probs(n)).astype(np.int64) + 1 if len(self.magnitudes) > 1 else np.ones(n, dtype=np.int64)
            signs = decoder.decode(_FAIR_COIN, n).astype(bool)
            values[mask] = np.where(signs, -mags, mags)
        return values


def _magnitudes(values: np.ndarray) -> np.ndarray:
    """Histogram of |v| over the nonzeros, for |v| = 1..max."""
    nonzero = np.abs(values[values != 0])
    return np.bincount(nonzero - 1) if nonzero.size else np.zeros(0, dtype=np.int64)


def _tables(w: IntWeights) -> bytes:
    """The fixed fields before the stream: activation scales, then each tensor's step and histogram."""
    out = bytearray()
    for site in w.cfg.act_sites():
        put_int(out, w.act_exp[site])
    for name in w.cfg.weight_shapes():
        q = w.weights[name]
        values = q.values
        magnitudes = _magnitudes(values)
        out.append(q.mant)
        put_int(out, q.exp)
        put_uint(out, int(values.any(1).sum()))
        put_uint(out, len(magnitudes))
        for c in magnitudes:
            put_uint(out, int(c))
    return bytes(out)


def table_bytes(w: IntWeights) -> int:
    return len(_tables(w))


def encode(w: IntWeights) -> bytes:
    coder = constriction.stream.queue.RangeEncoder()
    for name in w.cfg.weight_shapes():
        values = w.weights[name].values.astype(np.int64)
        _TensorCoder(*values.shape, int(values.any(1).sum()), _magnitudes(values)).encode(coder, values)
    return _tables(w) + coder.get_compressed().astype("<u4").tobytes()


def decode(raw: bytes, cfg: ModelConfig) -> IntWeights:
    r = Reader(raw, "model section")
    act_exp = {site: r.int(ACT_EXP_MAX + 8) for site in cfg.act_sites()}
    headers = []
    for name, (rows, cols) in cfg.weight_shapes().items():
        mant = r.bytes(1)[0]
        exp = r.int(WEIGHT_EXP_MAX)
        live = r.uint(rows)
        vmax = r.uint(WEIGHT_MAX)
        magnitudes = np.array([r.uint(rows * cols) for _ in range(vmax)], dtype=np.int64)
        if magnitudes.sum() > rows * cols or (vmax and magnitudes[-1] == 0) or (live == 0) != (magnitudes.sum() == 0):
            r.fail(f"bad histogram for {name}")
        headers.append((name, rows, cols, mant, exp, live, magnitudes))
    words = r.rest()
    if len(words) % 4:
        r.fail("stream length is not a multiple of 4")
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(words, dtype="<u4").astype(np.uint32))
    weights = {}
    try:
        for name, rows, cols, mant, exp, live, magnitudes in headers:
            values = _TensorCoder(rows, cols, live, magnitudes).decode(decoder)
            weights[name] = QTensor(values, mant, exp)
    except (ValueError, RuntimeError, AssertionError) as exc:
        raise MdlzipError(f"corrupt model section: {exc}") from None
    return IntWeights(cfg, weights, act_exp)


class _CostMeter:
    """Stands in for the range encoder where only codelengths are wanted."""

    def encode(self, *args):
        pass


def measure(w: IntWeights) -> list[TensorStats]:
    """Per tensor: size, nonzeros, and the ideal mask and value codelengths under the codec's models."""
    stats = []
    for name in w.cfg.weight_shapes():
        values = w.weights[name].values.astype(np.int64)
        tc = _TensorCoder(*values.shape, int(values.any(1).sum()), _magnitudes(values))
        tc.encode(_CostMeter(), values)
        stats.append(TensorStats(name, values.size, int((values != 0).sum()), tc.stats_mask, tc.stats_value))
    return stats
