"""Known-answer tests for mtlnotes.auxiliary: masked softmax (Eqs. 5-6), focal loss, Eq. 3's entropy, Eq. 8,
the networks (App. C.1) and the MAXL update."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from mtlnotes.auxiliary import (MAXL, AuxNet, LabelNet, N_WEIGHT_BINS, auxiliary_objective, batch_entropy,
                                expand_sublabels, focal_loss, hierarchy_mask, masked_log_softmax, masked_softmax,
                                random_crop_flip, scale_weight, train_step, vgg16_trunk, weight_from_bin)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread (tests/conftest.py)



# ---- masked softmax (Eqs. 5-6) -------------------------------------------------------------------------------
def test_masked_softmax_hand_values():
    z = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    p = masked_softmax(z, torch.tensor([1, 0]), psi=2)
    e3, e4 = math.exp(3), math.exp(4)
    expected = torch.tensor([[0, 0, e3 / (e3 + e4), e4 / (e3 + e4)],
                             [math.exp(1) / (math.exp(1) + math.exp(2)), math.exp(2) / (math.exp(1) + math.exp(2)), 0, 0]])
    torch.testing.assert_close(p, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_softmax_support_and_normalisation(dtype):
    gen = torch.Generator().manual_seed(0)
    n_primary, psi = 20, 5
    z = torch.randn(64, n_primary * psi, generator=gen, dtype=dtype) * 3
    y = torch.randint(0, n_primary, (64,), generator=gen)
    p = masked_softmax(z, y, psi)
    mask = hierarchy_mask(y, n_primary, psi)
    assert mask.sum(1).eq(psi).all()
    assert (p[~mask] == 0).all()  # exactly zero off the support
    assert (p[mask] > 0).all()
    torch.testing.assert_close(p.sum(1), torch.ones(64, dtype=dtype))
    # the reference formula exp(z) m / sum exp(z) m where it does not overflow
    ref = torch.exp(z) * mask / (torch.exp(z) * mask).sum(1, keepdim=True)
    torch.testing.assert_close(p, ref)


def test_masked_softmax_stable_at_large_logits():
    z = torch.tensor([[1000.0, 999.0, -1000.0, 5000.0], [-5000.0, -4999.0, 1e4, 1e4]])
    y = torch.tensor([0, 0])
    with torch.no_grad():
        naive = torch.exp(z) * hierarchy_mask(y, 2, 2) / (torch.exp(z) * hierarchy_mask(y, 2, 2)).sum(1, keepdim=True)
    assert torch.isnan(naive).any()  # the reference implementation's formula overflows here
    z.requires_grad_(True)
    p = masked_softmax(z, y, 2)
    s = 1 / (1 + math.exp(-1))
    torch.testing.assert_close(p.detach(), torch.tensor([[s, 1 - s, 0, 0], [1 - s, s, 0, 0]]))
    (p[:, 0]).sum().backward()
    assert torch.isfinite(z.grad).all()


def test_masked_log_softmax_is_log_of_masked_softmax():
    z = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    logp = masked_log_softmax(z, y, 2)
    assert torch.isneginf(logp[~hierarchy_mask(y, 3, 2)]).all()
    torch.testing.assert_close(logp.exp(), masked_softmax(z, y, 2))


def test_masked_softmax_bad_input():
    with pytest.raises(ValueError, match="not a multiple of psi"):
        masked_softmax(torch.zeros(2, 7), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="primary label 3 out of range for 3 primary classes"):
        masked_softmax(torch.zeros(2, 6), torch.tensor([0, 3]), 2)
    with pytest.raises(ValueError, match="psi"):
        masked_softmax(torch.zeros(2, 6), torch.tensor([0, 1]), 0)
    with pytest.raises(ValueError, match="primary_labels must be"):
        masked_softmax(torch.zeros(2, 6), torch.tensor([0, 1, 1]), 2)


def test_expand_sublabels():
    assert expand_sublabels(torch.tensor([0, 4, 2]), torch.tensor([0, 3, 19]), 5).tolist() == [0, 19, 97]
    with pytest.raises(ValueError, match="out of range for psi = 5"):
        expand_sublabels(torch.tensor([5]), torch.tensor([0]), 5)


# ---- focal loss and entropy --------------------------------------------------------------------------------
def test_focal_loss_hand_values():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p = (0.25, 0.75)
    torch.testing.assert_close(focal_loss(logits, torch.tensor([1]), 2.0), torch.tensor([-(0.25 ** 2) * math.log(0.75)]))
    torch.testing.assert_close(focal_loss(logits, torch.tensor([0]), 2.0), torch.tensor([-(0.75 ** 2) * math.log(0.25)]))
    soft = torch.tensor([[0.5, 0.5]])
    expected = -(0.5 * 0.75 ** 2 * math.log(0.25) + 0.5 * 0.25 ** 2 * math.log(0.75))
    torch.testing.assert_close(focal_loss(logits, soft, 2.0), torch.tensor([expected]))


def test_focal_loss_gamma_zero_is_cross_entropy_and_soft_onehot_matches_hard():
    gen = torch.Generator().manual_seed(2)
    logits, target = torch.randn(16, 7, generator=gen), torch.randint(0, 7, (16,), generator=gen)
    torch.testing.assert_close(focal_loss(logits, target, 0.0), F.cross_entropy(logits, target, reduction="none"))
    torch.testing.assert_close(focal_loss(logits, F.one_hot(target, 7).float(), 2.0), focal_loss(logits, target, 2.0))
    # soft targets with zeros where the model puts (almost) no mass stay finite
    assert torch.isfinite(focal_loss(torch.tensor([[1e4, -1e4]]), torch.tensor([[1.0, 0.0]]))).all()
    with pytest.raises(ValueError, match="gamma"):
        focal_loss(logits, target, -1.0)
    with pytest.raises(ValueError, match="out of range"):
        focal_loss(logits, torch.full((16,), 7), 2.0)


def test_batch_entropy():
    k = 6
    torch.testing.assert_close(batch_entropy(torch.eye(k)), torch.tensor(math.log(k)))
    assert float(batch_entropy(F.one_hot(torch.zeros(10, dtype=torch.long), k).float())) == 0.0
    p = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])  # mean (0.25, 0.5, 0.25)
    torch.testing.assert_close(batch_entropy(p), torch.tensor(-(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))))


# ---- Eq. 8 -------------------------------------------------------------------------------------------------
def test_eq8_weight_mapping():
    w = weight_from_bin(torch.arange(N_WEIGHT_BINS))
    assert N_WEIGHT_BINS == 21
    torch.testing.assert_close(w[[0, 10, 20]], torch.tensor([2.0 ** -5, 1.0, 2.0 ** 5]))
    torch.testing.assert_close(torch.log2(w), torch.arange(21, dtype=torch.float32) * 0.5 - 5)  # bins 0.05 apart
    torch.testing.assert_close(scale_weight(torch.tensor([0.0, 0.25, 1.0])), torch.tensor([1 / 32, 2 ** -2.5, 32.0]))
    with pytest.raises(ValueError, match="out of range for 21 bins"):
        weight_from_bin(21)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        scale_weight(torch.tensor([1.5]))


# ---- networks and training ---------------------------------------------------------------------------------
def test_vgg16_variant_shapes():
    trunk = vgg16_trunk(3)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in trunk.modules()) == 13
    net = AuxNet("vgg16", (3, 32, 32), 20, 100, hidden=512)
    p, a = net(torch.zeros(2, 3, 32, 32))
    assert p.shape == (2, 20) and a.shape == (2, 100)
    heads = [m for m in net.primary_head if isinstance(m, torch.nn.Linear)]
    assert [(h.in_features, h.out_features) for h in heads] == [(512, 512), (512, 20)]  # App. C.1


def test_small_net_and_label_net_shapes():
    net = AuxNet("small", (1, 28, 28), 5, 10, hidden=32)
    p, a = net(torch.zeros(3, 1, 28, 28))
    assert p.shape == (3, 5) and a.shape == (3, 10)
    ln = LabelNet("small", (1, 28, 28), 5, 2, hidden=32, weight_aware=True)
    logp, w = ln(torch.rand(3, 1, 28, 28), torch.tensor([0, 4, 2]))
    assert torch.isneginf(logp[0, 2:]).all() and torch.isfinite(logp[1, 8:]).all()
    assert w.shape == (3,) and ((w > 0) & (w < 1)).all()
    with pytest.raises(ValueError, match="unknown architecture"):
        AuxNet("resnet", (1, 28, 28), 5, 10)


def test_auxiliary_objective_eq2_and_eq7():
    gen = torch.Generator().manual_seed(3)
    p, a = torch.randn(4, 3, generator=gen), torch.randn(4, 6, generator=gen)
    y, t = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 3, 5, 1])
    ce, fl = F.cross_entropy(p, y, reduction="none"), focal_loss(a, t)
    torch.testing.assert_close(auxiliary_objective(p, a, y, None), ce.mean())
    torch.testing.assert_close(auxiliary_objective(p, a, y, t, 0.5), (ce + 0.5 * fl).mean())
    lam = torch.tensor([1.0, 2.0, 0.0, 4.0])
    torch.testing.assert_close(auxiliary_objective(p, a, y, t, lam), (ce + lam * fl).mean())


def _tiny(seed=0, n=16):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def test_maxl_step_main_update_equals_plain_step_with_generated_labels():
    torch.manual_seed(0)
    x, y = _tiny()
    main, ln = AuxNet("small", (1, 28, 28), 3, 6, hidden=16), LabelNet("small", (1, 28, 28), 3, 2, hidden=16)
    main2, ln_before = copy.deepcopy(main), copy.deepcopy(ln)
    opt = torch.optim.SGD(main.parameters(), lr=0.1, momentum=0.9)
    maxl = MAXL(main, ln, opt, torch.optim.SGD(ln.parameters(), lr=0.1), aux_weight=1.0)
    target, _ = maxl.labels(x, y)
    out = maxl.step(x, y)
    # the meta step must not touch the main network (nor its BatchNorm statistics)
    opt2 = torch.optim.SGD(main2.parameters(), lr=0.1, momentum=0.9)
    train_step(main2, opt2, x, y, target, 1.0)
    for a, b in zip(main.state_dict().values(), main2.state_dict().values()):
        torch.testing.assert_close(a, b)
    # ... while the label network learns through the second-order meta gradient
    # (conv biases before BatchNorm get exactly zero gradient, so check the head's and the conv weights)
    assert all(not torch.equal(a, b) for a, b in zip(ln.label_head.parameters(), ln_before.label_head.parameters()))
    convs = [m.weight for m in ln.trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    convs0 = [m.weight for m in ln_before.trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(not torch.equal(a, b) for a, b in zip(convs, convs0))
    assert 0 <= out["label_entropy"] <= math.log(6) + 1e-6


def test_maxl_meta_gradient_is_second_order():
    """With a linear main network the meta-gradient can be written by hand: after theta' = theta - a*g(phi),
    d L_pri(theta')/d phi = -a * (dL_pri/dtheta')^T (d g / d phi). Check autograd's value against it."""
    torch.manual_seed(1)
    x, y = _tiny(n=8)
    main, ln = AuxNet("small", (1, 28, 28), 3, 6, hidden=8), LabelNet("small", (1, 28, 28), 3, 2, hidden=8)
    maxl = MAXL(main, ln, torch.optim.SGD(main.parameters(), lr=0.5), torch.optim.SGD(ln.parameters(), lr=0.0),
                entropy_weight=0.0)
    main.eval()  # fixed BN statistics so the functional forward is a plain function of the parameters
    ln.eval()
    from torch.func import functional_call
    params = {k: v.detach().clone().requires_grad_(True) for k, v in main.named_parameters()}
    buffers = dict(main.named_buffers())
    phi = list(ln.parameters())
    logp, _ = ln(x, y)

    def inner(ps, probs):
        p, a = functional_call(main, (ps, buffers), (x,))
        return auxiliary_objective(p, a, y, probs)

    g = torch.autograd.grad(inner(params, logp.exp()), list(params.values()), create_graph=True)
    fast = {k: v - 0.5 * gi for (k, v), gi in zip(params.items(), g)}
    outer = F.cross_entropy(functional_call(main, (fast, buffers), (x,))[0], y)
    auto = torch.autograd.grad(outer, phi[-1], retain_graph=True)[0]
    # hand: v = dL/dtheta' (treated as constant), then -a * d(v . g(phi))/dphi
    v = torch.autograd.grad(outer, list(fast.values()), retain_graph=True, allow_unused=True)
    dot = sum((vi.detach() * gi).sum() for vi, gi in zip(v, g) if vi is not None)
    hand = -0.5 * torch.autograd.grad(dot, phi[-1])[0]
    torch.testing.assert_close(auto, hand)
    assert auto.abs().sum() > 0


def test_maxl_step_label_update_is_the_second_order_meta_gradient():
    """``MAXL.step`` itself: with the entropy term off, the label network's SGD step (lr 1) must equal minus
    the hand second-order meta-gradient -a * d(v . g(phi))/dphi (v = dL_pri/dtheta' held constant) at the main
    network's post-update parameters. Without ``create_graph`` in the inner gradient the meta objective does
    not depend on phi at all, the label network does not move and this fails."""
    torch.manual_seed(2)
    x, y = _tiny(n=8)
    main, ln = AuxNet("small", (1, 28, 28), 3, 6, hidden=8), LabelNet("small", (1, 28, 28), 3, 2, hidden=8)
    ln_ref = copy.deepcopy(ln)
    a = 0.5
    maxl = MAXL(main, ln, torch.optim.SGD(main.parameters(), lr=a), torch.optim.SGD(ln.parameters(), lr=1.0),
                entropy_weight=0.0)
    maxl.step(x, y)
    # the main network is now at theta_1 (the step's first update, checked by the test above); rebuild the meta
    # gradient there by hand, in the same modes the step uses (train-mode BatchNorm, copied buffers)
    main.train()
    ln_ref.train()
    from torch.func import functional_call
    params = {k: v.detach().clone().requires_grad_(True) for k, v in main.named_parameters()}
    buffers = {k: v.clone() for k, v in main.named_buffers()}
    phi = list(ln_ref.parameters())
    logp, _ = ln_ref(x, y)
    p, aux = functional_call(main, (params, buffers), (x,))
    g = torch.autograd.grad(auxiliary_objective(p, aux, y, logp.exp()), list(params.values()), create_graph=True,
                            allow_unused=True)
    fast = {k: (v - a * gi if gi is not None else v) for (k, v), gi in zip(params.items(), g)}
    outer = F.cross_entropy(functional_call(main, (fast, buffers), (x,))[0], y)
    v = torch.autograd.grad(outer, list(fast.values()), allow_unused=True)
    dot = sum((vi.detach() * gi).sum() for vi, gi in zip(v, g) if vi is not None and gi is not None)
    hand = torch.autograd.grad(dot, phi, allow_unused=True)
    moved = False
    for after, before, h in zip(ln.parameters(), ln_ref.parameters(), hand):
        expected = before.detach() if h is None else before.detach() + a * h  # phi - 1.0 * (-a * d(v.g)/dphi)
        torch.testing.assert_close(after.detach(), expected, rtol=1e-4, atol=1e-6)
        moved |= h is not None and bool(h.abs().sum() > 0)
    assert moved


def test_maxl_rejects_mismatched_networks():
    main, ln = AuxNet("small", (1, 28, 28), 3, 9, hidden=8), LabelNet("small", (1, 28, 28), 3, 2, hidden=8)
    with pytest.raises(ValueError, match="auxiliary head has 9"):
        MAXL(main, ln, torch.optim.SGD(main.parameters(), lr=0.1), torch.optim.SGD(ln.parameters(), lr=0.1))


class _FixedLogits(torch.nn.Module):
    """A 'main network' whose primary head returns the given logits row by row."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor):
        return self.logits[x.long().flatten()], None


def test_precision_recall_f1_hand_values():
    """y = [0, 0, 1, 1], predictions [0, 1, 1, 1]: class 0 P 1, R 1/2, F1 2/3; class 1 P 2/3, R 1, F1 4/5;
    macro averages 5/6, 3/4, 11/15 (App. A.3)."""
    from mtlnotes.auxiliary.trainer import precision_recall_f1
    model = _FixedLogits(torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 2.0]]))
    m = precision_recall_f1(model, torch.arange(4).float(), torch.tensor([0, 0, 1, 1]), batch_size=3)
    assert m["precision"] == pytest.approx(5 / 6) and m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(11 / 15)
