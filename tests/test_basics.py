"""Chapter 0's experiment: model sizes by hand, a short deterministic training run, its claims."""

from __future__ import annotations

import dataclasses

import pytest

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


def test_claims_are_judged_from_results():
    fake = {"parameters": {"hard_sharing": 10, "single_task": 20}, "sizes": {"train": 1},
            "per_seed": [{"test_accuracy": {"hard_sharing": [0.90, 0.80], "single_task": [0.90, 0.81]}}]}
    c_params, c_acc = basics.claims(fake, TINY)
    assert c_params.ours == 0.5 and c_params.holds is True
    assert c_acc.ours == pytest.approx(-1.0) and c_acc.holds is False
    fake["per_seed"][0]["test_accuracy"]["hard_sharing"] = [0.90, 0.808]
    assert basics.claims(fake, TINY)[1].holds is True
