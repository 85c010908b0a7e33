"""The per-task gradient engine: reference and fast paths agree, known answers, bad input."""

import pytest
import torch
from torch import nn

from mtlnotes.gradients import (assign_gradient, gram_matrix, per_task_gradients, representation_gradients,
                                shared_trunk_gradients)
from mtlnotes.models import MultiLeNetEncoder


def test_known_answer_quadratic():
    # L_k = ½ ||A_k θ||², ∇L_k = A_kᵀ A_k θ
    theta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    mats = [torch.eye(3, dtype=torch.float64) * (k + 1) for k in range(4)]
    losses = torch.stack([0.5 * (a @ theta).pow(2).sum() for a in mats])
    expected = torch.stack([(k + 1) ** 2 * theta.detach() for k in range(4)])
    for engine in ("reference", "vmap", "auto"):
        assert torch.allclose(per_task_gradients(losses, [theta], engine=engine), expected)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_reference_and_vmap_agree_on_a_network(k):
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4))
    heads = [nn.Linear(4, 1) for _ in range(k)]
    x = torch.randn(10, 6)
    z = trunk(x)
    losses = torch.stack([h(z).pow(2).mean() for h in heads])
    params = list(trunk.parameters())
    ref = per_task_gradients(losses, params, engine="reference")
    fast = per_task_gradients(losses, params, engine="vmap")
    assert ref.shape == (k, sum(p.numel() for p in params))
    assert torch.allclose(ref, fast, atol=1e-5)
    # the sum of the rows is the gradient of the summed loss
    total = torch.cat([g.flatten() for g in torch.autograd.grad(losses.sum(), params)])
    assert torch.allclose(ref.sum(0), total, atol=1e-5)


def test_unused_parameter_gives_zero_rows():
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    g = per_task_gradients([a * a, a * 1.0], [a, b], engine="reference")
    assert torch.equal(g, torch.tensor([[4.0, 0.0], [1.0, 0.0]]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shared_trunk_fast_path_matches_reference(dtype):
    torch.manual_seed(1)
    trunk = MultiLeNetEncoder(16).to(dtype)
    heads = [nn.Linear(16, 10).to(dtype) for _ in range(4)]
    x = torch.rand(12, 1, 28, 28, dtype=dtype)
    y = torch.randint(10, (12,))

    def task_losses(z):
        return torch.stack([nn.functional.cross_entropy(h(z), y) for h in heads])

    ref = shared_trunk_gradients(trunk, x, task_losses, engine="reference")
    fast = shared_trunk_gradients(trunk, x, task_losses, engine="vmap")
    assert torch.allclose(ref.grads, fast.grads, atol=1e-5, rtol=1e-4)
    assert torch.allclose(ref.rep_grads, fast.rep_grads, atol=1e-6)
    # against the plain per-task backward of the whole model
    plain = per_task_gradients(task_losses(trunk(x)), list(trunk.parameters()), engine="reference")
    assert torch.allclose(plain, fast.grads, atol=1e-5, rtol=1e-4)
    # backward_trunk is the VJP: pushing the summed representation gradient gives the summed gradient
    assert torch.allclose(fast.backward_trunk(fast.rep_grads.sum(0)), fast.grads.sum(0), atol=1e-5, rtol=1e-4)
    assert torch.allclose(ref.backward_trunk(ref.rep_grads[0]), ref.grads[0], atol=1e-5, rtol=1e-4)


def test_representation_gradients_shape():
    z = torch.randn(5, 3, requires_grad=True)
    losses = torch.stack([z[:, 0].sum(), (z ** 2).sum()])
    g = representation_gradients(losses, z)
    assert g.shape == (2, 15)
    assert torch.allclose(g[1], 2 * z.detach().flatten())
    with pytest.raises(ValueError, match="require grad"):
        representation_gradients(losses, z.detach())


def test_bad_input():
    p = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="needs the trunk"):
        per_task_gradients(p.sum().reshape(1), [p], engine="layerwise")
    with pytest.raises(ValueError, match="engine must be one of 'reference', 'layerwise', 'vmap', 'auto'"):
        per_task_gradients(p.sum().reshape(1), [p], engine="magic")
    with pytest.raises(ValueError, match="do not require grad"):
        per_task_gradients(torch.zeros(2), [p])
    with pytest.raises(ValueError, match="1-D"):
        per_task_gradients(torch.zeros(2, 2, requires_grad=True), [p])
    with pytest.raises(ValueError, match="at least one parameter"):
        per_task_gradients(p.sum().reshape(1), [])
    with pytest.raises(ValueError, match="shape"):
        gram_matrix(torch.zeros(3))


def test_assign_gradient_roundtrip():
    a, b = torch.zeros(2, 2, requires_grad=True), torch.zeros(3, requires_grad=True)
    assign_gradient([a, b], torch.arange(7.0))
    assert torch.equal(a.grad, torch.tensor([[0.0, 1.0], [2.0, 3.0]])) and torch.equal(b.grad, torch.tensor([4.0, 5, 6]))
    with pytest.raises(ValueError, match="7 scalars"):
        assign_gradient([a, b], torch.zeros(6))
