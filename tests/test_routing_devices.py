"""Routed networks on a GPU (``routing.network.place``, ``routing.layers.grouped_apply``): the trunk and the function
blocks move to the device, the router stays on the CPU, and the network computes what it computes on the CPU.

The placement test runs everywhere (on PyTorch's ``meta`` device); the comparisons with the CPU need CUDA and are
skipped without it (they run on the GPU machine that trained the routing paper profile's units)."""

from __future__ import annotations

import copy

import pytest
import torch

from mtlnotes.routing.builders import ARCHITECTURES, build_network
from mtlnotes.routing.layers import grouped_apply
from mtlnotes.routing.network import RoutingNetwork, place, predict_tasks, train_step
from mtlnotes.routing.rewards import CollaborationReward

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread (tests/conftest.py)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
IN_SHAPE, N_TASKS, N_CLASSES, HIDDEN = (1, 28, 28), 4, 2, 16


def _net(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_network(name, N_TASKS, IN_SHAPE, N_CLASSES, HIDDEN)


def _batch(n: int = 32, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((n, *IN_SHAPE), generator=g), torch.randint(0, N_CLASSES, (n,), generator=g),
            torch.randint(0, N_TASKS, (n,), generator=g))


@pytest.mark.parametrize("name", ["routing-all-fc", "reinforce-approx", "routing-all-fc-dispatched",
                                  "task-specific-1-fc", "cross-stitch-all-fc"])
def test_place_moves_trunk_and_blocks_and_keeps_the_router_on_the_cpu(name):
    net = place(_net(name), "meta")
    assert all(p.device.type == "meta" for p in net.trunk.parameters())
    assert all(p.device.type == "meta" for p in net.fc.parameters())
    if isinstance(net, RoutingNetwork):
        assert all(p.device.type == "cpu" for p in net.router.parameters())


def test_place_on_the_cpu_leaves_the_network_as_it_was():
    net = _net("routing-all-fc-dispatched")
    before = copy.deepcopy(net.state_dict())
    assert place(net, "cpu") is net
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


@needs_cuda
def test_grouped_apply_with_choices_on_the_cpu_and_rows_on_the_gpu_matches_the_cpu():
    fns_cpu = [torch.nn.Linear(5, 3) for _ in range(4)]
    fns_gpu = [copy.deepcopy(f).cuda() for f in fns_cpu]
    x = torch.randn(50, 5)
    choice = torch.randint(0, 4, (50,))
    expected = grouped_apply(fns_cpu, choice, x)
    got = grouped_apply(fns_gpu, choice, x.cuda())
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), expected, atol=1e-5, rtol=1e-5)


@needs_cuda
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_greedy_predictions_on_the_gpu_match_the_cpu(name):
    cpu = _net(name)
    gpu = place(copy.deepcopy(cpu), "cuda")
    x, _, task = _batch()
    logits_cpu, actions_cpu = predict_tasks(cpu, x, task)
    logits_gpu, actions_gpu = predict_tasks(gpu, x, task, device="cuda")
    torch.testing.assert_close(logits_gpu, logits_cpu, atol=1e-4, rtol=1e-4)
    if actions_cpu is not None:
        assert torch.equal(actions_gpu, actions_cpu)


@needs_cuda
@pytest.mark.parametrize("name", ["routing-all-fc", "reinforce-approx", "routing-all-fc-dispatched",
                                  "task-specific-all-fc", "cross-stitch-all-fc"])
def test_training_steps_on_the_gpu_follow_the_cpu(name):
    nets = {"cpu": _net(name)}
    nets["cuda"] = place(copy.deepcopy(nets["cpu"]), "cuda")
    losses = {}
    for dev, net in nets.items():
        opt = torch.optim.SGD(net.block_parameters(), lr=0.05)
        collab = CollaborationReward(net.fc.n_actions, 0.3) if isinstance(net, RoutingNetwork) else None
        gen = torch.Generator().manual_seed(3)
        losses[dev] = [train_step(net, opt, *(t.to(dev) for t in _batch(seed=s)), collab, 1.0, gen)["loss"]
                       for s in range(3)]
    assert losses["cuda"] == pytest.approx(losses["cpu"], abs=1e-4)
    if isinstance(nets["cpu"], RoutingNetwork):
        assert all(p.device.type == "cpu" for p in nets["cuda"].router.parameters())
        for a, b in zip(nets["cpu"].router.state_dict().values(), nets["cuda"].router.state_dict().values()):
            torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
        if hasattr(nets["cpu"].router, "table"):
            assert abs(nets["cuda"].router.table - nets["cpu"].router.table).max() < 1e-6
