"""Table 2 of Glover & Hokamp (2019): MTL under the learned policy π^C against single-task fine-tuning of BERT, task
by task.

The paper scores both on the GLUE test set, whose labels only the GLUE server holds. :func:`run_glue_table2`
therefore does what can be done locally and prepares the rest: it fine-tunes one single-task model per task
(BERT's recipe: ``config.glue_single_epochs`` epochs over the task's training set) and one MTL model under π^C
(the chapter's schedule), reports both on the dev sets (the task scores of Table 1), and, given
``submission_dir``, writes the GLUE test predictions of both in the server's format
(:func:`mtlnotes.data.glue_test.write_glue_submission`) under ``single-task/`` and ``mtl-pi-c/``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mtlnotes.scheduling.glue_runner import GLUE_ORDER, GlueConfig, GlueTraining

__all__ = ["single_task_steps", "run_glue_table2"]


def single_task_steps(n_train: int, epochs: int, batch_size: int) -> int:
    """Optimiser steps of single-task fine-tuning: ``epochs`` passes over ``n_train`` examples in batches of
    ``batch_size`` (the last, partial batch of each epoch counted), at least one.

    >>> single_task_steps(2490, 3, 16)  # RTE: 156 batches per epoch
    468
    """
    if n_train < 1 or epochs < 1 or batch_size < 1:
        raise ValueError(f"need n_train, epochs and batch_size >= 1, got {n_train}, {epochs}, {batch_size}")
    return epochs * math.ceil(n_train / batch_size)


def _test_predictions(setup: GlueTraining, model: nn.Module, root) -> tuple[dict, dict]:
    from mtlnotes.data.glue_test import TEST_SPLITS, load_glue_test
    preds, examples = {}, {}
    for k, task in enumerate(setup.tasks):
        for split in TEST_SPLITS[task]:
            ex = load_glue_test(task, split, root)
            examples[task, split] = ex
            preds[task, split] = setup.predict(model, k, ex.text_a, ex.text_b)
    return preds, examples


def run_glue_table2(config: GlueConfig, pi_c: Sequence[float], seed: int | None = None,
                    device: torch.device | str | None = None, root: str | os.PathLike | None = None,
                    encoder_factory: Callable[[], tuple[nn.Module, int]] | None = None,
                    tokenizer: Callable | None = None, tasks: tuple[str, ...] = GLUE_ORDER,
                    submission_dir: str | os.PathLike | None = None) -> dict:
    """Single-task models and the MTL model under ``pi_c`` (probabilities over ``tasks``), trained with ``seed``
    (default: the config's first); dev task scores side by side, and the submission files when asked."""
    from mtlnotes.data.glue_test import write_glue_submission

    seed = config.seeds[0] if seed is None else seed
    pi_c = np.asarray(pi_c, dtype=float)
    if pi_c.shape != (len(tasks),) or not np.isclose(pi_c.sum(), 1.0) or (pi_c < 0).any():
        raise ValueError(f"pi_c must be {len(tasks)} probabilities summing to 1, got {pi_c.tolist()}")
    out_dir = None if submission_dir is None else Path(submission_dir)
    mtl = GlueTraining(config, tasks, device, root, encoder_factory, tokenizer)
    record, model = mtl.train("counterfactual", seed, pi_c)
    files: list[str] = []
    if out_dir is not None:
        files += [str(p) for p in write_glue_submission(*_test_predictions(mtl, model, root), out_dir / "mtl-pi-c")]
    single, steps = {}, {}
    for task in tasks:
        n = len(mtl.data["train"][tasks.index(task)])
        steps[task] = single_task_steps(n, config.glue_single_epochs, config.glue_batch_size)
        cfg = dataclasses.replace(config, glue_steps=steps[task], glue_eval_every=0)
        setup = GlueTraining(cfg, (task,), device, root, encoder_factory, tokenizer)
        rec, st_model = setup.train("uniform", seed)  # one task: the policy always picks it
        single[task] = rec["final"][task]
        if out_dir is not None:
            files += [str(p) for p in write_glue_submission(*_test_predictions(setup, st_model, root),
                                                            out_dir / "single-task")]
    return {"tasks": list(tasks), "seed": seed, "pi_c": pi_c.tolist(), "single_task_dev": single,
            "mtl_dev": record["final"], "single_task_steps": steps, "mtl_steps": config.glue_steps,
            "average": {"single-task": float(np.mean(list(single.values()))),
                        "mtl-pi-c": float(np.mean(list(record["final"].values())))},
            "submission_files": files}
