"""Choosing the router's step size and ρ on validation data (``routing.sweep``, the validation split of MNIST-MTL in
``data.multitask``, and the chapter's wiring in ``experiments.routing``): Rosenbaum et al. 2018, §4 and Fig. 12."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data import ImageDataset, mnist_mtl_validation
from mtlnotes.experiments import routing as chapter
from mtlnotes.routing import sweep as sweep_module
from mtlnotes.routing.sweep import best_setting, router_sweep, sweep_grid, sweep_key
from mtlnotes.routing.training import train_architecture
from tests.test_routing_training import _Config, _tasks

pytestmark = pytest.mark.usefixtures("one_thread")


def _digits(n: int = 3000) -> ImageDataset:
    """Images whose single pixel value is their index (so that a split can be traced back), labels 0..9 in turn."""
    return ImageDataset(torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1), torch.arange(n) % 10, "digits")


def test_validation_tasks_come_from_images_the_training_tasks_never_see():
    train, val = mnist_mtl_validation(_digits(), seed=3, val_fraction=0.1, n_pos=50, n_neg_per_digit=40,
                                      n_val_per_task=100)
    assert len(train) == 10 * (50 + 9 * 40) and len(val) == 10 * 100
    assert not set(train.x.flatten().tolist()) & set(val.x.flatten().tolist())   # disjoint images
    assert float(val.y.float().mean()) == pytest.approx(0.1)                      # one tenth positives per task
    for t in range(10):                                                           # positives are digit t
        pos = val.x[(val.task == t) & (val.y == 1)].flatten().long()
        assert (pos % 10 == t).all()
    again = mnist_mtl_validation(_digits(), seed=3, val_fraction=0.1, n_pos=50, n_neg_per_digit=40,
                                 n_val_per_task=100)
    assert torch.equal(again[1].x, val.x)                                         # seeded
    with pytest.raises(ValueError, match="val_fraction must lie strictly between 0 and 1, got 1.0"):
        mnist_mtl_validation(_digits(), val_fraction=1.0)
    with pytest.raises(ValueError, match="n_val_per_task must be a multiple of 10, got 15"):
        mnist_mtl_validation(_digits(), n_val_per_task=15)


def test_the_coordinate_grid_starts_at_the_base_point_and_never_repeats_one():
    assert sweep_grid([0.001, 0.01, 0.1], [0.0, 0.3, 1.0], base_lr=0.01, base_rho=0.3) == [
        (0.01, 0.3), (0.001, 0.3), (0.1, 0.3), (0.01, 0.0), (0.01, 1.0)]
    assert sweep_grid([], [], 0.01, 0.3) == [(0.01, 0.3)]


def test_the_best_point_is_the_highest_final_validation_accuracy_first_among_ties():
    rows = [{"wpl_lr": 0.01, "rho": 0.3, "val_accuracy": [0.99, 0.95]},
            {"wpl_lr": 0.1, "rho": 0.3, "val_accuracy": [0.90, 0.97]},
            {"wpl_lr": 0.01, "rho": 0.0, "val_accuracy": [0.80, 0.97]}]
    assert (best_setting(rows)["wpl_lr"], best_setting(rows)["rho"]) == (0.1, 0.3)
    with pytest.raises(ValueError, match="no sweep results"):
        best_setting([])


def test_each_point_is_the_architecture_trained_with_its_settings_and_evaluated_on_validation(tmp_path):
    train, val = _tasks(64, 0), _tasks(40, 1)
    store = CheckpointStore(tmp_path)
    rows = router_sweep("routing-all-fc", train, val, _Config(), [(0.05, 0.3), (0.05, 0.0)], seeds=(2,), epochs=1,
                        store=store)
    direct = train_architecture("routing-all-fc", train, val, dataclasses.replace(_Config(), rho=0.0, epochs=1),
                                seed=2)
    assert [(r["wpl_lr"], r["rho"]) for r in rows] == [(0.05, 0.3), (0.05, 0.0)]
    assert rows[1]["val_accuracy"] == direct["test_accuracy"] and len(rows[0]["val_accuracy"]) == 1
    assert store.get(sweep_key("routing-all-fc", 0.05, 0.0, 2) + "-done") is not None   # a resumable unit each
    assert store.load_state(sweep_key("routing-all-fc", 0.05, 0.0, 2)) is not None       # its own state key
    assert store.load_state("routing-all-fc-seed2") is None                              # not the test unit's
    with pytest.raises(ValueError, match="grid is empty"):
        router_sweep("routing-all-fc", train, val, _Config(), [])
    with pytest.raises(ValueError, match="at least one seed"):
        router_sweep("routing-all-fc", train, val, _Config(), [(0.05, 0.3)], seeds=())


def test_a_sweep_on_several_seeds_averages_their_curves_and_reuses_each_seeds_unit(tmp_path):
    train, val = _tasks(64, 0), _tasks(40, 1)
    store = CheckpointStore(tmp_path)
    one = router_sweep("routing-all-fc", train, val, _Config(), [(0.05, 0.3)], seeds=(2,), epochs=2, store=store)
    (row,) = router_sweep("routing-all-fc", train, val, _Config(), [(0.05, 0.3)], seeds=(2, 5), epochs=2,
                          store=store)
    other = train_architecture("routing-all-fc", train, val, dataclasses.replace(_Config(), epochs=2), seed=5)
    assert row["val_accuracy_per_seed"] == {"2": one[0]["val_accuracy"], "5": other["test_accuracy"]}
    assert row["val_accuracy"] == [(a + b) / 2 for a, b in zip(one[0]["val_accuracy"], other["test_accuracy"])]
    assert row["train_seconds"] > one[0]["train_seconds"]    # both seeds' training

def _tiny(**changes) -> chapter.Config:
    small = dict(hidden=8, epochs=1, batch_size=16, cost_tasks=(), seeds=(0,), sweep_epochs=1,
                 architectures=("routing-all-fc", "task-specific-1-fc"))
    return dataclasses.replace(chapter.QUICK, **{**small, **changes})


def test_the_chapter_trains_the_swept_architecture_with_the_chosen_point_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(chapter, "load_data", lambda config, root=None: (_tasks(64, 0), _tasks(40, 1)))
    monkeypatch.setattr(chapter, "load_routing_validation", lambda *a, **k: (_tasks(64, 2), _tasks(40, 3)))
    monkeypatch.setattr(chapter, "best_setting", lambda rows: rows[-1])   # force a point other than the base
    config = _tiny(sweep_wpl_lrs=(0.5,), sweep_rhos=(0.0,))
    res = chapter.run(config, checkpoint_dir=tmp_path)
    sweep = res["router_sweep"]
    assert [(r["wpl_lr"], r["rho"]) for r in sweep["runs"]] == [(0.05, 0.3), (0.5, 0.3), (0.05, 0.0)]
    assert sweep["chosen"] == {"wpl_lr": 0.05, "rho": 0.0}
    assert set(res["units"]) == {"routing-all-fc-lr0.05-rho0-seed0", "task-specific-1-fc-seed0"}
    tuned = dataclasses.replace(config, rho=0.0)
    direct = train_architecture("routing-all-fc", _tasks(64, 0), _tasks(40, 1), tuned, 0, record=True)
    untuned = train_architecture("routing-all-fc", _tasks(64, 0), _tasks(40, 1), config, 0, record=True)
    unit = res["units"]["routing-all-fc-lr0.05-rho0-seed0"]
    assert unit["test_accuracy"] == direct["test_accuracy"]
    base = sweep["base_units"]["seed0"]                 # the base point too, for comparison (not in the claims)
    assert base["test_accuracy"] == untuned["test_accuracy"] and set(res["units"]) == {
        "routing-all-fc-lr0.05-rho0-seed0", "task-specific-1-fc-seed0"}
    final_policy = [agent["policy"][-1] for agent in unit["policy_history"]]   # ρ changes the routers' rewards
    assert final_policy == [a["policy"][-1].tolist() for a in direct["policy_history"]]
    assert final_policy != [a["policy"][-1].tolist() for a in untuned["policy_history"]]

    def untrainable(*args, **kwargs):
        raise AssertionError("a stored unit was trained again")

    monkeypatch.setattr(sweep_module, "train_architecture", untrainable)
    monkeypatch.setattr(chapter, "train_architecture", untrainable)
    assert chapter.run(config, checkpoint_dir=tmp_path)["units"].keys() == res["units"].keys()
    # the sweep's grid is not part of the fingerprint: a wider sweep reuses every stored unit it shares
    with pytest.raises(AssertionError, match="trained again"):
        chapter.run(_tiny(sweep_wpl_lrs=(0.5, 5.0), sweep_rhos=(0.0,)), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="another config"):
        chapter.run(_tiny(sweep_wpl_lrs=(0.5,), sweep_rhos=(0.0,), hidden=16), checkpoint_dir=tmp_path)


def test_without_a_sweep_the_units_keep_their_plain_keys_and_the_fingerprint_ignores_the_sweep_fields():
    assert chapter.unit_key("routing-all-fc", 1, chapter.FULL, chapter.FULL) == "routing-all-fc-seed1"
    other = dataclasses.replace(chapter.FULL, wpl_lr=0.1)
    assert chapter.unit_key("routing-all-fc", 1, other, chapter.FULL) == "routing-all-fc-lr0.1-rho0.3-seed1"
    plain = dataclasses.replace(chapter.FULL, sweep_wpl_lrs=(), sweep_rhos=())
    assert chapter.checkpoint_fingerprint(plain) == chapter.checkpoint_fingerprint(chapter.FULL)
    assert not set(chapter.SWEEP_FIELDS) & set(chapter.checkpoint_fingerprint(chapter.FULL))


def _rho_sweep(accuracies: dict[float, list[float]]) -> dict:
    runs = [{"wpl_lr": 0.01, "rho": rho, "val_accuracy": [sum(accs) / len(accs)],
             "val_accuracy_per_seed": {str(k): [a] for k, a in enumerate(accs)}} for rho, accs in accuracies.items()]
    return {"architecture": "routing-all-fc", "epochs": 4, "seeds": [0, 1, 2], "base": {"wpl_lr": 0.01, "rho": 0.3},
            "runs": runs}


def test_the_rho_claim_pairs_the_best_small_and_the_best_larger_rho_over_seeds():
    # small ρ (≤ 0.3) ahead on every seed by about half a point: holds
    (ahead,) = chapter.sweep_claims(_rho_sweep({0.0: [0.995, 0.994, 0.996], 0.3: [0.99, 0.99, 0.99],
                                                1.0: [0.990, 0.989, 0.990]}), chapter.FULL)
    assert ahead.holds is True and ahead.ours == "0"
    assert "best small ρ (0) minus best larger ρ (1), paired over 3 seeds: +0.53 points" in ahead.note
    # a larger ρ ahead beyond the spread: does not hold; within the spread: inconclusive
    (behind,) = chapter.sweep_claims(_rho_sweep({0.0: [0.98, 0.981, 0.98], 0.6: [0.99, 0.99, 0.992]}), chapter.FULL)
    assert behind.holds is False and behind.ours == "0.6"
    (mixed,) = chapter.sweep_claims(_rho_sweep({0.0: [0.99, 0.98, 0.995], 0.6: [0.98, 0.99, 0.99]}), chapter.FULL)
    assert mixed.holds is None and mixed.verdict == "inconclusive"


def test_the_rho_claim_names_the_best_rho_and_stays_inconclusive_on_one_seed():
    runs = [{"wpl_lr": 0.01, "rho": r, "val_accuracy": [a]} for r, a in ((0.3, 0.990), (0.0, 0.995), (0.6, 0.985))]
    runs.append({"wpl_lr": 0.1, "rho": 0.3, "val_accuracy": [0.999]})   # another step size: not a ρ point
    sweep = {"architecture": "routing-all-fc", "epochs": 4, "base": {"wpl_lr": 0.01, "rho": 0.3}, "runs": runs}
    (claim,) = chapter.sweep_claims(sweep, chapter.FULL)
    assert claim.ours == "0" and claim.verdict == "inconclusive"
    assert "98.50% to 99.50%" in claim.note
    assert chapter.sweep_claims(dict(sweep, runs=runs[:1]), chapter.FULL) == []
    tied = runs + [{"wpl_lr": 0.01, "rho": 1.0, "val_accuracy": [0.995]}]   # as good as ρ = 0: both are named
    assert chapter.sweep_claims(dict(sweep, runs=tied), chapter.FULL)[0].ours == "tie: 0, 1"


def test_while_another_process_holds_a_sweep_point_only_the_unswept_architectures_train(tmp_path, monkeypatch):
    import socket

    from mtlnotes.checkpoint import taken_units

    monkeypatch.setattr(chapter, "load_data", lambda config, root=None: (_tasks(64, 0), _tasks(40, 1)))
    monkeypatch.setattr(chapter, "load_routing_validation", lambda *a, **k: (_tasks(64, 2), _tasks(40, 3)))
    config = _tiny(sweep_wpl_lrs=(0.5,))
    held = sweep_key("routing-all-fc", 0.5, 0.3, 0) + "-done"
    (tmp_path / f"{held}.lock").write_text(f"{socket.gethostname()}:1\n")   # pid 1: alive, not us
    with taken_units("skip") as log:                                        # a --worker pass
        res = chapter.run(config, checkpoint_dir=tmp_path)
    assert log.skipped == [held] and set(res["units"]) == {"task-specific-1-fc-seed0"}
    assert "router_sweep" not in res            # incomplete: the chosen point is not known yet
