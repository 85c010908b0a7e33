"""Chapter 0's experiment: model sizes by hand, a short deterministic training run, its claims."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mtlnotes.experiments import basics
from mtlnotes.training import count_parameters

TINY = dataclasses.replace(basics.QUICK, seeds=(0,), n_train=1000, n_val=200, n_test=200, epochs=2, batch_size=32)


def test_parameter_counts_by_hand():
    # encoder: conv 1->10 5x5 (250+10) + conv 10->20 5x5 (5000+20) + linear 320->50 (16000+50) = 21330
    # head: linear 50->50 (2550) + linear 50->10 (510) = 3060
    assert count_parameters(basics.build_model(basics.QUICK, shared=True)) == 21330 + 2 * 3060
    assert count_parameters(basics.build_model(basics.QUICK, shared=False)) == 21330 + 3060


def test_short_training_run_is_deterministic(data_root):
    a = basics.run(TINY, root=data_root)
    b = basics.run(TINY, root=data_root)
    strip = lambda r: [{k: v for k, v in s.items() if k != "train_seconds"} for s in r["per_seed"]]  # noqa: E731
    assert strip(a) == strip(b)
    accs = a["per_seed"][0]["test_accuracy"]
    assert len(accs["hard_sharing"]) == 2 and len(accs["single_task"]) == 2
    assert all(0.0 <= x <= 1.0 for x in accs["hard_sharing"] + accs["single_task"])
    # two short epochs on 1000 samples already beat chance (10%) on both tasks
    assert min(accs["hard_sharing"]) > 0.2


def _results(hard, single):
    return {"parameters": {"hard_sharing": 10, "single_task": 20}, "sizes": {"train": 1}, "task_names": ["l", "r"],
            "per_seed": [{"test_accuracy": {"hard_sharing": h, "single_task": s}} for h, s in zip(hard, single)]}


def test_claims_are_judged_from_seed_intervals():
    single = [[0.90, 0.81], [0.91, 0.80], [0.92, 0.82]]
    # the right task is 1 point worse on every seed: the interval (zero width) lies below -0.5
    c_params, c_acc = basics.claims(_results([[0.90, 0.80], [0.91, 0.79], [0.92, 0.81]], single), TINY)
    assert c_params.ours == 0.5 and c_params.holds is True
    assert c_acc.ours == pytest.approx(-1.0) and c_acc.holds is False
    # 0.2 points worse on every seed: inside the margin
    assert basics.claims(_results([[0.90, 0.808], [0.91, 0.798], [0.92, 0.818]], single), TINY)[1].holds is True
    # -1, +0.6, -1.4 points: mean -0.6, but the spread covers -0.5 -> inconclusive, and the verdict says so
    c = basics.claims(_results([[0.90, 0.80], [0.91, 0.806], [0.92, 0.806]], single), TINY)[1]
    assert c.holds is None and c.verdict == "inconclusive"


def test_claims_with_fewer_than_three_seeds_are_not_judged():
    c = basics.claims(_results([[0.90, 0.70]], [[0.90, 0.81]]), TINY)[1]
    assert c.holds is None and c.verdict == "not judged"


def test_train_model_resumed_from_its_checkpoint_equals_an_uninterrupted_run(data_root, tmp_path):
    from mtlnotes.checkpoint import CheckpointStore

    train, val, _ = basics.build_data(TINY, data_root)
    three = dataclasses.replace(TINY, epochs=3)
    whole = basics.train_model(basics.build_model(three, True, seed=0), [0, 1], train, val, three, seed=0)
    store = CheckpointStore(tmp_path)
    basics.train_model(basics.build_model(TINY, True, seed=0), [0, 1], train, val, TINY, seed=0,
                       checkpoint=store, key="m")  # "interrupted" after 2 epochs
    resumed = basics.train_model(basics.build_model(three, True, seed=0), [0, 1], train, val, three, seed=0,
                                 checkpoint=store, key="m")
    assert resumed["val_curve"] == whole["val_curve"] and resumed["best_epoch"] == whole["best_epoch"]
    for a, b in zip(whole["model"].parameters(), resumed["model"].parameters()):
        assert torch.equal(a, b)


def test_profile_rows_put_the_profiles_side_by_side_with_paired_intervals():
    doc = lambda hard, single, epochs: {"config": {"epochs": epochs},  # noqa: E731
                                        "results": _results(hard, single) | {"sizes": {"train": 100}}}
    rows = basics.profile_rows({"quick": doc([[0.9, 0.8]], [[0.8, 0.8]], 2),
                                "full": doc([[0.90, 0.80], [0.92, 0.82], [0.94, 0.84]],
                                            [[0.89, 0.80], [0.91, 0.82], [0.93, 0.84]], 20)})
    assert [(r["profile"], r["task"]) for r in rows] == [("quick", "l"), ("quick", "r"), ("full", "l"), ("full", "r")]
    assert rows[0]["hard − single (points)"] == "10 (n=1)"  # one seed: no interval
    assert rows[2]["hard sharing (%)"] == 92.0 and rows[2]["seeds"] == 3 and rows[2]["epochs"] == 20
    assert rows[2]["hard − single (points)"].startswith("1 ± ")  # +1 point on every seed: zero-width interval
