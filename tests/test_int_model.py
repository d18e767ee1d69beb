"""The integer engine: exact arithmetic, one result for every evaluation order and thread count."""

import hashlib

import pytest
import torch

from mdlzip.errors import MdlzipError
from mdlzip.model.config import BOS, ModelConfig
from mdlzip.model.float_model import weight_step
from mdlzip.model.int_model import IntModel, QTensor, div_round, isqrt, rshift_round
from mdlzip.model.tables import EXP_ONE, exp_table

from neural_helpers import TINY, random_float_model, random_int_weights


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


def run_chunks(model: IntModel, tokens: torch.Tensor, chunk: int) -> torch.Tensor:
    state = model.new_state(tokens.shape[0])
    return torch.cat([model.run(tokens[:, t : t + chunk], state) for t in range(0, tokens.shape[1], chunk)], 1)


@pytest.mark.parametrize("cfg", [TINY, ModelConfig(d_model=64, n_layer=1, n_head=4, d_ff=32, window=5, n_prev=0)])
@pytest.mark.parametrize("streams,length", [(1, 40), (3, 37), (7, 19)])
def test_batched_equals_stepwise(cfg, streams, length):
    model = IntModel(random_int_weights(cfg, seed=streams))
    tokens = torch.randint(0, 256, (streams, length), generator=torch.Generator().manual_seed(length))
    whole = run_chunks(model, tokens, length)
    assert whole.shape == (streams, length, 256) and whole.min() >= 1
    assert whole.sum(-1).max() < 1 << 24
    for chunk in (1, 3, cfg.window, cfg.window + 1):
        assert torch.equal(run_chunks(model, tokens, chunk), whole)


def test_streams_are_independent():
    """A stream's frequencies do not depend on which other streams share its batch."""
    model = IntModel(random_int_weights())
    tokens = torch.randint(0, 256, (5, 30), generator=torch.Generator().manual_seed(1))
    together = run_chunks(model, tokens, 30)
    for s in range(5):
        assert torch.equal(run_chunks(model, tokens[s : s + 1], 1)[0], together[s])


def test_thread_count_does_not_change_results():
    model = IntModel(random_int_weights(seed=3))
    tokens = torch.randint(0, 256, (4, 50), generator=torch.Generator().manual_seed(2))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = run_chunks(model, tokens, 50)
        torch.set_num_threads(2)
        two = run_chunks(model, tokens, 50)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


def test_integer_model_follows_float_model():
    """With fake-quant on, the float model is the integer model up to softmax rounding."""
    fmodel = random_float_model(seed=5)
    from mdlzip.model.convert import to_integer

    model = IntModel(to_integer(fmodel))
    tokens = torch.randint(0, 256, (2, 30), generator=torch.Generator().manual_seed(4))
    freqs = run_chunks(model, tokens, 30).double()
    int_logp = (freqs / freqs.sum(-1, keepdim=True)).log()
    with torch.no_grad():
        float_logp = fmodel(torch.cat([torch.full((2, TINY.n_prev), BOS), tokens], 1)).double().log_softmax(-1)
    probs = float_logp.exp()
    kl = (probs * (float_logp - int_logp)).sum(-1)
    assert kl.max() < 0.01  # nats


def test_hostile_weights_are_rejected():
    w = random_int_weights()
    w.weights["l0.w1"] = QTensor(torch.full_like(w.weights["l0.w1"].values, 30000), 255, -8)
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
