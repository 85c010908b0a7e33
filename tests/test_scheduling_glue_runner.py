"""The GLUE runner of the task selection chapter (mtlnotes.scheduling.glue_runner), end to end on tiny GLUE fixtures
with a small stand-in encoder (BERT and transformers are not needed), its loss, and the paper profile's clear
failure when data are missing."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import math

import numpy as np
import pytest
import torch
from torch import nn

from mtlnotes.experiments import task_selection as ts
from mtlnotes.scheduling.glue_runner import GLUE_ORDER, glue_loss, run_glue
from mtlnotes.scheduling.suite import METHODS
from test_data_glue import glue_root  # noqa: F401  (fixture)


class _Tok:
    """Whitespace tokenizer hashing words into 50 ids, returning a transformers-like batch dict."""

    def __call__(self, a, b=None, truncation=True, max_length=16, padding=True, return_tensors="pt"):
        texts = [x + " [SEP] " + y for x, y in zip(a, b)] if b is not None else a
        ids = [[1 + sum(map(ord, w)) % 49 for w in t.split()][:max_length] for t in texts]
        width = max(len(i) for i in ids)
        return {"input_ids": torch.tensor([i + [0] * (width - len(i)) for i in ids])}


class _Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)

    def forward(self, input_ids):
        h = self.emb(input_ids).cumsum(1)
        return SimpleNamespace(last_hidden_state=h.flip(1))


def test_run_glue_end_to_end_on_fixtures(glue_root):  # noqa: F811
    cfg = dataclasses.replace(ts.PAPER, seeds=(0, 1), glue_steps=30, glue_eval_every=10, glue_batch_size=2,
                              glue_lambdas=(0.1, 0.2), glue_cma_iterations=3, glue_cma_popsize=8, glue_lr=1e-2)
    out = run_glue(cfg, root=glue_root, encoder_factory=lambda: (_Enc(), 8), tokenizer=_Tok())
    assert out["tasks"] == list(GLUE_ORDER)
    assert set(out["average"]) == set(METHODS)
    assert all(len(out["runs"][m]) == 2 for m in METHODS)
    for m in METHODS:
        for r in out["runs"][m]:
            assert sum(r["counts"]) == 30 and r["eval_steps"] == [10, 20, 30]
            assert all(np.isfinite(v) or np.isnan(v) for v in r["final"].values())
    for probs in out["pi_c_fits"].values():
        assert sum(probs) == pytest.approx(1.0)
    assert out["lambda"] in (0.1, 0.2)
    trials = out["lambda_trials"]                                   # λ: the best first-seed π^C run on dev
    assert trials[str(out["lambda"])] == max(trials.values()) == out["runs"]["counterfactual"][0]["average"]
    cl = ts.claims({"glue": out}, cfg)
    assert any("GLUE" in c.claim for c in cl)


def test_glue_loss_is_mse_for_regression_and_cross_entropy_for_classification():
    loss = glue_loss([False, True])
    assert float(loss(1, torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0]))) == pytest.approx(2.5)  # (1+4)/2
    assert float(loss(0, torch.zeros(2, 3), torch.tensor([0, 2]))) == pytest.approx(math.log(3))


def test_paper_profile_fails_clearly_without_glue(tmp_path, monkeypatch, capsys):
    from mtlnotes.experiments.cli import run_cli

    monkeypatch.setenv("MTLNOTES_DATA", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        run_cli(ts.CHAPTER, {"paper": ts.PAPER}, ts.run, ts.claims,
                ["--profile", "paper", "--out", str(tmp_path / "r.json"), "--device", "cpu"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "glue" in err and "sha256" in err and "gluebenchmark" in err
    assert not (tmp_path / "r.json").exists()
