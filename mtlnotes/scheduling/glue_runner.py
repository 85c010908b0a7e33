"""GLUE with BERT-base under the four task selection policies (Glover & Hokamp, 2019, "Task Selection Policies for
Multitask Learning", §4.2, Table 1).

Uniform, task size, Exp3.S and π^C drive :func:`~mtlnotes.scheduling.trainer.train_with_policy` on a
:class:`~mtlnotes.models.task_indexed.GlueMultiTaskModel` (a shared encoder, one linear head per task) with AdamW;
π^C is fitted on the logged uniform run of the first seed (one improvement step, Eq. 14). Scores are GLUE dev
scores (MNLI matched), Table 1's task scores.

Needs the official GLUE files in the data cache and BERT weights loadable by ``transformers`` without a
download: :func:`check_glue_requirements` fails early and clearly otherwise. ``config`` is any object with the
fields of :class:`GlueConfig` (the task selection chapter's ``Config``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data.cache import DataError, fetch
from mtlnotes.models.task_indexed import GlueMultiTaskModel
from mtlnotes.repro import seed_everything
from mtlnotes.scheduling.counterfactual import TaskLog, fit_counterfactual_policy
from mtlnotes.scheduling.policies import Exp3SPolicy, FixedPolicy, TaskSizePolicy, UniformPolicy
from mtlnotes.scheduling.suite import METHODS
from mtlnotes.scheduling.trainer import train_with_policy

__all__ = ["GlueConfig", "GlueRequirementError", "GLUE_ORDER", "check_glue_requirements", "glue_loss", "run_glue"]


class GlueConfig(Protocol):
    """The settings the GLUE runs read (the task selection chapter's ``Config`` has them all)."""

    @property
    def seeds(self) -> tuple[int, ...]: ...
    @property
    def eta(self) -> float: ...                                # Exp3.S
    @property
    def eps(self) -> float: ...
    @property
    def glue_model(self) -> str: ...                           # a local path or a name transformers can load
    @property
    def glue_max_length(self) -> int: ...
    @property
    def glue_batch_size(self) -> int: ...
    @property
    def glue_lr(self) -> float: ...                            # AdamW
    @property
    def glue_steps(self) -> int: ...
    @property
    def glue_eval_every(self) -> int: ...
    @property
    def glue_lambdas(self) -> tuple[float, ...]: ...           # π^C is fitted and tried for each
    @property
    def glue_cma_iterations(self) -> int: ...
    @property
    def glue_cma_popsize(self) -> int: ...


class GlueRequirementError(DataError):
    """The paper profile needs GLUE files, ``transformers`` and BERT weights that are not available."""


GLUE_ORDER = ("CoLA", "MNLI", "MRPC", "QNLI", "QQP", "RTE", "SST-2", "STS-B")


def check_glue_requirements(config: GlueConfig, root: str | os.PathLike | None = None) -> None:
    """Fail early and clearly: every GLUE file present and verified, ``transformers`` importable, the BERT
    weights ``config.glue_model`` loadable without a download."""
    from mtlnotes.data.glue import GLUE_FILES

    for name in GLUE_FILES:
        fetch(GLUE_FILES[name], root, download=False)
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise GlueRequirementError("the paper profile fine-tunes BERT-base and needs the 'transformers' package: "
                                   "pip install 'mtlnotes[paper]'") from None
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(config.glue_model, local_files_only=True)
    except Exception as exc:  # transformers raises OSError/ValueError variants for missing weights
        raise GlueRequirementError(f"BERT weights {config.glue_model!r} are not available locally ({exc}). "
                                   f"Download them once (e.g. huggingface-cli download {config.glue_model}) or "
                                   f"point Config.glue_model at a local folder.") from None


def glue_loss(regression: Sequence[bool]) -> Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(task, output, targets)``: mean squared error on the squeezed output for a regression task (STS-B),
    cross-entropy for a classification task."""
    def loss(k: int, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out.squeeze(-1), y) if regression[k] else F.cross_entropy(out, y)
    return loss


def run_glue(config: GlueConfig, device: torch.device | str | None = None, store: CheckpointStore | None = None,
             root: str | os.PathLike | None = None,
             encoder_factory: Callable[[], tuple[nn.Module, int]] | None = None, tokenizer: Callable | None = None,
             tasks: tuple[str, ...] = GLUE_ORDER) -> dict:
    """§4.2: uniform, task size, Exp3.S and π^C (one improvement step from the first uniform run; fitted for
    each λ in ``glue_lambdas``, each run once with the first seed, the best on dev then run with all seeds).

    ``encoder_factory()`` → (encoder, hidden size) and ``tokenizer`` default to BERT from ``config.glue_model``
    via transformers; tests pass small stand-ins. Scores: GLUE dev (MNLI matched), Table 1's task score.
    """
    from mtlnotes.data.glue import GLUE_TASKS, glue_score, load_glue

    store = store or CheckpointStore(None)
    device = torch.device(device or "cpu")
    if encoder_factory is None or tokenizer is None:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(config.glue_model, local_files_only=True)

        def encoder_factory():
            enc = AutoModel.from_pretrained(config.glue_model, local_files_only=True)
            return enc, enc.config.hidden_size
    specs = [GLUE_TASKS[t] for t in tasks]
    data = {split: [load_glue(t, split, root) for t in tasks] for split in ("train", "dev")}

    def encode(ex, idx):
        a = [ex.text_a[i] for i in idx]
        b = None if ex.text_b is None else [ex.text_b[i] for i in idx]
        enc = tokenizer(a, b, truncation=True, max_length=config.glue_max_length, padding=True,
                        return_tensors="pt")
        return {k: v.to(device) for k, v in enc.items()}

    regression = [s.is_regression for s in specs]
    sizes = [len(d) for d in data["train"]]

    def one_run(method: str, seed: int, pi_c=None) -> dict:
        seed_everything(seed)
        enc, hidden = encoder_factory()
        model = GlueMultiTaskModel(enc, hidden, [s.n_labels for s in specs]).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=config.glue_lr)
        policy = {"uniform": lambda: UniformPolicy(len(tasks)), "task_size": lambda: TaskSizePolicy(sizes),
                  "exp3s": lambda: Exp3SPolicy(len(tasks), config.eta, config.eps),
                  "counterfactual": lambda: FixedPolicy(pi_c, name="counterfactual")}[method]()

        def batch_fn(k, idx):
            ex = data["train"][k]
            y = torch.as_tensor(ex.labels[idx.numpy()]).to(device)
            return encode(ex, idx.tolist()), y

        def evaluate() -> list[float]:
            model.eval()
            scores = []
            with torch.no_grad():
                for k, ex in enumerate(data["dev"]):
                    outs = [model(encode(ex, list(range(i, min(i + 64, len(ex))))), k).cpu()
                            for i in range(0, len(ex), 64)]
                    out = torch.cat(outs)
                    pred = out.squeeze(-1).numpy() if regression[k] else out.argmax(1).numpy()
                    scores.append(glue_score(tasks[k], pred, ex.labels))
            return scores

        res = train_with_policy(model, opt, policy, batch_fn, glue_loss(regression), sizes, config.glue_steps,
                                config.glue_batch_size, seed, evaluate, config.glue_eval_every,
                                desc=f"GLUE {method} seed {seed}")
        final = res.evals[-1][1]
        return {"final": dict(zip(tasks, final)), "average": float(np.mean(final)), "counts": res.counts.tolist(),
                "eval_steps": [s for s, _ in res.evals], "eval_average": [float(np.mean(a)) for _, a in res.evals],
                "log": {"actions": res.log.actions.tolist(), "behavior_probs": res.log.behavior_probs.tolist(),
                        "rewards": res.log.rewards.tolist()}}

    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    for method in ("uniform", "task_size", "exp3s"):
        for s in config.seeds:
            runs[method].append(store.get_or_compute(f"glue-{method}-{s}", lambda m=method, s=s: one_run(m, s)))
    lg = runs["uniform"][0]["log"]
    log = TaskLog(np.asarray(lg["actions"]), np.asarray(lg["behavior_probs"]), np.asarray(lg["rewards"]), len(tasks))
    fits, trial = {}, {}
    for lam in config.glue_lambdas:
        fit = fit_counterfactual_policy(log, lam, config.glue_cma_iterations, config.glue_cma_popsize,
                                        seed=config.seeds[0])
        fits[str(lam)] = fit.probs.tolist()
        trial[str(lam)] = store.get_or_compute(f"glue-counterfactual-lam{lam}-{config.seeds[0]}",
                                               lambda p=fit.probs: one_run("counterfactual", config.seeds[0], p))
    best = max(config.glue_lambdas, key=lambda lam: trial[str(lam)]["average"])
    runs["counterfactual"].append(trial[str(best)])
    for s in config.seeds[1:]:
        runs["counterfactual"].append(store.get_or_compute(
            f"glue-counterfactual-{s}", lambda s=s: one_run("counterfactual", s, np.asarray(fits[str(best)]))))
    for m in METHODS:
        for r in runs[m]:
            r.pop("log", None)
    for r in trial.values():
        r.pop("log", None)
    return {"tasks": list(tasks), "train_sizes": sizes, "runs": runs,
            "average": {m: float(np.mean([r["average"] for r in runs[m]])) for m in METHODS},
            "per_task_mean": {m: {t: float(np.mean([r["final"][t] for r in runs[m]])) for t in tasks}
                              for m in METHODS},
            "pi_c_fits": fits, "lambda": best, "lambda_trials": {k: v["average"] for k, v in trial.items()}}
