"""The offline multi-task suite (mtlnotes.data.tasks_offline): allocation, labels, sizes."""

from __future__ import annotations

import pytest
import torch

from mtlnotes.data import ImageDataset
from mtlnotes.data.tasks_offline import OFFLINE_TASKS, OfflineTask, build_offline_suite, build_task_suite


def _fake(n, seed, name):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.rand(n, 1, 28, 28, generator=g)
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.float32)  # pixel (0,0) holds the image id
    return ImageDataset(images, labels, name)


TASKS = (OfflineTask("all-10", "a", tuple(range(10)), tuple(range(10)), 300, 50),
         OfflineTask("parity", "a", tuple(range(10)), tuple(d % 2 for d in range(10)), 100, 30),
         OfflineTask("3v8", "a", (3, 8), (0, 1), 40, 20),
         OfflineTask("b-5", "b", (0, 1, 2, 3, 4), (4, 3, 2, 1, 0), 60, 10))


def test_suite_is_disjoint_and_relabelled():
    src = {"a": (_fake(1000, 0, "a-train"), _fake(400, 1, "a-test")), "b": (_fake(200, 2, "b-train"), _fake(100, 3, "b-test"))}
    train, test = build_task_suite(src, TASKS, seed=0)
    assert train.sizes == [300, 100, 40, 60] and test.sizes == [50, 30, 20, 10]
    assert train.n_classes == (10, 2, 2, 5)
    for split, data in ((train, 0), (test, 1)):
        ids_a = torch.cat([split.x[k][:, 0, 0, 0] for k in range(3)])
        assert ids_a.unique().numel() == ids_a.numel()          # no image in two tasks
        for k, task in enumerate(TASKS):
            ids = split.x[k][:, 0, 0, 0].long()
            original = src[task.source][data].labels[ids]
            expect = torch.tensor([task.labels[task.classes.index(int(c))] for c in original])
            assert torch.equal(split.y[k], expect)
    again, _ = build_task_suite(src, TASKS, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(train.x, again.x))
    other, _ = build_task_suite(src, TASKS, seed=1)
    assert not torch.equal(train.x[0], other.x[0])


def test_suite_errors():
    src = {"a": (_fake(100, 0, "a-train"), _fake(100, 1, "a-test"))}
    with pytest.raises(ValueError, match="task 3v8 needs 40 images of classes"):
        build_task_suite(src, TASKS[2:3] + (OfflineTask("big", "a", tuple(range(10)), tuple(range(10)), 90, 5),), 0)
    with pytest.raises(ValueError, match="no data given for source 'b'"):
        build_task_suite(src, TASKS[3:], 0)
    with pytest.raises(ValueError, match="match labels"):
        OfflineTask("x", "a", (1, 2), (0,), 10)


def test_default_suite_spans_two_orders_of_magnitude():
    sizes = [t.n_train for t in OFFLINE_TASKS]
    assert len(sizes) == 8 and max(sizes) / min(sizes) >= 100


def test_real_suite(data_root, fashion_mnist):
    train, test = build_offline_suite(data_root, seed=0, download=False)
    assert train.sizes == [t.n_train for t in OFFLINE_TASKS]
    assert test.sizes == [1000] * 8
    for k, task in enumerate(OFFLINE_TASKS):
        counts = torch.bincount(train.y[k], minlength=task.n_classes)
        assert (counts > 0).all()
        assert train.x[k].shape[1:] == (1, 28, 28) and 0 <= train.x[k].min() and train.x[k].max() <= 1
    # the 10-class tasks keep their class balance (allocated first)
    c = torch.bincount(train.y[0], minlength=10).float()
    assert c.min() / c.max() > 0.9
