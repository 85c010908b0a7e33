"""MMF model (Fig. 2, Eq. 7), five-stage backbones, training and the top-down SVM baselines."""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.hierarchy import (MMFNet, ResNet50Stages, SmallFiveStageCNN, TopDownSVM, TrainSettings, VGG16Stages,
                                extract_features, make_backbone, mmf_loss, predict_classes, structure_from_groups,
                                train_mmf)
from mtlnotes.training import count_parameters

from tests.pattern_fixture import noisy_patterns


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread (tests/conftest.py)


def test_resnet50_parameter_counts_match_reference():
    # torchvision's resnet50 (ImageNet stem, 1000 classes) has 25,557,032 parameters
    assert count_parameters(MMFNet(ResNet50Stages(3, small_input=False), 1000)) == 25_557_032
    # CIFAR variant (3×3 stem, no max-pool) with 100 classes: 25,557,032 − 9,408 + 1,728 − 1,844,100
    assert count_parameters(MMFNet(ResNet50Stages(3, small_input=True), 100)) == 23_705_252


def test_vgg16_conv_parameters_match_reference():
    # torchvision's vgg16().features holds 14,714,688 conv parameters (configuration D)
    convs = [m for m in VGG16Stages(3).modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13
    assert sum(m.weight.numel() + m.bias.numel() for m in convs) == 14_714_688


@pytest.mark.parametrize("name,shape,sizes", [
    ("small_cnn", (2, 1, 28, 28), [7, 7, 3, 3, 3]),
    pytest.param("vgg16", (2, 3, 32, 32), [16, 8, 4, 2, 1], marks=pytest.mark.slow),
    pytest.param("resnet50", (2, 3, 8, 8), [8, 8, 4, 2, 1], marks=pytest.mark.slow),
])
def test_five_stages_and_branch_shapes(name, shape, sizes):
    torch.manual_seed(0)
    bb = make_backbone(name, shape[1])
    maps = bb(torch.rand(shape))
    assert len(maps) == 5 and [m.shape[-1] for m in maps] == sizes
    assert [m.shape[1] for m in maps] == list(bb.channels)
    net = MMFNet(bb, 10, [(4, 1), (3, 5)]).eval()
    ccb, sup = net(torch.rand(shape))
    assert ccb.shape == (2, 10) and [s.shape for s in sup] == [(2, 4), (2, 3)]


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="stage 6 out of range for a 5-stage backbone"):
        MMFNet(SmallFiveStageCNN(), 10, [(4, 6)])
    with pytest.raises(ValueError, match="unknown backbone"):
        make_backbone("alexnet", 3)
    with pytest.raises(ValueError, match="lambda = sum of lambda_m must be < 1"):
        mmf_loss(torch.zeros(1, 2), [torch.zeros(1, 2)] * 2, torch.tensor([0]), [torch.tensor([0])] * 2, [0.5, 0.5])
    with pytest.raises(ValueError, match="one of each per structure"):
        mmf_loss(torch.zeros(1, 2), [torch.zeros(1, 2)], torch.tensor([0]), [], [0.1])


def test_mmf_loss_hand_computed():
    ccb = torch.tensor([[0.0, 0.0]])  # CE = log 2
    sup1 = torch.tensor([[0.0, 0.0, 0.0, 0.0]])  # CE = log 4
    sup2 = torch.tensor([[2.0, 0.0]])  # target 0: CE = log(1 + e^-2)
    loss = mmf_loss(ccb, [sup1, sup2], torch.tensor([1]), [torch.tensor([3]), torch.tensor([0])], [0.1, 0.2])
    expected = 0.7 * np.log(2) + 0.1 * np.log(4) + 0.2 * np.log1p(np.exp(-2))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # λ = 0 with no branches is plain cross-entropy of the CCB ("w/o H")
    logits = torch.randn(5, 3)
    y = torch.tensor([0, 1, 2, 0, 1])
    assert mmf_loss(logits, [], y, [], []).item() == pytest.approx(F.cross_entropy(logits, y).item())


def test_branch_gradient_reaches_only_earlier_stages():
    torch.manual_seed(0)
    net = MMFNet(SmallFiveStageCNN(), 10, [(4, 2)])
    ccb, sup = net(torch.rand(4, 1, 28, 28))
    F.cross_entropy(sup[0], torch.tensor([0, 1, 2, 3])).backward()
    grads = [sum(p.grad.abs().sum().item() if p.grad is not None else 0.0 for p in st.parameters())
             for st in net.backbone.stages]
    assert grads[0] > 0 and grads[1] > 0 and grads[2:] == [0.0, 0.0, 0.0]
    assert net.ccb.weight.grad is None


def test_inference_uses_ccb_only():
    torch.manual_seed(0)
    with_branches = MMFNet(SmallFiveStageCNN(), 10, [(4, 1), (2, 3)]).eval()
    flat = MMFNet(SmallFiveStageCNN(), 10).eval()
    flat.load_state_dict({k: v for k, v in with_branches.state_dict().items() if not k.startswith("mscbs")})
    x = torch.rand(6, 1, 28, 28)
    assert torch.equal(with_branches.predict_logits(x), flat.predict_logits(x))
    assert torch.equal(with_branches(x)[0], with_branches.predict_logits(x))


def _toy(n=96, seed=0):
    return noisy_patterns(n, seed)


def test_training_learns_and_is_deterministic():
    x, y = _toy()
    h = structure_from_groups("h", [[0, 1], [2, 3]])
    settings = TrainSettings(epochs=5, batch_size=16, lr=2e-2)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = MMFNet(SmallFiveStageCNN(), 4, [(2, 2)])
        hist = train_mmf(net, x, y, [h.super_labels(y)], [0.2], settings, seed=3)
        runs.append((hist, predict_classes(net, x)))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert runs[0][0][-1] < runs[0][0][0]
    assert (runs[0][1] == y).float().mean() > 0.9
    assert extract_features(net, x).shape == (96, 32)


def test_training_resumes_from_saved_state(tmp_path):
    """Interrupted after its first epoch (the store's second save raises), a run resumed from the checkpoint with
    a fresh model ends exactly where an uninterrupted one does: weights, optimiser, schedule and generator."""
    from mtlnotes.checkpoint import CheckpointStore

    class Interrupt(Exception):
        pass

    class StopAfterOne(CheckpointStore):
        saves = 0

        def save_state(self, key, state):
            if self.saves == 1:
                raise Interrupt
            self.saves += 1
            super().save_state(key, state)

    x, y = _toy(48)
    settings = TrainSettings(epochs=3, batch_size=16, lr=1e-2, augment=True)
    torch.manual_seed(0)
    full = MMFNet(SmallFiveStageCNN(), 4)
    hist_full = train_mmf(full, x, y, [], [], settings, seed=1)
    torch.manual_seed(0)
    part = MMFNet(SmallFiveStageCNN(), 4)
    with pytest.raises(Interrupt):
        train_mmf(part, x, y, [], [], settings, seed=1, checkpoint=StopAfterOne(tmp_path), key="k")
    torch.manual_seed(123)  # a different fresh model: everything must come from the checkpoint
    resumed = MMFNet(SmallFiveStageCNN(), 4)
    hist = train_mmf(resumed, x, y, [], [], settings, seed=1, checkpoint=CheckpointStore(tmp_path), key="k")
    assert hist == hist_full
    assert torch.equal(resumed.predict_logits(x), full.predict_logits(x))


def _blobs(seed=0):
    """Six classes in three superclass groups of 2-D Gaussian blobs."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0], [0, 2], [6, 0], [6, 2], [0, 8], [2, 8]], dtype=float)
    y = np.repeat(np.arange(6), 40)
    return centers[y] + rng.normal(scale=0.5, size=(240, 2)), y


def test_topdown_greedy_and_nbest_path():
    h = structure_from_groups("h", [[0, 1], [2, 3], [4, 5]])
    x, y = _blobs()
    xt, yt = _blobs(1)
    greedy = TopDownSVM(h, n_best=1, seed=0).fit(x, y)
    pred = greedy.predict(xt)
    assert (pred == yt).mean() > 0.9
    assert (h.parent_array()[pred] == h.parent_array()[yt]).mean() > 0.98
    # Greedy = most probable superclass, then most probable subclass inside it
    ps, pc = greedy.superclass_proba(xt), greedy.conditional_proba(xt)
    assert np.allclose(pc[:, [0, 1]].sum(1), 1) and np.allclose(ps.sum(1), 1)
    s_hat = ps.argmax(1)
    manual = np.array([h.members(s)[int(np.argmax(pc[i, h.members(s)]))] for i, s in enumerate(s_hat)])
    assert np.array_equal(pred, manual)
    # N-Best-Path over all superclasses = argmax over every leaf of p(s|x) p(c|x, s)
    full = TopDownSVM(h, n_best=3, seed=0).fit(x, y)
    assert np.array_equal(full.predict(xt), (ps[:, h.parent_array()] * pc).argmax(1))
    with pytest.raises(ValueError, match="n_best must be in 1..3"):
        TopDownSVM(h, n_best=4)
    with pytest.raises(ValueError, match="class 5 has no training samples"):
        TopDownSVM(h).fit(x[y < 5], y[y < 5])


def test_nbest_path_differs_from_greedy_exactly_where_the_runner_up_ratio_exceeds_one():
    from mtlnotes.hierarchy.topdown import path_scores, runner_up_ratio
    parent = np.array([0, 0, 1, 1, 2, 2])                      # three superclasses of two members
    p_super = np.array([[0.45, 0.40, 0.15],                   # close superclasses, s1 unsure, s2 sure
                        [0.70, 0.25, 0.05],                   # p(s2) < p(s1)/2: no switch possible
                        [0.45, 0.40, 0.15]])
    p_cond = np.array([[0.5, 0.5, 0.9, 0.1, 0.5, 0.5],
                       [0.5, 0.5, 1.0, 0.0, 0.5, 0.5],
                       [0.9, 0.1, 0.6, 0.4, 0.5, 0.5]])
    ratio = runner_up_ratio(p_super, p_cond, parent, 2)
    # by hand: 0.40·0.9 / (0.45·0.5) = 1.6; 0.25·1.0 / (0.70·0.5) = 0.714…; 0.40·0.6 / (0.45·0.9) = 0.592…
    np.testing.assert_allclose(ratio, [1.6, 0.25 / 0.35, 0.24 / 0.405])
    greedy = path_scores(p_super, p_cond, parent, 1).argmax(1)
    nbest = path_scores(p_super, p_cond, parent, 2).argmax(1)
    assert greedy.tolist() == [0, 0, 0] and nbest.tolist() == [2, 0, 0]
    assert np.array_equal(greedy != nbest, ratio > 1)
    # the bound: ratio <= |s1| p(s2) / p(s1), so with two-member superclasses p(s2) <= p(s1)/2 rules a switch out
    assert np.all(ratio <= 2 * p_super[:, 1] / p_super[:, 0] + 1e-12)
    np.testing.assert_array_equal(runner_up_ratio(p_super, p_cond, parent, 1), 0.0)
    # and on fitted SVMs: NBPath(N=3) differs from Greedy exactly where the ratio exceeds 1
    h = structure_from_groups("h", [[0, 1], [2, 3], [4, 5]])
    x, y = _blobs()
    xt, _ = _blobs(1)
    g, n = TopDownSVM(h, n_best=1, seed=0).fit(x, y), TopDownSVM(h, n_best=3, seed=0).fit(x, y)
    assert np.array_equal(g.predict(xt) != n.predict(xt), n.runner_up_ratio(xt) > 1)
