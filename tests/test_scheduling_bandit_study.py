"""The MTL bandit study of §4.1 / Fig. 1 (mtlnotes.scheduling.bandit_study) on a tiny bandit: each reported curve
is the named policy's run with seed 100 s + 50, λ is the best on the tuning seeds, and the study is
deterministic and resumable from its checkpoints."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.scheduling import FixedPolicy, UniformPolicy, run_bandit
from mtlnotes.scheduling.bandit_study import bandit_spec, improve_policy, run_bandit_experiment


@dataclasses.dataclass(frozen=True)
class Tiny:
    bandit_arms: int = 3
    bandit_alpha: float = 2.0
    bandit_horizon: int = 120
    bandit_env_seed: int = 0
    bandit_seeds: tuple[int, ...] = (0, 1)
    bandit_tuning_seeds: tuple[int, ...] = (100, 101)
    eta: float = 1e-3
    eps: float = 0.05
    bandit_lambdas: tuple[float, ...] = (0.1, 0.5)
    bandit_cma_iterations: int = 2
    bandit_cma_popsize: int = 6
    improvement_iterations: int = 2
    bandit_curve_every: int = 40


@pytest.fixture(scope="module")
def study():
    return run_bandit_experiment(Tiny())


def test_reported_curves_are_the_policies_runs_with_seed_100s_plus_50(study):
    cfg = Tiny()
    spec = bandit_spec(cfg)
    assert study["steps"] == [40, 80, 120] and study["spec"]["oracle"] == spec.oracle.tolist()
    for i, s in enumerate(cfg.bandit_seeds):
        for name, pol in (("oracle", FixedPolicy(spec.oracle)), ("uniform", UniformPolicy(3))):
            curve = run_bandit(spec, pol, seed=s * 100 + 50).avg_score
            assert study["curves"][name][i] == curve[39::40].tolist()
        assert study["final"]["oracle"][i] == study["curves"]["oracle"][i][-1]
    assert study["final_median"]["uniform"] == float(np.median(study["final"]["uniform"]))


def test_lambda_is_the_best_mean_final_score_on_the_tuning_seeds(study):
    tuning = study["lambda_tuning"]
    assert sorted(tuning) == ["0.1", "0.5"] and all(len(v) == 2 for v in tuning.values())
    means = {float(k): np.mean(v) for k, v in tuning.items()}
    assert study["lambda"] == max(means, key=means.get)


def test_improve_policy_returns_one_iterate_per_improvement_step():
    cfg = Tiny()
    policy, iterates = improve_policy(bandit_spec(cfg), cfg, 0.25, seed=3)
    assert len(iterates) == cfg.improvement_iterations
    assert all(sum(p) == pytest.approx(1.0) and min(p) > 0 for p in iterates)
    np.testing.assert_allclose(policy.probabilities(), iterates[-1])


def _numbers(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "wall_s"}


def test_same_config_same_study_and_checkpoints_resume_it(study, tmp_path):
    first = run_bandit_experiment(Tiny(), CheckpointStore(tmp_path, fingerprint="bandit-study-test"))
    assert _numbers(first) == _numbers(study)
    assert any(tmp_path.iterdir())                                   # the runs were stored ...
    resumed = run_bandit_experiment(Tiny(), CheckpointStore(tmp_path, fingerprint="bandit-study-test"))
    assert _numbers(resumed) == _numbers(study)                      # ... and read back unchanged
