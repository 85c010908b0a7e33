"""The MTL bandit study of Glover & Hokamp (2019), "Task Selection Policies for Multitask Learning", §4.1, Fig. 1.

Uniform, Exp3.S, π^C and the oracle on one :class:`~mtlnotes.scheduling.bandit.BanditSpec` (at the paper's scale:
N = 8 arms, α^MTL = 2, Exp3.S with η = 1e-3, ε = 0.05). π^C comes from policy improvement (§3.3.2): starting
from uniform, log a run, fit π^C by CMA-ES on all logs so far (Eq. 14), repeat. The entropy weight λ is chosen
on separate tuning seeds by the final average score (the paper does not say on which runs it chose λ; choosing
on the reported runs would flatter π^C).

``config`` is any object with the fields of :class:`BanditStudyConfig` (the task selection chapter's ``Config``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.scheduling.bandit import BanditSpec, run_bandit
from mtlnotes.scheduling.counterfactual import concat_logs, fit_counterfactual_policy
from mtlnotes.scheduling.policies import Exp3SPolicy, FixedPolicy, SoftmaxPolicy, TaskPolicy, UniformPolicy
from mtlnotes.training import Stopwatch, progress

__all__ = ["BanditStudyConfig", "bandit_spec", "improve_policy", "run_bandit_experiment"]


class BanditStudyConfig(Protocol):
    """The settings the bandit study reads (the task selection chapter's ``Config`` has them all)."""

    @property
    def bandit_arms(self) -> int: ...                          # N
    @property
    def bandit_alpha(self) -> float: ...                       # α^MTL
    @property
    def bandit_horizon(self) -> int: ...                       # T
    @property
    def bandit_env_seed(self) -> int: ...                      # π^ORACLE, MaxP, FI drawn once for all runs
    @property
    def bandit_seeds(self) -> tuple[int, ...]: ...             # the reported runs
    @property
    def bandit_tuning_seeds(self) -> tuple[int, ...]: ...      # λ is picked on these
    @property
    def eta(self) -> float: ...                                # Exp3.S
    @property
    def eps(self) -> float: ...
    @property
    def bandit_lambdas(self) -> tuple[float, ...]: ...         # entropy weight grid
    @property
    def bandit_cma_iterations(self) -> int: ...
    @property
    def bandit_cma_popsize(self) -> int: ...
    @property
    def improvement_iterations(self) -> int: ...
    @property
    def bandit_curve_every(self) -> int: ...                   # store the average score every this many steps


def bandit_spec(config: BanditStudyConfig) -> BanditSpec:
    """The one bandit all runs of the study share (drawn with ``bandit_env_seed``)."""
    return BanditSpec.sample(config.bandit_arms, config.bandit_alpha, config.bandit_horizon, config.bandit_env_seed)


def improve_policy(spec: BanditSpec, config: BanditStudyConfig, lam: float,
                   seed: int) -> tuple[SoftmaxPolicy, list[list[float]]]:
    """Policy improvement on the bandit (§3.3.2): log a run of the current policy (uniform first), fit π^C on
    all logs so far, repeat ``improvement_iterations`` times. Returns the final π^C and each iterate's probs."""
    policy: TaskPolicy = UniformPolicy(spec.n_arms)
    logs, iterates = [], []
    for it in range(config.improvement_iterations):
        logs.append(run_bandit(spec, policy, seed=seed * 100 + it).log)
        fit = fit_counterfactual_policy(concat_logs(logs), lam, config.bandit_cma_iterations,
                                        config.bandit_cma_popsize, seed=seed * 100 + it)
        policy = SoftmaxPolicy(fit.omega)
        iterates.append(fit.probs.tolist())
    return policy, iterates


def run_bandit_experiment(config: BanditStudyConfig, store: CheckpointStore | None = None) -> dict:
    """Fig. 1: average score over time of uniform, Exp3.S, π^C and the oracle on the MTL bandit.

    λ is picked on ``bandit_tuning_seeds`` by the final average score; all reported runs use other seeds.
    Each reported seed s runs its own improvement pipeline (log seeds 100 s + i) and then the final π^C, the
    uniform, Exp3.S and oracle policies with the same run seed 100 s + 50.
    """
    store = store or CheckpointStore(None)
    spec = bandit_spec(config)
    every = config.bandit_curve_every
    sw = Stopwatch()

    def tune(lam: float) -> list[float]:
        out = []
        for s in config.bandit_tuning_seeds:
            policy, _ = improve_policy(spec, config, lam, s)
            out.append(float(run_bandit(spec, policy, seed=s * 100 + 50).avg_score[-1]))
        return out

    with sw:
        tuning = {str(lam): store.get_or_compute(f"bandit-tune-{lam}", lambda lam=lam: tune(lam))
                  for lam in progress(config.bandit_lambdas, desc="lambda grid")}
        best_lam = max(config.bandit_lambdas, key=lambda lam: (float(np.mean(tuning[str(lam)])), -lam))

        def one_seed(s: int) -> dict:
            cf, iterates = improve_policy(spec, config, best_lam, s)
            runs = {"uniform": UniformPolicy(spec.n_arms), "exp3s": Exp3SPolicy(spec.n_arms, config.eta, config.eps),
                    "counterfactual": cf, "oracle": FixedPolicy(spec.oracle, name="oracle")}
            out = {"pi_c": cf.probabilities().tolist(), "pi_c_iterates": iterates}
            for name, pol in runs.items():
                curve = run_bandit(spec, pol, seed=s * 100 + 50).avg_score
                out[name] = curve[every - 1::every].tolist()
            return out

        per_seed = [store.get_or_compute(f"bandit-seed-{s}", lambda s=s: one_seed(s))
                    for s in progress(config.bandit_seeds, desc="bandit seeds")]
    methods = ("uniform", "exp3s", "counterfactual", "oracle")
    curves = {m: [r[m] for r in per_seed] for m in methods}
    final = {m: [c[-1] for c in curves[m]] for m in methods}
    return {
        "spec": {"oracle": spec.oracle.tolist(), "max_p": spec.max_p.tolist(),
                 "forget_frac": spec.forget_frac.tolist(), "horizon": spec.horizon},
        "steps": list(range(every, spec.horizon + 1, every)),
        "curves": curves,
        "final": final,
        "final_median": {m: float(np.median(v)) for m, v in final.items()},
        "lambda_tuning": tuning,
        "lambda": best_lam,
        "pi_c": [r["pi_c"] for r in per_seed],
        "pi_c_iterates": [r["pi_c_iterates"] for r in per_seed],
        "wall_s": sw.seconds,
    }
