"""MMF's datasets (``hierarchy.tasks``) and experimental protocol (``hierarchy.protocol``), Li et al. 2021, §4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.hierarchy import (TrainSettings, affinity_structure, extract_features, predict_classes,
                                structure_from_groups)
from mtlnotes.hierarchy.protocol import METRICS, BackboneRunner, method_name, summarise_seeds
from mtlnotes.hierarchy.tasks import (FASHION_SEMANTIC, HierarchyTask, fashion_semantic_structure,
                                      load_hierarchy_task, subset_indices)
from mtlnotes.repro import torch_generator

from tests.pattern_fixture import noisy_patterns

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread (tests/conftest.py)


def test_fashion_semantic_structure_groups_the_ten_classes_by_body_part():
    h = fashion_semantic_structure()
    # classes: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot
    assert h.parent_array().tolist() == [0, 1, 0, 1, 0, 2, 0, 2, 3, 2]
    assert tuple(h.super_names) == tuple(FASHION_SEMANTIC) and h.name == "H_S"


def test_subset_indices_is_a_sorted_seeded_sample_without_repeats():
    assert torch.equal(subset_indices(7, None, 0), torch.arange(7))
    assert torch.equal(subset_indices(7, 9, 0), torch.arange(7))       # asking for more than there are: all
    idx = subset_indices(20, 5, 3)
    assert torch.equal(idx, torch.randperm(20, generator=torch_generator(3))[:5].sort().values)
    assert len(set(idx.tolist())) == 5 and bool((idx[1:] > idx[:-1]).all()) and 0 <= int(idx.min())
    assert torch.equal(idx, subset_indices(20, 5, 3))                    # seeded: the same draw again


def test_load_hierarchy_task_rejects_an_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'svhn'; choose fashion_mnist, cifar100 or cars196"):
        load_hierarchy_task("svhn", 10, 10, 28)


def test_method_names_are_the_rows_of_tables_2_and_3():
    assert [method_name(s) for s in [(), ("H_A",), ("H_A", "H_S"), ("H_A", "H_T", "H_M")]] == [
        "w/o H", "H_A", "H_A&S", "H_A&T&M"]


def test_summarise_seeds_by_hand():
    rows = [{"acc": 0.5, "f_ha": 0.8, "tie_a": 1.0, "lca_a": 0.5, "own": None},
            {"acc": 0.7, "f_ha": 0.9, "tie_a": 0.6, "lca_a": 0.3, "own": None}]
    out = summarise_seeds(rows)
    assert out["per_seed"] is rows and set(out["mean"]) == set(out["std"]) == set(METRICS)
    assert out["mean"] == pytest.approx({"acc": 0.6, "f_ha": 0.85, "tie_a": 0.8, "lca_a": 0.4})
    # population standard deviation (np.std): half the distance between two values
    assert out["std"] == pytest.approx({"acc": 0.1, "f_ha": 0.05, "tie_a": 0.2, "lca_a": 0.1})


def _toy_task(n_train: int = 48, n_test: int = 24) -> HierarchyTask:
    """Four classes of noisy 28×28 patterns (horizontal stripes, vertical stripes, checkerboard, blank)."""
    (x, y), (xt, yt) = noisy_patterns(n_train, 0), noisy_patterns(n_test, 1)
    h = structure_from_groups("H_S", {"stripes": [0, 1], "other": [2, 3]})
    return HierarchyTask(x, y, xt, yt, 4, ("h", "v", "check", "blank"), {"H_S": h})


def _runner(task: HierarchyTask, store: CheckpointStore) -> BackboneRunner:
    return BackboneRunner(task, "small_cnn", TrainSettings(epochs=1, batch_size=16, lr=2e-2), True, "cpu", store)


def test_runner_evaluation_by_hand():
    task = _toy_task(n_test=4)
    h = task.semantic["H_S"]
    r = _runner(task, CheckpointStore(None))
    # test labels 0, 1, 2, 3; one mistake inside a superclass (1 → 0): TIE distance 2 on one sample of four
    out = r.evaluate(torch.tensor([0, 0, 2, 3]), [h], [h])
    assert out["acc"] == pytest.approx(0.75) and out["tie_a"] == pytest.approx(0.5)
    assert out["lca_a"] == pytest.approx(0.25) and out["f_ha"] == pytest.approx(1 - 0.5 / 6)
    assert out["own"]["tie_a"] == pytest.approx(0.5) and set(out["per_structure"]) == {"H_S"}
    assert r.evaluate(task.y_test, [h], [])["own"] is None


def test_runner_trains_each_setting_once_and_reloads_it_from_the_store(tmp_path):
    task = _toy_task()
    h = task.semantic["H_S"]
    r = _runner(task, CheckpointStore(tmp_path))
    flat = r.fit("flat", [], [], 2, 0)
    assert r.train_seconds > 0
    assert r.fit("another-key", [], [], 4, 0) is flat       # without structures the stage does not matter
    assert r.fit("mmf", [h], [0.1], 2, 0) is not flat
    again = _runner(task, CheckpointStore(tmp_path))         # a new process: reloads "<key>-final"
    reloaded = again.fit("flat", [], [], 2, 0)
    assert again.train_seconds == 0.0
    assert torch.equal(predict_classes(reloaded, task.x_test), predict_classes(flat, task.x_test))
    # an ablation row: per-seed evaluation of the same setting, summarised
    row = r.ablation("mmf", [h], [0.1], 2, (0,), [h])
    assert row["mean"]["acc"] == row["per_seed"][0]["acc"]
    expected = r.evaluate(predict_classes(r.fit("mmf-s0", [h], [0.1], 2, 0), task.x_test), [h], [h])
    assert row["per_seed"][0]["acc"] == expected["acc"]


def test_affinity_structures_and_topdown_baselines_on_the_flat_models_features():
    task = _toy_task()
    h = task.semantic["H_S"]
    r = _runner(task, CheckpointStore(None))
    flat = r.fit("flat", [], [], 2, 0)
    aff = r.affinity_structures(flat, torch.arange(48), [3, 2], 1.0)
    assert list(aff) == [2, 3]
    assert [(s.n_super, s.n_classes, s.name) for s, _ in aff.values()] == [(2, 4, "H_A"), (3, 4, "H_A")]
    assert np.allclose(aff[2][1]["affinity"], np.asarray(aff[2][1]["affinity"]).T)   # A_ij = A_ji (Eq. 2)
    direct = affinity_structure(extract_features(flat, task.x_train), task.y_train, 4, 3, 1.0, seed=0,
                                class_names=task.class_names)
    assert aff[3][0] == direct[0]
    greedy = r.evaluate_topdown(flat, h, [h], torch.arange(48), 1, 0)
    nbest = r.evaluate_topdown(flat, h, [h], torch.arange(48), 2, 0)
    assert "runner_up" not in greedy and 0.0 <= greedy["acc"] <= 1.0
    ru = nbest["runner_up"]
    assert ru["n_test"] == 24 and 0 <= ru["n_changed"] <= 24
    assert ru["min_top_superclass_p"] >= 0.5 and ru["max_second_over_top"] <= 1.0   # two superclasses
