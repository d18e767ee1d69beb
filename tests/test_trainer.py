"""The trainer: the codelength it reports, its determinism and its plan."""

import math
import re
from dataclasses import replace

import numpy as np

import pytest
import torch
import torch.nn.functional as F

from mdlzip.coding.data_coder import segment_lengths
from mdlzip.errors import MdlzipError
from mdlzip.model.config import BOS, ModelConfig
from mdlzip.train.plan import plan_for
from mdlzip.train.plan import TrainPlan
from mdlzip.train.trainer import ByteWindows, bits_per_byte, evaluate_bpb, penalty_weight, train

from conftest import REPO
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


def test_mixture_codelength_is_the_bitwise_logistic_mixture():
    """Against a direct computation: each bit's probability from the byte distribution's
    subtree masses, mixed with the side models' bit logits as sigmoid(a * t + b * s)."""
    model = random_float_model()
    torch.manual_seed(1)
    x = torch.cat([torch.full((2, model.cfg.n_prev), BOS), torch.randint(0, 256, (2, 9))], 1)
    y = torch.randint(0, 256, (2, 9))
    side = torch.randn(2, 9, 8) * 3
    mix = torch.tensor([0.7, 1.3])
    with torch.no_grad():
        probs = model(x).softmax(-1).double()
    ref = 0.0
    for b in range(2):
        for t in range(9):
            byte = int(y[b, t])
            for j in range(8):
                prefix = byte >> (7 - j)
                lo, half = (prefix >> 1) << (8 - j), 128 >> j
                mass = [float(probs[b, t, lo : lo + half].sum()), float(probs[b, t, lo + half : lo + 2 * half].sum())]
                p = mass[prefix & 1] / sum(mass)
                z = 0.7 * math.log(p / (1 - p)) + 1.3 * float(side[b, t, j])
                ref -= math.log2(1 / (1 + math.exp(-z)))
    with torch.no_grad():
        assert float(bits_per_byte(model, x, y, side, mix)) == pytest.approx(ref / 18, rel=1e-4)
        # Weights (1, 0): the transformer alone, bit by bit, is its cross-entropy.
        assert float(bits_per_byte(model, x, y, side, torch.tensor([1.0, 0.0]))) == pytest.approx(float(bits_per_byte(model, x, y)), rel=1e-4)


def test_mixture_ignores_what_the_side_models_know():
    """Where the side models are right and sure, the transformer gets (almost) no gradient."""
    model = random_float_model()
    x = torch.cat([torch.full((1, model.cfg.n_prev), BOS), torch.randint(0, 256, (1, 16))], 1)
    y = torch.randint(0, 256, (1, 16))
    grads = []
    for logit in (0.0, 12.0):
        model.zero_grad()
        bits_per_byte(model, x, y, torch.full((1, 16, 8), logit), torch.ones(2)).backward()
        grads.append(float(model.head.weight.grad.norm()))
    assert grads[1] < 1e-3 * grads[0]


def test_training_for_the_mixture_uses_the_side_models():
    side = np.full((len(DATA), 8), 64000, dtype=np.uint16)  # of 65536: the side models already know every bit
    plan = TrainPlan(steps=30, batch=4, seq_len=32, sparsifier="l1", seed=3, stop_early=False)
    alone = train(DATA, TINY, plan, torch.device("cpu"))
    mixed = train(DATA, TINY, plan, torch.device("cpu"), side_probs=side)
    again = train(DATA, TINY, plan, torch.device("cpu"), side_probs=side)
    assert torch.equal(mixed.model.head.weight, again.model.head.weight)
    # The data term is the mixture's: at most about what the side models pay (8 bits of 64000/65536).
    assert mixed.qat_bpb < 8 * -math.log2(64000 / 65536) + 0.05 < alone.qat_bpb
    ignored = train(DATA, TINY, replace(plan, mixture=False), torch.device("cpu"), side_probs=side)
    assert torch.equal(ignored.model.head.weight, alone.model.head.weight)


def test_training_stops_where_no_model_it_could_keep_beats_the_side_models():
    """Side models sure of every bit leave a transformer nothing to add: at the end of pruning the
    best mask's two-part estimate loses to theirs, so quantization-aware training is not run. Side
    models that know nothing leave it the whole input to learn, and it trains to the end."""
    plan = TrainPlan(steps=40, batch=4, seq_len=32, sparsifier="l1", seed=3, lr=2e-2)
    sure = train(DATA, TINY, plan, torch.device("cpu"), side_probs=np.full((len(DATA), 8), 65000, dtype=np.uint16))
    assert sure.stopped > 0 and sure.steps == int(plan.prune_at * plan.steps) == 30
    assert math.isnan(sure.qat_bpb) and math.isnan(sure.final_bpb)
    again = train(DATA, TINY, plan, torch.device("cpu"), side_probs=np.full((len(DATA), 8), 65000, dtype=np.uint16))
    assert again.stopped == sure.stopped and torch.equal(again.model.head.weight, sure.model.head.weight)
    blind = train(DATA, TINY, plan, torch.device("cpu"), side_probs=np.full((len(DATA), 8), 32768, dtype=np.uint16))
    assert blind.stopped is None and blind.steps == plan.steps
    forced = train(DATA, TINY, replace(plan, stop_early=False), torch.device("cpu"), side_probs=np.full((len(DATA), 8), 65000, dtype=np.uint16))
    assert forced.stopped is None and forced.steps == plan.steps


@pytest.mark.parametrize("sparsifier", ["drr", "none"])
def test_training_is_deterministic_and_reports_its_prices(sparsifier):
    plan = TrainPlan(steps=30, batch=4, seq_len=32, sparsifier=sparsifier, seed=3)
    a = train(DATA, TINY, plan, torch.device("cpu"), streams=2)
    b = train(DATA, TINY, plan, torch.device("cpu"), streams=2)
    for (n, wa), wb in zip(a.model.named_weights().items(), b.model.named_weights().values()):
        assert torch.equal(wa.weight, wb.weight) and torch.equal(wa.mask, wb.mask), n
    assert a.rel_step in plan.rel_steps and a.bits_per_nonzero > 0
    assert a.float_bpb > 0 and a.final_bpb > 0


def test_the_price_of_weights_rises_over_the_ramp_to_the_penalty_scale():
    plan = TrainPlan(ramp=0.5, penalty_scale=2.0)
    weights = [penalty_weight(plan, step, 100, 300) for step in range(100, 300)]
    assert weights[0] == pytest.approx(2.0 / 100) and weights[49] == pytest.approx(1.0)
    assert weights[99:] == [2.0] * 101
    assert all(a < b for a, b in zip(weights[:99], weights[1:100]))
    assert penalty_weight(TrainPlan(ramp=0.0, penalty_scale=0.5), 100, 100, 300) == 0.5


def test_a_higher_price_pulls_the_weights_toward_zero():
    def size(scale):
        plan = TrainPlan(steps=60, batch=4, seq_len=32, sparsifier="l1", penalty_scale=scale, tamade=False, seed=1)
        model = train(DATA * 4, TINY, plan, torch.device("cpu")).model
        return sum(float((l.weight * l.mask).detach().abs().sum()) for l in model.named_weights().values())

    free, priced, dear = size(0.0), size(1.0), size(8.0)
    assert dear < priced < free


def test_plan_grows_with_the_input_and_the_level():
    small, _ = plan_for(10_000, 6)
    large, _ = plan_for(1_000_000, 6)
    assert small.n_params() < large.n_params()
    assert plan_for(100_000, 1)[1].steps < plan_for(100_000, 6)[1].steps < plan_for(100_000, 9)[1].steps
    cfg, plan = plan_for(100_000, 6, extra={"d_model": 32, "n_head": 2, "steps": 5, "sparsifier": "l1"})
    assert (cfg.d_model, plan.steps, plan.sparsifier) == (32, 5, "l1")
    with pytest.raises(MdlzipError):
        plan_for(100_000, 10)


def test_the_readmes_plan_table_is_the_plan():
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) (MiB|GiB) \| [^|]+ \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|", text, re.M)
    assert len(rows) == 5
    for size, unit, weights, *steps in rows:
        n = int(size) << (20 if unit == "MiB" else 30)
        cfg, _ = plan_for(n, 6)
        assert cfg.n_params() == int(weights.replace(",", ""))
        assert [plan_for(n, level)[1].steps for level in (1, 3, 6, 9)] == [int(s.replace(",", "")) for s in steps]


def test_windows_keep_the_input_as_given_and_widen_only_what_they_draw():
    """The input and the side models' probabilities are held as they come (uint8, uint16: no
    int64 or float copies of the whole input); a draw is the windows of the padded input."""
    data = bytes(range(256)) * 4
    side = np.random.default_rng(0).integers(1, 65536, size=(len(data), 8), dtype=np.uint16)
    windows = ByteWindows(data, n_prev=2, seq_len=16, device="cpu", side_probs=side)
    assert windows.raw.base is data and windows.side is side
    x, y, logits = windows.sample(6, torch.Generator().manual_seed(5))
    starts = torch.randint(0, len(data) - 16 + 1, (6,), generator=torch.Generator().manual_seed(5))
    padded = [BOS] * 3 + list(data[:-1])  # input token t is byte t - 1, after n_prev + 1 BOS
    for b, s in enumerate(starts.tolist()):
        assert x[b].tolist() == padded[s : s + 18] and y[b].tolist() == list(data[s : s + 16])
        p = side[s : s + 16].astype(np.float64)
        assert np.allclose(logits[b].numpy(), np.log(p / (65536 - p)), rtol=1e-5)
    # A rank's share of the same draw.
    x2, _, _ = windows.sample(6, torch.Generator().manual_seed(5), slice(2, 4))
    assert torch.equal(x2, x[2:4])


def test_evaluate_bpb_samples_evenly_at_a_bounded_cost():
    model = random_float_model()
    data = (b"The side models code most of text well; " * 40 + bytes(range(256))) * 4
    positions = []
    model.register_forward_pre_hook(lambda m, args: positions.append(args[0].shape[0] * args[0].shape[1]))
    full = evaluate_bpb(model, data, streams=4, chunk=64)
    positions.clear()
    part = evaluate_bpb(model, data, streams=4, chunk=64, max_bytes=1024)
    # 16 chunks of 64 with their window - 1 + n_prev positions of context, not the whole input.
    assert sum(positions) <= 16 * (64 + model.cfg.window - 1 + model.cfg.n_prev)
    assert part == pytest.approx(full, rel=0.05)


def test_training_work_does_not_grow_with_the_input(monkeypatch):
    """The positions the model is run on during a whole training run (the steps, the mask choice,
    the codelength measurements) are about the same for a 10 times larger input."""
    import mdlzip.train.trainer as trainer

    monkeypatch.setattr(trainer, "EVAL_BYTES", 4096)
    counts = []
    for data in (DATA * 40, DATA * 400):
        positions = []
        hook = torch.nn.modules.module.register_module_forward_pre_hook(
            lambda m, args: positions.append(args[0].numel()) if isinstance(m, trainer.ByteTransformer) else None
        )
        try:
            train(data, TINY, TrainPlan(steps=20, batch=4, seq_len=32, seed=3), torch.device("cpu"), streams=8)
        finally:
            hook.remove()
        counts.append(sum(positions))
    assert counts[1] <= 1.1 * counts[0]


def test_calibration_a_few_windows_at_a_time_sees_what_the_whole_sample_shows():
    whole, parts = random_float_model(), random_float_model()
    sample = torch.cat([torch.full((12, whole.cfg.n_prev), BOS), torch.randint(0, 256, (12, 40), generator=torch.Generator().manual_seed(2))], 1)
    whole.start_quantization(sample, 0.3)
    parts.start_quantization(sample, 0.3, per_pass=5)
    for (name, a), b in zip(whole.act_sites().items(), parts.act_sites().values()):
        assert int(a.exp) == int(b.exp) and float(a.amax) == pytest.approx(float(b.amax), rel=1e-5), name
