"""The layerwise (hand-written, task-batched) backward: equal to autograd's per-task gradients on every layer
kind and wiring it claims to support, a clear error for the rest, and ``engine="auto"`` falling back to vmap."""

import pytest
import torch
from torch import nn

from mtlnotes.gradients import per_task_gradients, shared_trunk_gradients
from mtlnotes.gradients._layerwise import LayerwiseTrunk, UnsupportedTrunkError, layerwise_trunk
from mtlnotes.models import MultiLeNetEncoder

pytestmark = pytest.mark.usefixtures("one_thread")


class ViewFlatten(nn.Module):
    """conv → ReLU → max-pool first (the mask sits *between* conv and pool), then ``x.view(x.size(0), -1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x):
        h = self.pool(torch.relu(self.conv(x)))
        return self.fc(h.view(h.size(0), -1)).relu().reshape(h.shape[0], -1)


def _strided_padded_overlapping():
    # stride-2 padded conv, overlapping padded pool (scatter_add path), dilated conv, two linear layers
    return nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
                         nn.Conv2d(6, 5, 3, padding=2, dilation=2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(5 * 4 * 4, 7), nn.ReLU(), nn.Dropout(0.0), nn.Identity(), nn.Linear(7, 6))


CASES = {
    "multilenet": (lambda: MultiLeNetEncoder(12), (1, 28, 28)),
    "view_flatten": (ViewFlatten, (2, 8, 8)),
    "strided_padded_overlapping": (_strided_padded_overlapping, (3, 16, 16)),
    "mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 9), nn.ReLU(), nn.Linear(9, 4)), (3, 4)),
    # a strided conv that needs its input gradient, on a size where the transposed conv needs output padding
    "strided_second_conv": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Conv2d(3, 4, 3, stride=2),
                                                  nn.Flatten()), (2, 10, 10)),
    "pool_first_then_conv": (lambda: nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten()),
                             (1, 10, 10)),
}


def _problem(name: str, k: int, dtype=torch.float64, batch: int = 6):
    torch.manual_seed(0)
    make, shape = CASES[name]
    trunk = make().to(dtype)
    x = torch.randn(batch, *shape, dtype=dtype)
    h = trunk(x).shape[1]
    heads = [nn.Linear(h, 3).to(dtype) for _ in range(k)]
    y = torch.randint(3, (batch,))

    def task_losses(z):
        return torch.stack([nn.functional.cross_entropy(head(z), y) * (i + 1) for i, head in enumerate(heads)])

    return trunk, x, task_losses


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("k", [1, 3])
def test_equals_autograd_per_task_gradients(name, k):
    trunk, x, task_losses = _problem(name, k)
    # the definition: one autograd backward per task through the whole network
    expected = per_task_gradients(task_losses(trunk(x)), list(trunk.parameters()), engine="reference")
    got = shared_trunk_gradients(trunk, x, task_losses, engine="layerwise")
    assert got.grads.shape == expected.shape
    assert torch.allclose(got.grads, expected, rtol=1e-10, atol=1e-12)  # float64: exact up to rounding
    ref = shared_trunk_gradients(trunk, x, task_losses, engine="reference")
    assert torch.allclose(got.rep_grads, ref.rep_grads, rtol=1e-12, atol=0)
    assert torch.allclose(got.losses, ref.losses, rtol=1e-12, atol=0)
    # backward_trunk is the VJP of one representation cotangent
    v = torch.randn_like(got.rep_grads[0])
    assert torch.allclose(got.backward_trunk(v), ref.backward_trunk(v), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k", [2, 4, 11])
def test_float32_agrees_to_1e_5_at_the_chapter_batch(k):
    trunk, x, task_losses = _problem("multilenet", k, dtype=torch.float32, batch=100)
    ref = shared_trunk_gradients(trunk, x, task_losses, engine="reference").grads
    got = shared_trunk_gradients(trunk, x, task_losses, engine="layerwise").grads
    assert (got - ref).abs().max() <= 1e-5 * max(1.0, ref.abs().max().item())


def test_heads_stay_differentiable_and_gradients_sum_to_the_total():
    trunk, x, task_losses = _problem("multilenet", 3)
    got = shared_trunk_gradients(trunk, x, task_losses, engine="layerwise")
    total = torch.cat([g.flatten() for g in torch.autograd.grad(task_losses(trunk(x)).sum(), trunk.parameters())])
    assert torch.allclose(got.grads.sum(0), total, rtol=1e-10, atol=1e-12)
    assert got.losses.requires_grad  # the trainer back-propagates a weighted sum into the heads


def test_frozen_layer_is_left_out():
    trunk, x, task_losses = _problem("strided_padded_overlapping", 2)
    trunk[0].weight.requires_grad_(False)
    trunk[6].bias.requires_grad_(False)
    live = [p for p in trunk.parameters() if p.requires_grad]
    expected = per_task_gradients(task_losses(trunk(x)), live, engine="reference")
    got = LayerwiseTrunk(trunk)
    z, tape = got.forward(x)
    zl = z.detach().requires_grad_(True)
    rep = per_task_gradients(task_losses(zl), [zl], engine="reference").reshape(2, *z.shape)
    assert torch.allclose(got.backward(tape, rep), expected, rtol=1e-10, atol=1e-12)


def test_a_tape_stays_valid_after_later_forwards():
    trunk, x, _ = _problem("multilenet", 1)
    engine = LayerwiseTrunk(trunk)
    z1, tape1 = engine.forward(x)
    v = torch.randn(2, *z1.shape, dtype=z1.dtype)
    first = engine.backward(tape1, v)
    engine.forward(x * 2 + 1)  # another forward must not change what tape1 holds
    assert torch.equal(engine.backward(tape1, v), first)
    assert torch.allclose(z1, trunk(x))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.b(torch.relu(self.a(x))) + x


class DeadBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        self.b(x)
        return self.a(x)


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(torch.relu(self.a(x)))


@pytest.mark.parametrize("trunk, match", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), "BatchNorm2d"),
    (nn.Sequential(nn.Linear(4, 4), nn.Tanh()), "Tanh"),
    (Residual(), "function add is not supported"),
    (DeadBranch(), "off the main chain"),
    (Shared(), "used twice"),
    (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), "groups=1"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding="same")), "numeric zero padding"),
    (nn.Sequential(nn.ReLU()), "nothing to differentiate|no Conv2d or Linear"),
])
def test_unsupported_trunks_raise_a_clear_error(trunk, match):
    with pytest.raises(UnsupportedTrunkError, match=match):
        LayerwiseTrunk(trunk)


def test_auto_falls_back_to_vmap_and_layerwise_refuses():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    heads = [nn.Linear(3, 1).double() for _ in range(2)]

    def task_losses(z):
        return torch.stack([h(z).pow(2).mean() for h in heads])

    with pytest.raises(UnsupportedTrunkError, match="Tanh"):
        shared_trunk_gradients(trunk, x, task_losses, engine="layerwise")
    auto = shared_trunk_gradients(trunk, x, task_losses, engine="auto")
    ref = shared_trunk_gradients(trunk, x, task_losses, engine="reference")
    assert torch.allclose(auto.grads, ref.grads, rtol=1e-10, atol=1e-12)


def test_dropout_in_training_mode_is_refused_and_auto_still_answers():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3)).double()
    x = torch.randn(4, 5, dtype=torch.float64)

    def task_losses(z):
        return torch.stack([z.pow(2).mean(), z.sum()])

    with pytest.raises(UnsupportedTrunkError, match="dropout in training mode"):
        shared_trunk_gradients(trunk, x, task_losses, engine="layerwise")
    trunk.eval()
    got = shared_trunk_gradients(trunk, x, task_losses, engine="layerwise")
    ref = shared_trunk_gradients(trunk, x, task_losses, engine="reference")
    assert torch.allclose(got.grads, ref.grads, rtol=1e-10, atol=1e-12)


def test_engine_and_refusal_are_cached_per_trunk(monkeypatch):
    a, b = MultiLeNetEncoder(4), MultiLeNetEncoder(4)
    assert layerwise_trunk(a) is layerwise_trunk(a)
    assert layerwise_trunk(a) is not layerwise_trunk(b)
    bad = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    with pytest.raises(UnsupportedTrunkError, match="Tanh"):
        layerwise_trunk(bad)
    traces = []
    monkeypatch.setattr("mtlnotes.gradients._layerwise.fx.symbolic_trace", lambda m: traces.append(m))
    with pytest.raises(UnsupportedTrunkError, match="Tanh"):
        layerwise_trunk(bad)                     # the verdict comes from the cache: no second trace
    assert traces == []


def test_bad_engine_names_the_choices():
    trunk, x, task_losses = _problem("mlp", 1)
    with pytest.raises(ValueError, match="'reference', 'layerwise', 'vmap', 'auto'"):
        shared_trunk_gradients(trunk, x, task_losses, engine="fast")


def test_weight_gradients_split_into_calls_give_the_same_numbers(monkeypatch):
    # a cap below one task's cotangent bytes: every task gets its own weight-gradient convolution
    trunk, x, task_losses = _problem("multilenet", 5)
    whole = shared_trunk_gradients(trunk, x, task_losses, engine="layerwise").grads
    monkeypatch.setattr("mtlnotes.gradients._layerwise._FILTER_BYTES", 1)
    got = shared_trunk_gradients(trunk, x, task_losses, engine="layerwise").grads
    expected = per_task_gradients(task_losses(trunk(x)), list(trunk.parameters()), engine="reference")
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert torch.allclose(got, whole, rtol=1e-10, atol=1e-12)


def test_reused_buffers_leak_nothing_between_calls():
    # the max-pool workspace is reused: a second call (other inputs and another K) must not see the first's
    # values, and the first call's results must not change afterwards
    trunk, x1, losses1 = _problem("multilenet", 3)
    x2 = torch.randn(x1.shape, dtype=x1.dtype, generator=torch.Generator().manual_seed(1))

    def losses2(z):
        return losses1(z)[:2] * torch.tensor([0.5, 2.0], dtype=z.dtype)

    first = shared_trunk_gradients(trunk, x1, losses1, engine="layerwise")
    kept = first.grads.clone()
    second = shared_trunk_gradients(trunk, x2, losses2, engine="layerwise")
    assert torch.equal(first.grads, kept)
    expected = per_task_gradients(losses2(trunk(x2)), list(trunk.parameters()), engine="reference")
    assert torch.allclose(second.grads, expected, rtol=1e-10, atol=1e-12)
    v = torch.randn_like(first.rep_grads[0])  # a one-task backward through the first call's tape
    assert torch.allclose(first.backward_trunk(v),
                          shared_trunk_gradients(trunk, x1, losses1, engine="reference").backward_trunk(v),
                          rtol=1e-10, atol=1e-12)
    # same K and shapes as the first call, other inputs: the very buffers the first call wrote are reused
    third = shared_trunk_gradients(trunk, x2, losses1, engine="layerwise")
    expected3 = per_task_gradients(losses1(trunk(x2)), list(trunk.parameters()), engine="reference")
    assert torch.allclose(third.grads, expected3, rtol=1e-10, atol=1e-12)
    assert torch.equal(first.grads, kept)
    layerwise_trunk(trunk).release_workspace()
    assert torch.equal(shared_trunk_gradients(trunk, x1, losses1, engine="layerwise").grads, kept)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_max_pool_ties_break_as_autograd_does(dtype):
    # Ties that matter: a first conv of all-ones 5x5 filters over an input periodic with period 5 gives the same
    # value at every position, while the patches under those positions differ. The weight gradient then depends on
    # which position of each 2x2 window the pooling picked; the forward's channels-last pooling must pick
    # autograd's (the first maximum in scan order).
    trunk, x, task_losses = _problem("multilenet", 2, dtype=dtype)
    with torch.no_grad():
        trunk.features[0].weight.fill_(1.0)
        trunk.features[0].bias.copy_(torch.arange(10.0))  # integers: every sum is exact in float32 too
    tile = torch.randint(1, 5, (5, 5), generator=torch.Generator().manual_seed(2)).to(x.dtype)  # exact sums
    x = tile.repeat(6, 6)[:28, :28].expand(x.shape[0], 1, 28, 28).contiguous()
    h = trunk.features[0](x)
    assert torch.equal(h, h[:, :, :1, :1].expand_as(h))  # every window of every channel ties
    expected = per_task_gradients(task_losses(trunk(x)), list(trunk.parameters()), engine="reference")
    got = shared_trunk_gradients(trunk, x, task_losses, engine="layerwise").grads
    tol = (1e-10, 1e-12) if dtype == torch.float64 else (1e-5, 1e-6)
    assert torch.allclose(got, expected, rtol=tol[0], atol=tol[1])