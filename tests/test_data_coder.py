"""The data section: lock-step streams round-trip for every layout."""

import os

import pytest

from mdlzip.coding import data_coder
from mdlzip.errors import MdlzipError
from mdlzip.model.int_model import IntModel

from neural_helpers import random_int_weights


@pytest.fixture(scope="module")
def model():
    return IntModel(random_int_weights(seed=7))


def test_segment_lengths():
    assert data_coder.segment_lengths(0, 4) == []
    assert data_coder.segment_lengths(1, 4) == [1]
    assert data_coder.segment_lengths(10, 4) == [3, 3, 3, 1]
    assert data_coder.segment_lengths(12, 4) == [3, 3, 3, 3]
    assert data_coder.segment_lengths(9, 4) == [3, 3, 3]  # never an empty segment
    for n in range(1, 60):
        for s in (1, 2, 5, 64):
            lengths = data_coder.segment_lengths(n, s)
            assert sum(lengths) == n and min(lengths) > 0 and len(lengths) <= s


@pytest.mark.parametrize("n,streams,chunk", [(1, 1, 4), (50, 1, 7), (50, 3, 5), (97, 8, 16), (33, 64, 3)])
def test_round_trip(model, n, streams, chunk):
    data = os.urandom(n // 2) + b"abcabcabc" * (n // 18) + bytes(n - n // 2 - 9 * (n // 18))
    raw, _ = data_coder.encode(data, model, streams, chunk)
    assert data_coder.decode(raw, model, n, streams) == data


def test_encoding_does_not_depend_on_chunk(model):
    data = b"the same bytes in every layout " * 5
    assert len({data_coder.encode(data, model, 4, c)[0] for c in (1, 6, 64)}) == 1


def test_damaged_stream_is_rejected_or_detected(model):
    data = b"some text to code " * 4
    raw, _ = data_coder.encode(data, model, 2)
    with pytest.raises(MdlzipError):
        data_coder.decode(raw[:-1], model, len(data), 2)
    bad = bytearray(raw)
    bad[0] ^= 0x40
    try:
        assert data_coder.decode(bytes(bad), model, len(data), 2) != data
    except MdlzipError:
        pass
