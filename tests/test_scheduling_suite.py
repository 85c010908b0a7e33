"""The four policies on a multi-task suite (mtlnotes.scheduling.suite; Glover & Hokamp, 2019, §4.2): the policy
table, the thread guard, and a tiny synthetic two-task suite end to end (counts, π^C from the logged uniform
run, determinism)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mtlnotes.data.tasks_offline import TaskSet
from mtlnotes.scheduling.suite import METHODS, run_suite, suite_policy, suite_run, torch_threads

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread (tests/conftest.py)


@dataclasses.dataclass(frozen=True)
class Tiny:
    seeds: tuple[int, ...] = (0, 1)
    eta: float = 1e-3
    eps: float = 0.05
    suite_steps: int = 24
    suite_threads: int = 1
    batch_size: int = 4
    lr: float = 1e-2
    hidden: tuple[int, ...] = (8,)
    eval_every: int = 12
    suite_lambda: float = 5.0                    # not in the grid: fitted as well
    suite_lambdas: tuple[float, ...] = (0.0,)
    suite_cma_iterations: int = 2
    suite_cma_popsize: int = 6


def _tasks(sizes: tuple[int, ...], seed: int) -> TaskSet:
    gen = torch.Generator().manual_seed(seed)
    x = tuple(torch.rand(n, 1, 28, 28, generator=gen) for n in sizes)
    y = tuple(torch.arange(n) % c for n, c in zip(sizes, (2, 3)))
    return TaskSet(("a", "b"), x, y, (2, 3))


TRAIN, TEST = _tasks((30, 10), 0), _tasks((8, 6), 1)


def test_policy_table_task_size_is_proportional_to_training_sizes():
    np.testing.assert_allclose(suite_policy("task_size", TRAIN, Tiny(), None).probabilities(), [0.75, 0.25])
    np.testing.assert_allclose(suite_policy("uniform", TRAIN, Tiny(), None).probabilities(), [0.5, 0.5])
    pi = np.array([0.2, 0.8])
    np.testing.assert_allclose(suite_policy("counterfactual", TRAIN, Tiny(), pi).probabilities(), pi)
    assert type(suite_policy("exp3s", TRAIN, Tiny(), None)).__name__ == "Exp3SPolicy"
    with pytest.raises(ValueError, match="unknown policy 'greedy'.*uniform"):
        suite_policy("greedy", TRAIN, Tiny(), None)


def test_torch_threads_restores_the_count_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(2):
            assert torch.get_num_threads() == 2
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before


@pytest.fixture(scope="module")
def suite():
    with torch_threads(1):
        return run_suite(TRAIN, TEST, Tiny())


def test_run_suite_counts_steps_and_fits_pi_c_for_every_lambda(suite):
    assert set(suite["runs"]) == set(METHODS) and all(len(suite["runs"][m]) == 2 for m in METHODS)
    for m in METHODS:
        for r in suite["runs"][m]:
            assert sum(r["counts"]) == 24 and r["eval_steps"] == [12, 24] and "log" not in r
            assert r["average"] == pytest.approx(np.mean(r["final"]))
    fits = suite["pi_c_fits"]
    assert sorted(fits) == ["0.0", "5.0"] and suite["lambda"] == 5.0
    assert suite["pi_c"] == fits["5.0"]["probs"] and sum(suite["pi_c"]) == pytest.approx(1.0)
    assert fits["0.0"]["entropy"] < fits["5.0"]["entropy"]          # the entropy bonus (Eq. 14) spreads π^C
    assert suite["task_size_policy"] == pytest.approx([0.75, 0.25])
    assert suite["train_sizes"] == [30, 10] and suite["test_sizes"] == [8, 6]
    np.testing.assert_allclose(suite["per_task_mean"]["uniform"],
                               np.mean([r["final"] for r in suite["runs"]["uniform"]], axis=0))


def test_the_counterfactual_runs_use_the_reported_pi_c(suite):
    again = suite_run(TRAIN, TEST, Tiny(), "counterfactual", 0, "cpu", pi_c=np.asarray(suite["pi_c"]))
    again.pop("log")
    assert again == suite["runs"]["counterfactual"][0]


def test_one_run_is_deterministic_and_its_log_has_one_entry_per_step():
    a = suite_run(TRAIN, TEST, Tiny(), "exp3s", 5, "cpu")
    b = suite_run(TRAIN, TEST, Tiny(), "exp3s", 5, "cpu")
    assert a == b
    assert len(a["log"]["actions"]) == 24 and np.bincount(a["log"]["actions"], minlength=2).tolist() == a["counts"]
