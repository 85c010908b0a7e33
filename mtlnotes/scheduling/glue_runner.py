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
from mtlnotes.scheduling.policies import Exp3SPolicy, FixedPolicy, PolicyRunConfig, TaskSizePolicy, UniformPolicy
from mtlnotes.scheduling.suite import METHODS
from mtlnotes.scheduling.trainer import train_with_policy

__all__ = ["GlueConfig", "GlueRequirementError", "GLUE_ORDER", "check_glue_requirements", "glue_loss", "GlueTraining",
           "run_glue"]


class GlueConfig(PolicyRunConfig, Protocol):
    """The settings the GLUE runs read (the task selection chapter's ``Config`` has them all)."""

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
    @property
    def glue_single_epochs(self) -> int: ...                  # Table 2's single-task fine-tuning (BERT: 3)


class GlueRequirementError(DataError):
    """The paper profile needs GLUE files, ``transformers`` and BERT weights that are not available."""


GLUE_ORDER = ("CoLA", "MNLI", "MRPC", "QNLI", "QQP", "RTE", "SST-2", "STS-B")


def check_glue_requirements(config: GlueConfig, root: str | os.PathLike | None = None) -> None:
    """Fail early and clearly: every GLUE file present and verified, ``transformers`` importable, the BERT
    weights ``config.glue_model`` loadable without a download."""
    from mtlnotes.data.glue import GLUE_FILES
    from mtlnotes.data.glue_test import GLUE_TEST_FILES

    for files in (GLUE_FILES, GLUE_TEST_FILES):  # train/dev, and MRPC's test file for Table 2's submission
        for name in files:
            fetch(files[name], root, download=False)
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


class GlueTraining:
    """One GLUE setting (``tasks``, their train/dev data, the tokenizer and the encoder factory) and how to train
    and evaluate a model on it: shared by the policies of Table 1 and the single-task baselines of Table 2.

    ``encoder_factory()`` → (encoder, hidden size) and ``tokenizer`` default to BERT from ``config.glue_model``
    via transformers; tests pass small stand-ins."""

    def __init__(self, config: GlueConfig, tasks: Sequence[str] = GLUE_ORDER, device: torch.device | str | None = None,
                 root: str | os.PathLike | None = None,
                 encoder_factory: Callable[[], tuple[nn.Module, int]] | None = None,
                 tokenizer: Callable | None = None) -> None:
        from mtlnotes.data.glue import GLUE_TASKS, load_glue

        self.config, self.tasks, self.device = config, tuple(tasks), torch.device(device or "cpu")
        if encoder_factory is None or tokenizer is None:
            from transformers import AutoModel, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(config.glue_model, local_files_only=True)

            def encoder_factory():
                enc = AutoModel.from_pretrained(config.glue_model, local_files_only=True)
                return enc, enc.config.hidden_size
        self.encoder_factory, self.tokenizer = encoder_factory, tokenizer
        self.specs = [GLUE_TASKS[t] for t in self.tasks]
        self.data = {split: [load_glue(t, split, root) for t in self.tasks] for split in ("train", "dev")}
        self.regression = [s.is_regression for s in self.specs]
        self.sizes = [len(d) for d in self.data["train"]]

    def encode(self, text_a: Sequence[str], text_b: Sequence[str] | None) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(list(text_a), None if text_b is None else list(text_b), truncation=True,
                             max_length=self.config.glue_max_length, padding=True, return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items()}

    @torch.no_grad()
    def predict(self, model: GlueMultiTaskModel, k: int, text_a: Sequence[str],
                text_b: Sequence[str] | None, batch: int = 64) -> np.ndarray:
        """Task ``k``'s predictions (class ids, or scores for STS-B) for the given texts, in eval mode."""
        model.eval()
        outs = [model(self.encode(text_a[i:i + batch], None if text_b is None else text_b[i:i + batch]), k).cpu()
                for i in range(0, len(text_a), batch)]
        out = torch.cat(outs)
        return out.squeeze(-1).numpy() if self.regression[k] else out.argmax(1).numpy()

    def dev_scores(self, model: GlueMultiTaskModel) -> list[float]:
        """The task score of Table 1 on every task's dev set."""
        from mtlnotes.data.glue import glue_score
        return [glue_score(self.tasks[k], self.predict(model, k, ex.text_a, ex.text_b), ex.labels)
                for k, ex in enumerate(self.data["dev"])]

    def train(self, method: str, seed: int, pi_c: np.ndarray | None = None) -> tuple[dict, GlueMultiTaskModel]:
        """Fine-tune one model under the policy ``method`` (uniform, task_size, exp3s, or counterfactual with
        probabilities ``pi_c``); returns (the run's record, the trained model)."""
        config, n = self.config, len(self.tasks)
        seed_everything(seed)
        enc, hidden = self.encoder_factory()
        model = GlueMultiTaskModel(enc, hidden, [s.n_labels for s in self.specs]).to(self.device)
        opt = torch.optim.AdamW(model.parameters(), lr=config.glue_lr)
        policy = {"uniform": lambda: UniformPolicy(n), "task_size": lambda: TaskSizePolicy(self.sizes),
                  "exp3s": lambda: Exp3SPolicy(n, config.eta, config.eps),
                  "counterfactual": lambda: FixedPolicy(pi_c, name="counterfactual")}[method]()

        def batch_fn(k, idx):
            ex = self.data["train"][k]
            y = torch.as_tensor(ex.labels[idx.numpy()]).to(self.device)
            rows = idx.tolist()
            return self.encode([ex.text_a[i] for i in rows],
                               None if ex.text_b is None else [ex.text_b[i] for i in rows]), y

        res = train_with_policy(model, opt, policy, batch_fn, glue_loss(self.regression), self.sizes,
                                config.glue_steps, config.glue_batch_size, seed, lambda: self.dev_scores(model),
                                config.glue_eval_every, desc=f"GLUE {method} seed {seed}")
        final = res.evals[-1][1]
        return {"final": dict(zip(self.tasks, final)), "average": float(np.mean(final)),
                "counts": res.counts.tolist(), "eval_steps": [s for s, _ in res.evals],
                "eval_average": [float(np.mean(a)) for _, a in res.evals],
                "log": {"actions": res.log.actions.tolist(), "behavior_probs": res.log.behavior_probs.tolist(),
                        "rewards": res.log.rewards.tolist()}}, model


def run_glue(config: GlueConfig, device: torch.device | str | None = None, store: CheckpointStore | None = None,
             root: str | os.PathLike | None = None,
             encoder_factory: Callable[[], tuple[nn.Module, int]] | None = None, tokenizer: Callable | None = None,
             tasks: tuple[str, ...] = GLUE_ORDER) -> dict:
    """§4.2: uniform, task size, Exp3.S and π^C (one improvement step from the first uniform run; fitted for
    each λ in ``glue_lambdas``, each run once with the first seed, the best on dev then run with all seeds).

    ``encoder_factory`` and ``tokenizer``: see :class:`GlueTraining`. Scores: GLUE dev (MNLI matched), Table 1's
    task score.
    """
    store = store or CheckpointStore(None)
    setup = GlueTraining(config, tasks, device, root, encoder_factory, tokenizer)
    sizes = setup.sizes

    def one_run(method: str, seed: int, pi_c=None) -> dict:
        return setup.train(method, seed, pi_c)[0]

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
