"""The model section: integer weights and activation scales, entropy-coded.

Layout (see FORMAT.md): the activation scale exponents, then per weight tensor
its step (mant, exp) and the histogram of its integer values, then one range
coder stream holding every tensor's values coded with that tensor's histogram.
A histogram costs a few dozen bytes and makes each value cost its empirical
entropy, which ``entropy_bits`` reports for comparison.
"""

from __future__ import annotations

import numpy as np
import torch

import constriction

from ..errors import MdlzipError
from ..model.config import ModelConfig
from ..model.int_model import ACT_EXP_MAX, WEIGHT_EXP_MAX, WEIGHT_MAX, IntWeights, QTensor
from .varint import Reader, put_int, put_uint

MAX_ALPHABET = 1 << 16


def _histogram(values: np.ndarray) -> tuple[int, np.ndarray]:
    lo = int(values.min()) if values.size else 0
    hi = int(values.max()) if values.size else 0
    return lo, np.bincount(values - lo, minlength=hi - lo + 1)


def _categorical(counts: np.ndarray):
    return constriction.stream.model.Categorical(counts.astype(np.float64), perfect=False)


def encode(w: IntWeights) -> bytes:
    cfg = w.cfg
    out = bytearray()
    for site in cfg.act_sites():
        put_int(out, w.act_exp[site])
    coder = constriction.stream.queue.RangeEncoder()
    for name in cfg.weight_shapes():
        q = w.weights[name]
        values = q.values.numpy().ravel().astype(np.int64)
        lo, counts = _histogram(values)
        out.append(q.mant)
        put_int(out, q.exp)
        put_int(out, lo)
        put_uint(out, len(counts) - 1)
        for c in counts:
            put_uint(out, int(c))
        if len(counts) > 1:
            coder.encode((values - lo).astype(np.int32), _categorical(counts))
    return bytes(out) + coder.get_compressed().astype("<u4").tobytes()


def decode(raw: bytes, cfg: ModelConfig) -> IntWeights:
    r = Reader(raw, "model section")
    act_exp = {site: r.int(ACT_EXP_MAX + 8) for site in cfg.act_sites()}
    tables = []
    for name, shape in cfg.weight_shapes().items():
        n = shape[0] * shape[1]
        mant = r.bytes(1)[0]
        exp = r.int(WEIGHT_EXP_MAX)
        lo = r.int(WEIGHT_MAX)
        size = r.uint(MAX_ALPHABET - 1) + 1
        counts = np.array([r.uint(n) for _ in range(size)], dtype=np.int64)
        if counts.sum() != n or lo + size - 1 > WEIGHT_MAX:
            r.fail(f"bad histogram for {name}")
        tables.append((name, shape, mant, exp, lo, counts))
    words = r.rest()
    if len(words) % 4:
        r.fail("stream length is not a multiple of 4")
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(words, dtype="<u4").astype(np.uint32))
    weights = {}
    try:
        for name, shape, mant, exp, lo, counts in tables:
            if len(counts) > 1:
                values = decoder.decode(_categorical(counts), shape[0] * shape[1]).astype(np.int64) + lo
            else:
                values = np.full(shape[0] * shape[1], lo, dtype=np.int64)
            weights[name] = QTensor(torch.from_numpy(values.reshape(shape)), mant, exp)
    except (ValueError, RuntimeError, AssertionError) as exc:
        raise MdlzipError(f"corrupt model section: {exc}") from None
    return IntWeights(cfg, weights, act_exp)


def entropy_bits(w: IntWeights) -> float:
    """The empirical entropy of all weight values: what an ideal coder with free histograms would spend."""
    total = 0.0
    for q in w.weights.values():
        _, counts = _histogram(q.values.numpy().ravel().astype(np.int64))
        p = counts[counts > 0] / counts.sum()
        total += float(-(counts[counts > 0] * np.log2(p)).sum())
    return total
