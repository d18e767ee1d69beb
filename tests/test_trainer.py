"""The trainer: the codelength it reports, its determinism and its plan."""

import math

import pytest
import torch
import torch.nn.functional as F

from mdlzip.coding.data_coder import segment_lengths
from mdlzip.errors import MdlzipError
from mdlzip.model.config import BOS, ModelConfig
from mdlzip.train.plan import plan_for
from mdlzip.train.trainer import TrainPlan, evaluate_bpb, train

from neural_helpers import random_float_model

TINY = ModelConfig(d_model=16, n_layer=1, n_head=1, d_ff=16, window=8, n_prev=2)
DATA = b"ab" * 400 + bytes(range(100))


def test_evaluate_bpb_is_the_coding_layouts_cross_entropy():
    model = random_float_model()
    data = bytes(range(256)) * 3 + b"hello world" * 10
    for streams in (1, 3, 7):
        ref, start = 0.0, 0
        for length in segment_lengths(len(data), streams):
            seg = torch.tensor(list(data[start : start + length]))
            inputs = torch.cat([torch.full((model.cfg.n_prev + 1,), BOS), seg[:-1]])
            with torch.no_grad():
                ref += float(F.cross_entropy(model(inputs[None])[0], seg, reduction="sum"))
            start += length
        # Chunks of 50 with window - 1 positions of left context see exactly what a whole segment sees.
        assert evaluate_bpb(model, data, streams, chunk=50) == pytest.approx(ref / math.log(2) / len(data), abs=1e-3)


@pytest.mark.parametrize("sparsifier", ["drr", "none"])
def test_training_is_deterministic_and_reports_its_prices(sparsifier):
    plan = TrainPlan(steps=30, batch=4, seq_len=32, sparsifier=sparsifier, seed=3)
    a = train(DATA, TINY, plan, torch.device("cpu"), streams=2)
    b = train(DATA, TINY, plan, torch.device("cpu"), streams=2)
    for (n, wa), wb in zip(a.model.named_weights().items(), b.model.named_weights().values()):
        assert torch.equal(wa.weight, wb.weight) and torch.equal(wa.mask, wb.mask), n
    assert a.rel_step in plan.rel_steps and a.bits_per_nonzero > 0
    assert a.float_bpb > 0 and a.final_bpb > 0


def test_plan_grows_with_the_input_and_the_level():
    small, _ = plan_for(10_000, 6)
    large, _ = plan_for(1_000_000, 6)
    assert small.n_params() < large.n_params()
    assert plan_for(100_000, 1)[1].steps < plan_for(100_000, 6)[1].steps < plan_for(100_000, 9)[1].steps
    cfg, plan = plan_for(100_000, 6, extra={"d_model": 32, "n_head": 2, "steps": 5, "sparsifier": "l1"})
    assert (cfg.d_model, plan.steps, plan.sparsifier) == (32, 5, "l1")
    with pytest.raises(MdlzipError):
        plan_for(100_000, 10)
