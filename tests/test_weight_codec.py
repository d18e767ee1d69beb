"""The model section: exact round trip, near-entropy size, clean rejection of damage."""

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
        assert (r.mant, r.exp) == (q.mant, q.exp) and torch.equal(r.values, q.values)


def test_size_is_close_to_the_empirical_entropy():
    w = random_int_weights()
    for q in w.weights.values():  # a constant tensor codes to nothing but its histogram
        q.values[: q.values.shape[0] // 4] = 0
    raw = weight_codec.encode(w)
    ideal = weight_codec.entropy_bits(w) / 8
    assert ideal < len(raw) < ideal * 1.08 + 200  # histograms and scales cost a few bytes per tensor


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
