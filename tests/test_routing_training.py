"""Training routed networks by Algorithm 2 (``routing.training``) and the datasets of §4 (``routing.data``),
Rosenbaum et al. 2018."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data import TaskData
from mtlnotes.routing.data import class_count, load_routing_data
from mtlnotes.routing.training import MAX_POLICY_SNAPSHOTS, step_cost, thin_snapshots, train_architecture

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread (tests/conftest.py)


@dataclass(frozen=True)
class _Config:
    """The fields train_architecture reads (routing.training.TrainingConfig), small."""

    hidden: int = 8
    epochs: int = 2
    batch_size: int = 16
    optimizer: str = "adam"
    lr: float = 1e-2
    lr_step_epochs: int = 20
    rho: float = 0.3
    wpl_lr: float = 0.05
    q_lr: float = 0.1
    mlp_lr: float = 0.01
    epsilon: float = 0.1
    gamma: float = 1.0
    wpl_scaling: str = "algorithm3"
    record_every: int = 5
    time_budget_s: float | None = None
    channels_last: bool = False


def _tasks(n: int, seed: int) -> TaskData:
    """Two binary tasks on 16×16 inputs: task 0 asks "is the image bright?", task 1 "is its left half bright?"."""
    g = torch.Generator().manual_seed(seed)
    task = torch.arange(n) % 2
    x = torch.rand(n, 1, 16, 16, generator=g)
    y = torch.where(task == 0, x.mean((1, 2, 3)) > 0.5, x[:, :, :, :8].mean((1, 2, 3)) > 0.5).long()
    return TaskData(x, y, task, ("bright", "left"))


def test_class_count_and_unknown_dataset():
    assert class_count(_tasks(40, 0)) == 2
    assert class_count(TaskData(torch.zeros(2, 1), torch.tensor([4, 0]), torch.tensor([0, 0]), ("a",))) == 5
    with pytest.raises(ValueError, match="unknown dataset 'svhn-mtl'; choose mnist-mtl, cifar-mtl or min-mtl"):
        load_routing_data("svhn-mtl")


def test_thin_snapshots_by_hand():
    assert thin_snapshots(list(range(10)), 4) == [0, 3, 6, 9]             # linspace(0, 9, 4) = 0, 3, 6, 9
    assert thin_snapshots(list(range(10)), 5) == [0, 2, 4, 7, 9]          # 0, 2.25, 4.5, 6.75, 9 rounded (half to even)
    assert len(thin_snapshots(list(range(10 * MAX_POLICY_SNAPSHOTS)))) == MAX_POLICY_SNAPSHOTS


def test_step_cost_is_timed_steps_over_samples():
    ticks = iter(range(100))  # a clock that advances by 1 per call: each timed step lasts exactly 1
    assert step_cost("routing-all-fc", 3, in_shape=(1, 16, 16), hidden=8, batch_size=8, batches=2,
                     clock=lambda: next(ticks)) == 1 / 8
    assert next(ticks) == 5   # one call for the warm-up step, two for each of the 2 timed steps


@pytest.mark.parametrize("name", ["routing-all-fc", "cross-stitch-all-fc"])
def test_train_architecture_records_consistent_curves_and_is_deterministic(name):
    train, test = _tasks(64, 0), _tasks(40, 1)
    a = train_architecture(name, train, test, _Config(), seed=3, record=True)
    b = train_architecture(name, train, test, _Config(), seed=3, record=True)
    assert a["epochs_run"] == 2 and len(a["test_accuracy"]) == len(a["per_task_accuracy"]) == 2
    # 20 test samples per task: the mean accuracy is the mean of the per-task accuracies
    for mean, per_task in zip(a["test_accuracy"], a["per_task_accuracy"]):
        assert mean == pytest.approx(np.mean(per_task), abs=1e-6)
    assert a["test_accuracy"] == b["test_accuracy"] and a["per_task_accuracy"] == b["per_task_accuracy"]
    if name == "routing-all-fc":
        counts = a["routing_map"]                                        # (tasks, decisions, actions)
        assert counts.shape[:2] == (2, 3) and (counts.sum(2) == 20).all()
        assert np.array_equal(counts, b["routing_map"])
        history = a["policy_history"]                                    # one per agent (task)
        assert len(history) == 2 and history[0]["samples"][:3] == [0, 5, 10]   # every record_every = 5 samples
        assert np.array_equal(history[1]["policy"][0], np.full((3, 2), 0.5))  # uniform before any update
    else:
        assert "routing_map" not in a and "policy_history" not in a


def test_train_architecture_resumes_after_each_epoch_and_stops_at_the_time_budget(tmp_path):
    train, test = _tasks(64, 0), _tasks(40, 1)
    straight_store, store = CheckpointStore(tmp_path / "straight"), CheckpointStore(tmp_path / "resumed")
    straight = train_architecture("routing-all-fc", train, test, _Config(), seed=1, store=straight_store)
    train_architecture("routing-all-fc", train, test, replace(_Config(), epochs=1), seed=1, store=store)
    resumed = train_architecture("routing-all-fc", train, test, _Config(), seed=1, store=store)
    assert resumed["test_accuracy"] == straight["test_accuracy"]
    assert np.array_equal(resumed["routing_map"], straight["routing_map"])
    a, b = straight_store.load_state("routing-all-fc-seed1"), store.load_state("routing-all-fc-seed1")
    assert len(a["history"]) == len(b["history"]) == 2                          # mtlnotes.fit's checkpoint
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])   # bit for bit: nothing lost
    assert np.array_equal(a["extra"]["router"]["table"], b["extra"]["router"]["table"])
    none = train_architecture("routing-all-fc", train, test, replace(_Config(), time_budget_s=0.0), seed=1)
    assert none["epochs_run"] == 0 and none["test_accuracy"] == []
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adam', got 'rmsprop'"):
        train_architecture("routing-all-fc", train, test, replace(_Config(), optimizer="rmsprop"), seed=1)


@pytest.mark.parametrize("name", ["routing-all-fc", "cross-stitch-all-fc"])
def test_channels_last_trunk_trains_the_same_model_in_the_other_memory_layout(name, tmp_path):
    train, test = _tasks(64, 0), _tasks(40, 1)
    stores = {cl: CheckpointStore(tmp_path / str(cl)) for cl in (False, True)}
    # SGD (the paper's optimiser): Adam would blow the rounding noise in the gradient of the conv biases (zero
    # in exact arithmetic: batch norm follows them) up to steps of its learning rate
    config = replace(_Config(), optimizer="sgd", lr=0.1)
    runs = {cl: train_architecture(name, train, test, replace(config, channels_last=cl), seed=3, store=stores[cl])
            for cl in (False, True)}
    assert runs[True]["test_accuracy"] == runs[False]["test_accuracy"]
    models = {cl: stores[cl].load_state(f"{name}-seed3")["model"] for cl in (False, True)}
    conv = [k for k, v in models[True].items() if v.dim() == 4]
    assert conv and all(models[True][k].is_contiguous(memory_format=torch.channels_last) for k in conv)
    assert not all(models[False][k].is_contiguous(memory_format=torch.channels_last) for k in conv)  # 1-channel
    # first-layer weights are both layouts at once; the 32-channel ones are not
    for k in models[False]:   # the same parameters up to float rounding after 2 epochs
        assert torch.allclose(models[True][k].float(), models[False][k].float(), atol=1e-4), k
