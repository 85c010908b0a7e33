"""The multi-task training step (every method through one template), the peak-memory probe, and the chapter's
metrics (Δm%, mean rank) and toy problem."""

import copy
import dataclasses

import pytest
import torch
from torch import nn

from mtlnotes.experiments import nash_mtl
from mtlnotes.models import HardSharingNet, MLP
from mtlnotes.weighting import LS, GradDrop, NashMTL, make_method, nash_bargaining_weights
from mtlnotes.weighting.trainer import PeakMemory, multitask_step


def _setup(k=2, seed=0):
    torch.manual_seed(seed)
    model = HardSharingNet(MLP([5, 8, 4]), [nn.Linear(4, 1) for _ in range(k)]).double()
    x = torch.randn(16, 5, dtype=torch.float64)
    ys = [torch.randn(16, 1, dtype=torch.float64) for _ in range(k)]
    return model, x, ys, [nn.functional.mse_loss] * k


def _grads(model, method, x, ys, fns, engine="vmap"):
    opt = torch.optim.SGD(list(model.parameters()) + method.parameters(), lr=0.0)
    losses, weights = multitask_step(model, method, x, ys, fns, opt, gradient_engine=engine)
    return [p.grad.clone() for p in model.parameters()], losses, weights


def test_ls_step_is_plain_backward_of_the_sum():
    model, x, ys, fns = _setup()
    ref = copy.deepcopy(model)
    sum(f(h, y) for f, h, y in zip(fns, ref(x), ys)).backward()
    got, losses, weights = _grads(model, LS(), x, ys, fns)
    for g, p in zip(got, ref.parameters()):
        assert torch.allclose(g, p.grad)
    assert torch.equal(weights, torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("engine", ["auto", "layerwise", "vmap", "reference"])
def test_nash_step_sets_shared_and_head_gradients(engine):
    model, x, ys, fns = _setup()
    ref = copy.deepcopy(model)
    outs = ref(x)
    losses = [f(o, y) for f, o, y in zip(fns, outs, ys)]
    shared = list(ref.trunk.parameters())
    g = torch.stack([torch.cat([t.flatten() for t in torch.autograd.grad(l, shared, retain_graph=True)]) for l in losses])
    alpha = nash_bargaining_weights(g)
    d = alpha @ g
    got, _, weights = _grads(model, NashMTL(max_norm=None), x, ys, fns, engine)
    assert torch.allclose(weights, alpha)
    n_shared = len(shared)
    assert torch.allclose(torch.cat([t.flatten() for t in got[:n_shared]]), d, atol=1e-10)
    # head k receives alpha_k * grad L_k
    for k, head in enumerate(ref.heads):
        hg = torch.autograd.grad(losses[k], list(head.parameters()), retain_graph=True)
        start = n_shared + 2 * k
        for a, b in zip(got[start:start + 2], hg):
            assert torch.allclose(a, alpha[k] * b)


def test_nash_max_norm_clips_the_shared_update():
    model, x, ys, fns = _setup()
    got, _, _ = _grads(model, NashMTL(max_norm=1e-3), x, ys, fns)
    shared = torch.cat([t.flatten() for t in got[:len(list(model.trunk.parameters()))]])
    assert shared.norm().item() == pytest.approx(1e-3)


def test_nash_update_every_reuses_weights_without_gradients():
    model, x, ys, fns = _setup()
    nash = NashMTL(max_norm=None, update_every=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    _, w1 = multitask_step(model, nash, x, ys, fns, opt)
    _, w2 = multitask_step(model, nash, x, ys, fns, opt)
    assert torch.equal(w1, w2) and nash.n_solves == 1
    # the reused step is the weighted-loss backward
    ref = copy.deepcopy(model)
    sum(w * f(o, y) for w, f, o, y in zip(w1, fns, ref(x), ys)).backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert torch.allclose(p.grad, q.grad)
    multitask_step(model, nash, x, ys, fns, opt)
    assert nash.n_solves == 2


def test_graddrop_on_identical_tasks_equals_ls():
    # two copies of the same task: every coordinate agrees in sign, so GradDrop keeps everything
    model, x, ys, fns = _setup()
    ys = [ys[0], ys[0]]
    model.heads[1].load_state_dict(model.heads[0].state_dict())
    ls_model = copy.deepcopy(model)
    ls_grads, _, _ = _grads(ls_model, LS(), x, ys, fns)
    gd_grads, _, _ = _grads(model, GradDrop(seed=0), x, ys, fns)
    for a, b in zip(gd_grads, ls_grads):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("name", ["LS", "SI", "RLW", "DWA", "UW", "MGDA", "PCGrad", "CAGrad", "IMTL-G", "GradDrop", "Nash-MTL"])
def test_every_method_trains_and_is_deterministic(name):
    def train():
        model, x, ys, fns = _setup(k=3)
        method = make_method(name, 3, seed=1)
        opt = torch.optim.Adam(list(model.parameters()) + method.parameters(), lr=1e-2)
        first = None
        for _ in range(30):
            losses, _ = multitask_step(model, method, x, ys, fns, opt)
            first = losses if first is None else first
        return first, losses

    (a0, a1), (b0, b1) = train(), train()
    assert torch.equal(a1, b1)
    assert a1.sum() < a0.sum()


def test_step_rejects_mismatched_targets():
    model, x, ys, fns = _setup()
    with pytest.raises(ValueError, match="2 heads but got 1 targets"):
        multitask_step(model, LS(), x, ys[:1], fns[:1], torch.optim.SGD(model.parameters(), lr=0.1))


def test_peak_memory_counts_live_tensors():
    with PeakMemory() as mem:
        a = torch.zeros(1000, dtype=torch.float32)
        b = torch.zeros(500, dtype=torch.float64)
        del a, b
        c = torch.zeros(100)
    assert mem.peak == 4000 + 4000
    assert mem.live == 400
    del c


def test_delta_m_and_mean_rank_hand_computed():
    # STL (0.8, 0.5); method A (0.88, 0.45): Δm = −½ (0.1 − 0.1) · 100 = 0; B (0.84, 0.55): −½ (0.05 + 0.1) · 100
    vals = {"A": [0.88, 0.45], "B": [0.84, 0.55], "C": [0.80, 0.55]}
    dm = nash_mtl.delta_m(vals, [0.8, 0.5], [True, True])
    assert dm["A"] == pytest.approx(0.0, abs=1e-12) and dm["B"] == pytest.approx(-7.5)
    mr = nash_mtl.mean_rank(vals, [True, True])
    assert mr == {"A": (1 + 3) / 2, "B": (2 + 1.5) / 2, "C": (3 + 1.5) / 2}
    assert nash_mtl.mean_rank({"A": [1.0], "B": [2.0]}, [False]) == {"A": 1.0, "B": 2.0}


def test_toy_losses_known_points_and_batching():
    # for x2 → +∞ the losses are the log-valleys: loss 1 is minimal (−∞, clamped) where 0.5(−x1 − 7) = −1, x1 = −5
    x = torch.tensor([[-5.0, 50.0], [5.0, 50.0]], dtype=torch.float64)
    f = nash_mtl.toy_losses(x, scale=1.0)
    assert f.shape == (2, 2)
    assert f[0, 0].item() == pytest.approx(torch.log(torch.tensor(5e-6)).item() + 6, abs=1e-6)
    assert f[1, 1].item() == pytest.approx(torch.log(torch.tensor(5e-6)).item() + 6, abs=1e-6)
    assert torch.allclose(nash_mtl.toy_losses(x[0], 0.1), f[0] * torch.tensor([0.1, 1.0], dtype=torch.float64))


def test_toy_run_is_deterministic():
    cfg = dataclasses.replace(nash_mtl.QUICK, methods=("LS", "Nash-MTL"), toy_steps=150, toy_record_every=50)
    a, b = nash_mtl.run_toy(cfg), nash_mtl.run_toy(cfg)
    assert a == b
    assert len(a["Nash-MTL"]) == len(nash_mtl.TOY_STARTS)
    assert all(len(r["trajectory"]) == 4 for r in a["LS"])


def test_config_rejects_unknown_methods():
    with pytest.raises(ValueError, match="unknown methods"):
        nash_mtl.Config(profile="x", seeds=(0,), methods=("LS", "Adam"))


def test_paper_profile_fails_clearly_without_data(tmp_path, monkeypatch):
    from mtlnotes.data import DataMissingError

    monkeypatch.setenv("MTLNOTES_DATA", str(tmp_path))
    with pytest.raises(DataMissingError, match="dsgdb9nsd.xyz.tar.bz2"):
        nash_mtl.run(nash_mtl.PAPER)


def test_toy_summary_follows_the_runs():
    def runs(hits, n=5):
        return [{"on_front": i < hits} for i in range(n)]
    toy = {"LS": runs(0), "UW": runs(5), "MGDA": runs(1), "CAGrad": runs(0), "Nash-MTL": runs(5)}
    every, some, none = nash_mtl.toy_summary(toy, tuple(toy))
    assert every == ("Ended on the Pareto front from every start: loss weightings: UW (5/5); "
                     "gradient methods: Nash-MTL (5/5).")
    assert some == "Ended on the Pareto front from some starts: gradient methods: MGDA (1/5)."
    assert none == ("Ended on the Pareto front from no start: loss weightings: LS (0/5); "
                    "gradient methods: CAGrad (0/5).")
    assert nash_mtl.toy_summary({"LS": runs(0)}, ("LS",))[0].endswith("from every start: none.")


def test_update_directions_known_answers_for_orthogonal_gradients():
    """Fig. 2 helper. With orthogonal g_i: LS = Σ g_i; Nash-MTL solves α_i² ||g_i||² = 1, so its direction is
    Σ g_i / ||g_i|| (equal directional derivative per unit of each gradient's norm); MGDA's min-norm point
    has weights ∝ 1/||g_i||², so every g_iᵀΔ is equal."""
    g = torch.diag(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    d = nash_mtl.update_directions(g, ("LS", "MGDA", "Nash-MTL"))
    torch.testing.assert_close(d["LS"], torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    nash = d["Nash-MTL"] / d["Nash-MTL"].norm()                  # direction (the method rescales the update)
    torch.testing.assert_close(nash, torch.ones(3, dtype=torch.float64) / 3 ** 0.5, rtol=1e-6, atol=1e-8)
    u = g @ d["MGDA"]
    torch.testing.assert_close(u, u[0].expand(3), rtol=1e-6, atol=1e-8)
    assert set(nash_mtl.update_directions(torch.tensor(nash_mtl.FIG2_GRADS))) == {
        "LS", "MGDA", "PCGrad", "CAGrad", "IMTL-G", "Nash-MTL"}
