"""The integer engine: exact arithmetic, one result for every evaluation order and thread count,
and the very frequencies of the dense reference engine (tests/reference_engine.py) for any weights."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from mdlzip import container
from mdlzip.errors import MdlzipError
from mdlzip.methods import neural
from mdlzip.model.config import BOS, ModelConfig
from mdlzip.model.float_model import weight_step
from mdlzip.model.int_model import IntModel, QTensor, rshift_round
from mdlzip.model.tables import EXP_ONE, exp_table

from neural_helpers import TINY, random_float_model, random_int_weights, sparse_int_weights
from reference_engine import ReferenceEngine, div_round, isqrt

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT = ModelConfig(d_model=64, n_layer=2, n_head=4, d_ff=256, window=128, n_prev=3)  # plan's shape at 1 MB


def test_exp_table_is_pinned():
    table = exp_table()
    assert table[0] == EXP_ONE and table[-1] == 0 and list(table) == sorted(table, reverse=True)
    assert hashlib.sha256(repr(table).encode()).hexdigest() == "4896443d21cbf279a8c2c877f2efd8ebc7dffc2ae00a30252225a1dba6810891"


def test_integer_helpers():
    x = torch.tensor([-5, -4, -3, -1, 0, 1, 3, 4, 5, 6])
    assert rshift_round(x, 1).tolist() == [-2, -2, -1, 0, 0, 1, 2, 2, 3, 3]  # half up
    assert rshift_round(x, -2).tolist() == (x * 4).tolist()
    assert div_round(torch.tensor([-7, -6, 5, 7]), torch.tensor([2, 4, 2, 7])).tolist() == [-3, -1, 3, 1]
    n = torch.tensor([0, 1, 2, 3, 4, 15, 16, 17, (1 << 52) - 1, (1 << 40) + 12345])
    s = isqrt(n)
    assert ((s * s <= n) & ((s + 1) * (s + 1) > n)).all()


def run_chunks(model, tokens: np.ndarray, chunk: int) -> np.ndarray:
    """Frequencies (S, L, 256) from feeding ``tokens`` (S, L) in chunks of ``chunk`` steps."""
    state = model.new_state(tokens.shape[0])
    return np.concatenate([np.asarray(model.run(tokens[:, t : t + chunk], state)) for t in range(0, tokens.shape[1], chunk)], 1)


def reference(w, tokens: np.ndarray) -> np.ndarray:
    return run_chunks(ReferenceEngine(w), torch.from_numpy(tokens.astype(np.int64)), tokens.shape[1])


def random_tokens(streams: int, length: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (streams, length))


def assert_engine_is_reference(w, tokens: np.ndarray, layouts=((1, 1), (2, 1), (1, 7), (2, 64))):
    """Identical frequencies for every (threads, chunk) layout, and the reference's."""
    expected = reference(w, tokens)
    for threads, chunk in layouts:
        assert np.array_equal(run_chunks(IntModel(w, threads), tokens, chunk), expected), (threads, chunk)


@pytest.mark.parametrize("cfg", [TINY, ModelConfig(d_model=64, n_layer=1, n_head=4, d_ff=32, window=5, n_prev=0)])
@pytest.mark.parametrize("streams,length", [(1, 40), (3, 37), (7, 19)])
def test_batched_equals_stepwise(cfg, streams, length):
    model = IntModel(random_int_weights(cfg, seed=streams))
    tokens = random_tokens(streams, length, length)
    whole = run_chunks(model, tokens, length)
    assert whole.shape == (streams, length, 256) and whole.min() >= 1
    assert whole.sum(-1).max() < 1 << 24
    for chunk in (1, 3, cfg.window, cfg.window + 1):
        assert np.array_equal(run_chunks(model, tokens, chunk), whole)


def test_streams_are_independent():
    """A stream's frequencies do not depend on which other streams share its batch."""
    model = IntModel(random_int_weights(), threads=2)
    tokens = random_tokens(5, 30, 1)
    together = run_chunks(model, tokens, 30)
    for s in range(5):
        assert np.array_equal(run_chunks(model, tokens[s : s + 1], 1)[0], together[s])


@pytest.mark.parametrize("archive", sorted(p.name for p in FIXTURES.glob(f"*.v{container.FORMAT_VERSION}-neural*.mdlz")))
def test_engine_is_the_reference_on_the_fixtures_models(archive):
    _, _, _, encoded = container.unpack((FIXTURES / archive).read_bytes())
    header = neural.Header.from_bytes(encoded.header)
    w = neural.model_of(encoded.model, header.cfg)
    text = np.frombuffer((FIXTURES / f"{archive.split('.')[0]}.txt").read_bytes(), dtype=np.uint8)
    S = header.streams
    tokens = np.concatenate([np.full((S, 1), BOS), text[: S * 300].reshape(S, 300)], 1)
    assert_engine_is_reference(w, tokens)


@pytest.mark.parametrize(
    "cfg",
    [TINY, ModelConfig(d_model=64, n_layer=1, n_head=4, d_ff=128, window=16, n_prev=2), ModelConfig(d_model=32, n_layer=3, n_head=8, d_ff=48, window=3, n_prev=1)],
)
@pytest.mark.parametrize("keep", [0.0, 0.002, 0.03, 0.3, 1.0])
def test_engine_is_the_reference_on_random_sparse_models(cfg, keep):
    w = sparse_int_weights(cfg, keep, seed=int(keep * 1000))
    assert_engine_is_reference(w, random_tokens(5, 2 * cfg.window + 3, 7))


def test_engine_is_the_reference_on_a_default_like_model():
    """The default archive's shape with about as many weights as it keeps (1,208 of 180,480)."""
    w = sparse_int_weights(DEFAULT, 0.0067, seed=3)
    assert 900 < sum(int(np.count_nonzero(q.values)) for q in w.weights.values()) < 1500
    assert_engine_is_reference(w, random_tokens(6, 140, 8), layouts=((1, 1), (2, 33)))


def zero_rows(w, name, rows):
    w.weights[name].values[rows] = 0


@pytest.mark.parametrize(
    "prune",
    [
        lambda w: zero_rows(w, "l0.wv", slice(None)),  # no values: the layer's attention is dropped
        lambda w: zero_rows(w, "l1.w1", slice(None)),  # no neurons: the MLP is dropped
        lambda w: [zero_rows(w, f"l0.w{n}", slice(0, 16)) for n in "qk"],  # head 0 attends by distance alone
        lambda w: w.weights["l0.wo"].values[:, 16:].fill(0),  # only head 0 is read
        lambda w: w.weights["l1.w2"].values[:, ::2].fill(0),  # half the neurons are never read
        lambda w: zero_rows(w, "emb0", slice(None)),  # no embedding of the current byte
        lambda w: zero_rows(w, "head", slice(3, None)),  # three live logits; the rest are 0
        lambda w: zero_rows(w, "head", slice(None)),  # uniform: nothing else can matter
    ],
)
def test_structured_pruning_keeps_the_frequencies(prune):
    cfg = ModelConfig(d_model=32, n_layer=2, n_head=2, d_ff=64, window=8, n_prev=3)
    w = random_int_weights(cfg, seed=11)
    prune(w)
    assert_engine_is_reference(w, random_tokens(3, 20, 9), layouts=((1, 1), (2, 5)))


def test_rows_that_round_to_zero_are_dropped_exactly():
    """A shift past a row's largest sum makes it 0 whatever the input; the engine skips it."""
    w = random_int_weights(seed=4)
    w.weights["l0.w1"] = QTensor(w.weights["l0.w1"].values, 1, 14)
    w.weights["l0.w1"].values[::2] *= 9  # these rows still reach 2**13 and survive
    model = IntModel(w)
    assert model.multiply_adds < IntModel(random_int_weights(seed=4)).multiply_adds
    assert_engine_is_reference(w, random_tokens(3, 20, 5), layouts=((1, 1),))


@pytest.mark.parametrize("offset", [-6, -2, 3, 9])
def test_norms_that_round_or_saturate_are_exact(offset):
    """Finer or coarser RMSNorm grids: quotients near every rounding boundary, or far past +-127."""
    w = random_int_weights(seed=8)
    for site in w.act_exp:
        if site.endswith(("attn_in", "mlp_in", "head_in")):
            w.act_exp[site] = min(20, max(-8, w.act_exp[site] + offset))
    assert_engine_is_reference(w, random_tokens(3, 24, 3), layouts=((1, 1), (2, 24)))


def test_wide_sums_when_int32_is_not_proven():
    """Weights whose sums could pass 2**30 run in int64, still exactly."""
    w = random_int_weights(seed=6)
    w.weights["l1.w2"] = QTensor(w.weights["l1.w2"].values * 2000, 200, 6)
    w.act_exp["l1.hidden"] = 12
    model = IntModel(w)
    assert model.wide and not IntModel(random_int_weights(seed=6)).wide
    assert_engine_is_reference(w, random_tokens(3, 20, 5), layouts=((1, 1), (2, 4)))


def test_the_empty_model_runs_nothing():
    model = IntModel(neural.EMPTY)
    assert model.multiply_adds == 0
    freqs = run_chunks(model, random_tokens(4, 9, 2), 3)
    assert (freqs == EXP_ONE).all()


def test_cost_follows_the_kept_weights():
    dense = IntModel(random_int_weights(DEFAULT, seed=1))
    sparse = IntModel(sparse_int_weights(DEFAULT, 0.0067, seed=3))
    assert sparse.multiply_adds < dense.multiply_adds / 10


def test_integer_model_follows_float_model():
    """With fake-quant on, the float model is the integer model up to softmax rounding."""
    fmodel = random_float_model(seed=5)
    from mdlzip.model.convert import to_integer

    model = IntModel(to_integer(fmodel))
    tokens = random_tokens(2, 30, 4)
    freqs = torch.from_numpy(run_chunks(model, tokens, 30)).double()
    int_logp = (freqs / freqs.sum(-1, keepdim=True)).log()
    with torch.no_grad():
        float_logp = fmodel(torch.cat([torch.full((2, TINY.n_prev), BOS), torch.from_numpy(tokens)], 1)).double().log_softmax(-1)
    probs = float_logp.exp()
    kl = (probs * (float_logp - int_logp)).sum(-1)
    assert kl.max() < 0.01  # nats


def test_bad_tokens_and_buffers_are_refused():
    model = IntModel(random_int_weights())
    state = model.new_state(2)
    with pytest.raises(ValueError):
        model.run(np.array([[0], [257]]), state)
    with pytest.raises(ValueError):
        model.run(np.array([[0], [1]]), state, np.empty((2, 1, 256), dtype=np.int32))
    with pytest.raises(ValueError):
        model.run(np.array([[0]]), state)
    assert state.t == 0


def test_hostile_weights_are_rejected():
    w = random_int_weights()
    w.weights["l0.w1"] = QTensor(np.full_like(w.weights["l0.w1"].values, 30000), 255, -8)
    w.act_exp.update({"l0.mlp_in": -8, "l0.hidden": 20})  # in range, but together they overflow int64
    with pytest.raises(MdlzipError):
        IntModel(w)
    w = random_int_weights()
    w.act_exp["resid"] = 99
    with pytest.raises(MdlzipError):
        IntModel(w)


def test_weight_step_follows_the_kept_weights():
    """Pruning a tensor leaves the grid of its surviving weights as it was."""
    torch.manual_seed(0)
    kept = torch.randn(8, 8)
    pruned = torch.cat([kept, torch.zeros(8, 56)], 1)
    assert weight_step(pruned, 0.5) == weight_step(kept, 0.5)
    mant, exp = weight_step(kept, 0.5)
    assert 128 <= mant <= 255 and mant * 2.0**-exp == pytest.approx(0.5 * float(kept.pow(2).mean().sqrt()), rel=0.01)
    assert weight_step(torch.zeros(4, 4), 1.0)[0] in range(128, 256)


def test_the_engine_checks_every_index_it_is_given():
    """No description can make the C engine read or write out of bounds: bad ones are refused."""
    from mdlzip.model._engine import Engine
    from mdlzip.model.int_model import _Plan

    plan = _Plan(random_int_weights())
    norm, head = plan.head
    emb = np.stack(plan.emb).astype(np.int32)
    args = (np.array(exp_table(), dtype=np.int32), TINY.d_model, TINY.window, TINY.n_prev, False, np.array(plan.emb_k, dtype=np.int32))
    Engine(*args, emb, plan.layers, plan.head, 1)  # the description as built
    bad_input = (head[0] + 1000, *head[1:])
    bad_output = (head[0], head[1] + 256, *head[2:])
    for description in ((emb, plan.layers, (norm, bad_input)), (emb, plan.layers, (norm, bad_output)), (emb[:1], plan.layers, plan.head)):
        with pytest.raises(ValueError, match="engine description"):
            Engine(*args, *description, 1)
