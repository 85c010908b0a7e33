"""Task selection policies for multi-task learning (Glover & Hokamp, 2019).

Policies share one interface (``probabilities()``, ``sample(rng)``, ``update(task, reward)``): uniform
(Eq. 3), task-size (Eq. 4), Exp3.S (Eq. 5) and the counterfactual softmax policy π^C (Eq. 12) fitted by CMA-ES
on the weighted importance sampling value plus an entropy bonus (Eqs. 9–14). Rewards: prediction gain with
the scaling of Eq. 6, and the progress reward of Eq. 16. The MTL bandit of §4.1 and a policy-driven
multi-task training loop complete the package; the chapter's studies are :mod:`~mtlnotes.scheduling.bandit_study`
(§4.1, Fig. 1), :mod:`~mtlnotes.scheduling.suite` (the offline image suite) and
:mod:`~mtlnotes.scheduling.glue_runner` (§4.2, GLUE; needs the GLUE data and a pretrained encoder).
"""

from mtlnotes.scheduling.bandit import BanditRun, BanditSpec, MTLBandit, progress_reward, run_bandit
from mtlnotes.scheduling.counterfactual import (CounterfactualFit, TaskLog, concat_logs, fit_counterfactual_policy,
                                                wis_objective)
from mtlnotes.scheduling.estimators import entropy, importance_weights, is_estimate, wis_estimate
from mtlnotes.scheduling.policies import (Exp3SPolicy, FixedPolicy, SoftmaxPolicy, TaskPolicy, TaskSizePolicy,
                                          UniformPolicy, softmax)
from mtlnotes.scheduling.rewards import ProgressReward, RewardScaler, prediction_gain
from mtlnotes.scheduling.trainer import PolicyTrainingResult, TaskSampler, train_with_policy

__all__ = [
    "BanditRun", "BanditSpec", "MTLBandit", "progress_reward", "run_bandit",
    "CounterfactualFit", "TaskLog", "concat_logs", "fit_counterfactual_policy", "wis_objective",
    "entropy", "importance_weights", "is_estimate", "wis_estimate",
    "Exp3SPolicy", "FixedPolicy", "SoftmaxPolicy", "TaskPolicy", "TaskSizePolicy", "UniformPolicy", "softmax",
    "ProgressReward", "RewardScaler", "prediction_gain",
    "PolicyTrainingResult", "TaskSampler", "train_with_policy",
]
