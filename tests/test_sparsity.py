"""Each sparsifier's penalty, gradient and final mask against the method's formulas."""

import math

import pytest
import torch

from mdlzip.model.config import ModelConfig
from mdlzip.model.float_model import ByteTransformer
from mdlzip.train import sparsity
from mdlzip.train.sparsity import hardconcrete, lq, magnitude, tamade
from mdlzip.train.sparsity.base import rms

CFG = ModelConfig(d_model=16, n_layer=1, n_head=1, d_ff=16, window=8, n_prev=1)


def setup(name: str):
    torch.manual_seed(0)
    model = ByteTransformer(CFG)
    sp = sparsity.make(name, model, steps=100)
    sp.start(0, 100)
    return model, sp


def grads(model, penalty):
    for layer in model.named_weights().values():
        layer.weight.grad = None
    penalty.backward()
    return {n: l.weight.grad for n, l in model.named_weights().items()}


def test_unknown_name_is_a_clean_error():
    from mdlzip.errors import MdlzipError

    with pytest.raises(MdlzipError):
        sparsity.make("nope", ByteTransformer(CFG), 1)


def test_drr_value_and_gradient():
    model, sp = setup("drr")
    layers = model.named_weights()
    expected = 0.0
    for n, l in layers.items():
        beta = 3.0 / float(rms(l.weight))
        expected += float((1 - torch.exp(-beta * l.weight.detach().abs())).sum())
    penalty = sp.penalty()
    assert float(penalty.detach()) == pytest.approx(expected, rel=1e-5)
    for n, g in grads(model, penalty).items():
        w, beta = layers[n].weight.detach(), 3.0 / float(rms(layers[n].weight))
        assert torch.allclose(g, beta * torch.sign(w) * torch.exp(-beta * w.abs()), rtol=1e-4, atol=1e-6)


def test_l1_value_and_gradient():
    model, sp = setup("l1")
    layers = model.named_weights()
    penalty = sp.penalty()
    assert float(penalty.detach()) == pytest.approx(sum(3.0 / float(rms(l.weight)) * float(l.weight.detach().abs().sum()) for l in layers.values()), rel=1e-5)
    for n, g in grads(model, penalty).items():
        assert torch.allclose(g, 3.0 / rms(layers[n].weight) * torch.sign(layers[n].weight.detach()), rtol=1e-4)


def test_pmmp_value_gradients_ascent_and_mask():
    model, sp = setup("pmmp")
    name, layer = "l0.w1", model.named_weights()["l0.w1"]
    with torch.no_grad():
        sp.w[name].mul_(0.5)
        sp.gamma[name].fill_(0.7)
        sp.u[name].fill_(2.0)
    theta, w, g, u, s = layer.weight.detach(), sp.w[name].detach(), 0.7, 2.0, float(sp.scale[name])
    r = theta - w * g
    penalty = sp.penalty()
    # Every other tensor still sits at gamma = 1, w = theta, u = 0: one unit per live weight.
    others = sum(float(l.mask.sum()) for n, l in model.named_weights().items() if n != name)
    expected = float((u * s * (r**2 + w**2 * g * (1 - g))).sum()) + g * theta.numel() + others
    assert float(penalty.detach()) == pytest.approx(expected, rel=1e-5)
    penalty.backward()
    assert torch.allclose(layer.weight.grad, 2 * u * s * r, rtol=1e-4, atol=1e-7)
    assert torch.allclose(sp.gamma[name].grad, u * s * (-2 * r * w + w**2 * (1 - 2 * g)) + 1, rtol=1e-4, atol=1e-6)
    violation = r**2 + w**2 * g * (1 - g)
    assert torch.allclose(sp.u[name].grad, s * violation, rtol=1e-4, atol=1e-9)
    before = sp.u[name].detach().clone()
    sp.after_step(0)  # gradient ascent on u where the constraint is violated
    assert bool((sp.u[name] >= before).all()) and bool((sp.u[name] > before)[violation > 0].all())
    with torch.no_grad():
        sp.gamma[name].copy_(torch.rand_like(sp.gamma[name]))
    scores = sp.scores()[name]
    assert torch.equal(scores > 0, (sp.gamma[name] > 0.5) & (layer.weight != 0))


def test_hardconcrete_penalty_gates_and_folding():
    model, sp = setup("hardconcrete")
    layers = model.named_weights()
    shift = hardconcrete.BETA * math.log(-hardconcrete.GAMMA / hardconcrete.ZETA)
    assert shift == pytest.approx(-1.599, abs=1e-3)
    penalty = sp.penalty()
    assert float(penalty.detach()) == pytest.approx(sum(float(torch.sigmoid(la.detach() - shift).sum()) for la in sp.log_alpha.values()), rel=1e-5)
    penalty.backward()
    la = sp.log_alpha["head"]
    sig = torch.sigmoid(la.detach() - shift)
    assert torch.allclose(la.grad, sig * (1 - sig), rtol=1e-4)
    with torch.no_grad():
        la.copy_(torch.linspace(-6, 6, la.numel()).view_as(la))
    model.eval()
    expected_gate = (torch.sigmoid(la.detach()) * (hardconcrete.ZETA - hardconcrete.GAMMA) + hardconcrete.GAMMA).clamp(0, 1)
    weight = layers["head"].weight.detach().clone()
    assert torch.allclose(layers["head"].gate(), expected_gate)
    sp.finish()
    assert layers["head"].gate is None
    assert torch.allclose(layers["head"].weight, weight * expected_gate)
    assert bool((layers["head"].weight[expected_gate == 0] == 0).all())


def test_magnitude_follows_its_schedule_to_the_final_density():
    model, sp = setup("magnitude")
    before = {n: l.weight.detach().abs().clone() for n, l in model.named_weights().items()}
    for step in range(100):
        sp.after_step(step)  # no training in between, so each event prunes the smallest survivors
    for n, l in model.named_weights().items():  # the threshold is global, the scale per tensor
        kept, dropped = before[n][l.mask == 1], before[n][l.mask == 0]
        if kept.numel() and dropped.numel():
            assert float(kept.min()) >= float(dropped.max())
    masks = torch.cat([l.mask.flatten() for l in model.named_weights().values()])
    assert float(masks.mean()) == pytest.approx(magnitude.FINAL_DENSITY, abs=0.01)


def test_lq_keep_counts_and_pruning():
    d = 16
    flat = torch.ones(1, d)
    one_hot = torch.zeros(1, d)
    one_hot[0, 3] = 5.0
    full = torch.ones(1, d)
    assert lq.keep_counts(flat, full).item() == d  # a flat row keeps everything
    assert lq.keep_counts(one_hot, full).item() == 1  # a 1-sparse row keeps one
    w = torch.tensor([[0.1, -5.0, 0.2, 4.0, -0.05, 3.0, 0.01, 0.3]])
    mask = torch.ones_like(w)
    m = lq.keep_counts(w, mask)
    a = w.abs()
    si = (a.mean() / a.pow(lq.Q).mean().pow(1 / lq.Q)).item()
    assert m.item() == math.ceil(8 * si ** (lq.Q / (lq.Q - 1)))
    new = lq.prune_rows(w, mask)
    drop = math.floor(8 * min(lq.C * (1 - m.item() / 8), lq.MAX_FRACTION))
    assert int(new.sum()) == 8 - drop
    assert set(torch.nonzero(new[0] == 0).flatten().tolist()) == set(a[0].argsort()[:drop].tolist())  # the smallest go


def test_none_has_no_penalty():
    model, sp = setup("none")
    assert float(sp.penalty().detach()) == 0.0


def test_tamade_finds_the_minimum_of_a_non_monotone_codelength():
    cost = lambda t: (t - 1.3) ** 2 + 0.2 * math.sin(8 * t)  # noqa: E731
    best, bits = tamade.search(cost, hi=4.0)
    true = min((cost(t / 1000), t / 1000) for t in range(4000))
    assert bits <= true[0] + 0.02
