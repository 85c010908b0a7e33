"""mtlnotes.segmentation: Lovász-Softmax, edge targets, metrics, GAM/LEDM/GLUNet, the multi-task loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.classification import BinaryAUROC, BinaryJaccardIndex

from mtlnotes.segmentation import (GAM, GLUNet, edge_targets, glunet_loss, lovasz_grad, lovasz_softmax, make_model,
                                   segmentation_scores)

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- Lovász-Softmax (Eqs. 4–5)

def test_lovasz_softmax_hand_computed_two_pixels():
    # labels [1, 0]; p(class 1) = [0.8, 0.4].
    # class 1: errors [0.2, 0.4] → sorted labels [0, 1] → Jaccard increments [0.5, 0.5] → 0.4·0.5 + 0.2·0.5 = 0.3
    # class 0: errors [0.2, 0.4] → sorted labels [1, 0] → increments [1, 0]     → 0.4·1 + 0.2·0 = 0.4
    p1 = torch.tensor([0.8, 0.4], dtype=torch.float64)
    probas = torch.stack([1 - p1, p1]).reshape(1, 2, 1, 2)
    labels = torch.tensor([[[1, 0]]])
    assert lovasz_softmax(probas, labels).item() == pytest.approx(0.35)


def test_lovasz_grad_hand_case():
    assert lovasz_grad(torch.tensor([0.0, 1.0])).tolist() == [0.5, 0.5]
    assert lovasz_grad(torch.tensor([1.0, 0.0])).tolist() == [1.0, 0.0]


def test_lovasz_equals_one_minus_jaccard_on_hard_predictions():
    # the Lovász extension is exact on the vertices of the cube: one-hot probabilities give mean_c (1 − IoU_c)
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (1, 5, 6), generator=gen)
    pred = torch.randint(0, 2, (1, 5, 6), generator=gen)
    probas = torch.nn.functional.one_hot(pred, 2).permute(0, 3, 1, 2).double()
    ious = [((pred == c) & (labels == c)).sum() / ((pred == c) | (labels == c)).sum() for c in (0, 1)]
    assert lovasz_softmax(probas, labels).item() == pytest.approx(1 - float(sum(ious)) / 2)


def test_lovasz_perfect_prediction_is_zero_and_images_are_averaged():
    labels = torch.tensor([[[0, 1], [1, 1]], [[0, 0], [0, 1]]])
    perfect = torch.nn.functional.one_hot(labels, 2).permute(0, 3, 1, 2).double()
    assert lovasz_softmax(perfect, labels).item() == 0.0
    gen = torch.Generator().manual_seed(1)
    probas = torch.softmax(torch.randn(2, 2, 2, 2, generator=gen, dtype=torch.float64), 1)
    each = [lovasz_softmax(probas[i:i + 1], labels[i:i + 1]) for i in range(2)]
    assert lovasz_softmax(probas, labels).item() == pytest.approx(float(sum(each)) / 2)
    assert lovasz_softmax(probas, labels, per_image=False).item() != pytest.approx(float(sum(each)) / 2)


def test_lovasz_present_classes_skip_absent_ones():
    labels = torch.zeros(1, 2, 2, dtype=torch.long)  # background only
    probas = torch.softmax(torch.randn(1, 2, 2, 2, dtype=torch.float64), 1)
    present = lovasz_softmax(probas, labels, classes="present")
    every = lovasz_softmax(probas, labels, classes="all")
    # the absent class contributes max error (sorted errors times a one-hot increment): "all" averages it in
    assert every.item() == pytest.approx((present.item() + probas[0, 1].max().item()) / 2)


def test_lovasz_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 2, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 2, (2, 2, 3), generator=gen)
    assert torch.autograd.gradcheck(lambda z: lovasz_softmax(torch.softmax(z, 1), labels), (logits,))


def test_lovasz_bad_input():
    with pytest.raises(ValueError, match="B, C, H, W"):
        lovasz_softmax(torch.rand(2, 3, 3), torch.zeros(2, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must be"):
        lovasz_softmax(torch.rand(1, 2, 3, 3), torch.zeros(1, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="lie in"):
        lovasz_softmax(torch.rand(1, 2, 3, 3), torch.full((1, 3, 3), 2))


# ---------------------------------------------------------------- edge targets

def test_edge_targets_of_a_square_are_its_inner_ring():
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:5, 1:5] = True
    expected = mask.copy()
    expected[2:4, 2:4] = False
    assert (edge_targets(mask) == expected).all()
    assert edge_targets(mask, width=2).sum() == 16  # a 4×4 square is all edge at width 2


def test_edge_targets_separate_touching_instances():
    labels = np.zeros((3, 6), dtype=np.int32)
    labels[:, 0:3], labels[:, 3:6] = 1, 2  # two objects touching along a column, filling the frame
    edges = edge_targets(labels)
    assert edges[:, 2].all() and edges[:, 3].all()  # the shared border
    assert not edges[:, [0, 1, 4, 5]].any()  # the frame is not an edge
    assert not edge_targets(labels > 0).any()  # as one binary mask there is no border at all


def test_edge_targets_keep_type_and_batch_shape():
    t = torch.zeros(2, 5, 5, dtype=torch.long)
    t[0, 1:4, 1:4] = 1
    out = edge_targets(t)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5, 5) and out[0].sum() == 8 and out[1].sum() == 0
    with pytest.raises(ValueError, match="width"):
        edge_targets(t, width=0)


# ---------------------------------------------------------------- metrics

def test_scores_on_hand_masks():
    prob = np.array([[0.9, 0.8, 0.3, 0.05], [0.6, 0.1, 0.5, 0.2]])
    target = np.array([[1, 1, 1, 0], [0, 0, 0, 0]])
    s = segmentation_scores(prob, target)  # TP 2, FN 1, FP 1, TN 4 (0.5 is not > 0.5); AUC: 13 of 15 pairs ordered
    assert (s.IoU, s.F1, s.SE, s.SP, s.ACC, s.AUC) == pytest.approx((2 / 4, 4 / 6, 2 / 3, 4 / 5, 6 / 8, 13 / 15))
    perfect = segmentation_scores(np.array([0.9, 0.1, 0.7]), np.array([1, 0, 1]))
    assert perfect.as_dict() == {"IoU": 1.0, "F1": 1.0, "SE": 1.0, "SP": 1.0, "ACC": 1.0, "AUC": 1.0}


def test_scores_agree_with_torchmetrics():
    gen = torch.Generator().manual_seed(0)
    prob = torch.rand(3, 8, 8, generator=gen)
    target = (torch.rand(3, 8, 8, generator=gen) < prob).long()
    s = segmentation_scores(prob, target)
    assert s.IoU == pytest.approx(BinaryJaccardIndex(threshold=0.5)(prob, target).item(), abs=1e-6)
    assert s.AUC == pytest.approx(BinaryAUROC()(prob, target).item(), abs=1e-6)


def test_scores_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        segmentation_scores(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="probabilities"):
        segmentation_scores(np.full((2, 2), 1.5), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="0/1"):
        segmentation_scores(np.zeros((2, 2)), np.full((2, 2), 2))


# ---------------------------------------------------------------- model and loss

def test_gam_keeps_shape_and_is_identity_plus_residual():
    torch.manual_seed(0)
    gam = GAM(4, 1, 1).eval()
    f = torch.randn(2, 4, 8, 8)
    out = gam(f)
    assert out.shape == f.shape
    assert torch.allclose(out - f, gam.after(gam.cbam(gam.before(f))), atol=1e-6)  # Eq. 2: F + A_G


def test_glunet_shapes_and_ablation_flags():
    x = torch.randn(2, 3, 32, 32)
    seg, edge = GLUNet(width=4, depth=4)(x)
    assert seg.shape == (2, 2, 32, 32) and edge.shape == (2, 2, 32, 32)
    seg, edge = GLUNet(width=4, depth=4, use_ledm=False)(x)
    assert edge is None
    n_plain = sum(p.numel() for p in make_model("U-Net", width=4, depth=4).parameters())
    n_gam = sum(p.numel() for p in make_model("U-Net + GAM", width=4, depth=4).parameters())
    assert n_gam > n_plain
    with pytest.raises(ValueError, match="divisible by 8"):
        GLUNet(width=4, depth=4)(torch.randn(1, 3, 30, 32))
    with pytest.raises(ValueError, match="unknown model"):
        make_model("SegNet")


@pytest.mark.parametrize("name", ["Attention U-Net", "U-Net++"])
def test_monai_baselines_return_two_class_logits(name):
    seg, edge = make_model(name, width=4)(torch.randn(1, 3, 32, 32))
    assert seg.shape == (1, 2, 32, 32) and edge is None


def _grads(lam: float):
    torch.manual_seed(0)
    model = GLUNet(width=4, depth=3)
    x = torch.randn(2, 3, 16, 16)
    mask = (torch.rand(2, 16, 16) > 0.6).long()
    seg, edge_logits = model(x)
    loss, parts = glunet_loss(seg, mask, edge_logits, edge_targets(mask).long(), lam=lam)
    loss.backward()
    return model, loss, parts


def test_edge_head_receives_gradient_from_the_edge_loss():
    model, loss, parts = _grads(0.7)
    assert loss.item() == pytest.approx(0.7 * parts["seg"] + 0.3 * parts["edge"])  # Eq. 6
    assert model.ledm.edge_head.weight.grad.abs().sum() > 0
    # with λ = 1 the edge loss is off and the edge head gets exactly nothing
    model, _, _ = _grads(1.0)
    assert model.ledm.edge_head.weight.grad is None or model.ledm.edge_head.weight.grad.abs().sum() == 0
    # with λ = 0 only the edge loss trains: it reaches the first encoder level, not the segmentation head
    model, _, _ = _grads(0.0)
    assert model.encoders[0][0][0].weight.grad.abs().sum() > 0
    assert model.head.weight.grad is None or model.head.weight.grad.abs().sum() == 0


def test_loss_bad_input_and_no_edge_head():
    seg = torch.randn(1, 2, 4, 4)
    mask = torch.zeros(1, 4, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="λ"):
        glunet_loss(seg, mask, lam=1.5)
    with pytest.raises(ValueError, match="edge targets"):
        glunet_loss(seg, mask, torch.randn(1, 2, 4, 4), None)
    loss, parts = glunet_loss(seg, mask)
    assert loss.item() == pytest.approx(parts["seg"])


def test_training_step_is_deterministic():
    def one_step() -> float:
        model, loss, _ = _grads(0.7)
        return loss.item(), model.encoders[0][0][0].weight.grad.sum().item()

    assert one_step() == one_step()
