"""The model section: exact round trip, near-entropy size, clean rejection of damage."""

import numpy as np
import pytest
import torch

from mdlzip.coding import weight_codec
from mdlzip.errors import MdlzipError
from mdlzip.model.int_model import IntModel

from neural_helpers import TINY, random_int_weights


def test_round_trip_is_exact():
    w = random_int_weights()
    back = weight_codec.decode(weight_codec.encode(w), TINY)
    assert back.act_exp == w.act_exp
    for name, q in w.weights.items():
        r = back.weights[name]
        assert (r.mant, r.exp) == (q.mant, q.exp) and np.array_equal(r.values, q.values)


def sparse_weights(density: float, seed: int = 0):
    """Random weights pruned to a density, with dead rows and columns as pruning leaves them."""
    w = random_int_weights(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    for q in w.weights.values():
        keep = torch.rand(q.values.shape, generator=gen) < density
        keep[: q.values.shape[0] // 5] = False  # dead rows
        keep[:, : q.values.shape[1] // 7] = False  # dead columns
        q.values *= keep.numpy()
    return w


@pytest.mark.parametrize("density", [1.0, 0.3, 0.05])
def test_size_is_within_3_percent_of_the_codelength_its_models_assign(density):
    w = sparse_weights(density)
    raw = weight_codec.encode(w)
    back = weight_codec.decode(raw, TINY)
    assert all(np.array_equal(back.weights[n].values, q.values) for n, q in w.weights.items())
    stats = weight_codec.measure(w)
    stream_bits = sum(s.mask_bits + s.value_bits for s in stats)
    assert stream_bits / 8 < len(raw) < 1.03 * stream_bits / 8 + weight_codec.table_bytes(w) + 8


def test_mask_costs_about_the_binary_entropy_per_nonzero():
    """Unstructured random masks cannot beat H(rho); the adaptive contexts must not lose much either."""
    import math

    w = sparse_weights(0.1, seed=3)
    for s in weight_codec.measure(w):
        live = w.weights[s.name].values.any(1)
        n = int(live.sum()) * w.weights[s.name].values.shape[1]
        if s.nonzero < 50:
            continue
        rho = s.nonzero / n
        h = -(rho * math.log2(rho) + (1 - rho) * math.log2(1 - rho))
        assert s.mask_bits < 1.15 * n * h + 64


def _decode_or_reject(raw: bytes):
    """Damage may decode to other valid weights (the archive's checksum catches that);
    it must never crash or build a model whose arithmetic is unsafe."""
    try:
        IntModel(weight_codec.decode(raw, TINY))
    except MdlzipError:
        pass


def test_damage_is_rejected_or_harmless():
    raw = weight_codec.encode(random_int_weights())
    n_fixed = len(TINY.act_sites())
    for cut in range(0, n_fixed + 1):  # inside the fixed fields a cut is always noticed
        with pytest.raises(MdlzipError):
            weight_codec.decode(raw[:cut], TINY)
    for cut in range(n_fixed, len(raw), 41):
        _decode_or_reject(raw[:cut])
    for pos in range(0, len(raw), 29):
        bad = bytearray(raw)
        bad[pos] ^= 1 << (pos % 8)
        _decode_or_reject(bytes(bad))
