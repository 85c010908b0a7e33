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


def _with_test_files(glue_root):  # noqa: F811
    """Add the official test files to the fixture cache: test.tsv in each archive, MRPC's SentEval test file."""
    import hashlib
    import zipfile

    import mtlnotes.data.glue as glue
    from mtlnotes.data import RemoteFile
    tests = {"CoLA": ("CoLA.zip", "CoLA", {"test": "index\tsentence\n0\tA cat sat.\n1\tSat cat.\n"}),
             "SST-2": ("SST-2.zip", "SST-2", {"test": "index\tsentence\n0\tgood .\n"}),
             "RTE": ("RTE.zip", "RTE", {"test": "index\tsentence1\tsentence2\n0\tIt rains.\tWet.\n"}),
             "QNLI": ("QNLIv2.zip", "QNLI", {"test": "index\tquestion\tsentence\n0\tWho?\tHim.\n"}),
             "QQP": ("QQP.zip", "QQP", {"test": "id\tquestion1\tquestion2\n7\tHow?\tWhy?\n"}),
             "STS-B": ("STS-B.zip", "STS-B", {"test": "index\tgenre\tfilename\tyear\told_index\tsource1\t"
                                                      "source2\tsentence1\tsentence2\n0\tg\tf\ty\t0\tn\tn\t"
                                                      "A man.\tA dog.\n"}),
             "MNLI": ("MNLI.zip", "MNLI", {s: "index\tsentence1\tsentence2\n0\tA.\tB.\n"
                                           for s in ("test_matched", "test_mismatched")})}
    files = dict(glue.GLUE_FILES)
    for task, (archive, member, splits) in tests.items():
        path = glue_root / "glue" / archive
        with zipfile.ZipFile(path, "a") as zf:
            for split, text in splits.items():
                zf.writestr(f"{member}/{split}.tsv", text)
        files[archive] = RemoteFile("glue", archive, (), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    mrpc = glue_root / "glue" / "msr_paraphrase_test.txt"
    mrpc.write_text("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA b.\tA c.\n"
                    "0\t3\t4\tD e.\tF g.\n", encoding="utf-8")
    return files, {"msr_paraphrase_test.txt": RemoteFile("glue", "msr_paraphrase_test.txt", (),
                                                         md5=hashlib.md5(mrpc.read_bytes()).hexdigest())}


def test_table2_trains_single_task_and_mtl_models_and_writes_the_glue_server_files(glue_root, monkeypatch,  # noqa: F811
                                                                                     tmp_path):
    import mtlnotes.data.glue as glue
    import mtlnotes.data.glue_test as glue_test
    from mtlnotes.scheduling.glue_table2 import run_glue_table2
    files, test_files = _with_test_files(glue_root)
    monkeypatch.setattr(glue, "GLUE_FILES", files)
    monkeypatch.setattr(glue_test, "GLUE_FILES", files)
    monkeypatch.setattr(glue_test, "GLUE_TEST_FILES", test_files)
    cfg = dataclasses.replace(ts.PAPER, seeds=(0,), glue_steps=16, glue_eval_every=8, glue_batch_size=2,
                              glue_lr=1e-2, glue_single_epochs=2)
    pi_c = np.full(len(GLUE_ORDER), 1 / len(GLUE_ORDER))
    out = run_glue_table2(cfg, pi_c, root=glue_root, encoder_factory=lambda: (_Enc(), 8), tokenizer=_Tok(),
                          submission_dir=tmp_path / "sub")
    assert set(out["single_task_dev"]) == set(out["mtl_dev"]) == set(GLUE_ORDER)
    assert out["single_task_steps"]["RTE"] == 2 * 1 and out["single_task_steps"]["CoLA"] == 2 * 2  # 2, 3 rows
    names = sorted(p.split("/")[-1] for p in out["submission_files"] if "/mtl-pi-c/" in p)
    assert names == sorted(glue_test.SUBMISSION_NAMES.values())
    mrpc = (tmp_path / "sub" / "single-task" / "MRPC.tsv").read_text().splitlines()
    assert mrpc[0] == "index\tprediction" and [r.split("\t")[0] for r in mrpc[1:]] == ["0", "1"]
    rte = (tmp_path / "sub" / "mtl-pi-c" / "RTE.tsv").read_text().splitlines()[1].split("\t")
    assert rte[0] == "0" and rte[1] in ("entailment", "not_entailment")
    stsb = float((tmp_path / "sub" / "mtl-pi-c" / "STS-B.tsv").read_text().splitlines()[1].split("\t")[1])
    assert 0.0 <= stsb <= 5.0
    with pytest.raises(ValueError, match="probabilities summing to 1"):
        run_glue_table2(cfg, [1.0, 0.0], root=glue_root, encoder_factory=lambda: (_Enc(), 8), tokenizer=_Tok())
