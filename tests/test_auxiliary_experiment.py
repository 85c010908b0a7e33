"""The rl_aux chapter module: task construction (CIFAR-100 fixture in the official format), each method end to
end on a tiny task, determinism, claims, and the CLI's error when data is missing."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from cifar_fixture import write_cifar100_fixture  # noqa: E402

from mtlnotes.experiments import rl_aux  # noqa: E402
from mtlnotes.experiments.rl_aux import METHODS, QUICK, TaskSplit, claims, load_task, train_method  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread (tests/conftest.py)


TINY = dataclasses.replace(QUICK, seeds=(0,), epochs=1, batch_size=10, eval_batch_size=8, ppo_n_steps=20,
                           ppo_batch_size=10, ppo_n_epochs=1, hidden=8, agent_features=8, lambda_ablation=())


def _tiny_split(n, seed):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 5
    return TaskSplit(torch.rand(n, 1, 28, 28, generator=gen), y, 2 * y + (torch.arange(n) // 5) % 2, 5, 2)


def test_cifar100_task_from_official_format_fixture(tmp_path):
    write_cifar100_fixture(tmp_path / "cifar100" / "cifar-100-python.tar.gz", n_train=40, n_test=12)
    import mtlnotes.data.cifar as cifar
    cfg = dataclasses.replace(rl_aux.PAPER, n_val=10, n_train=20, n_test=None)
    # the fixture is not the official archive: skip the checksum but keep the official reader
    orig = cifar.fetch
    cifar.fetch = lambda remote, root=None, download=True: tmp_path / remote.dataset / remote.filename
    try:
        train, val, test = load_task(cfg, tmp_path)
    finally:
        cifar.fetch = orig
    assert (len(train), len(val), len(test)) == (20, 10, 12)
    assert train.images.shape[1:] == (3, 32, 32) and train.n_primary == 20 and train.psi == 5
    assert torch.equal(train.aux // 5, train.y)  # human label = fine class inside its superclass


@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_and_reports(method):
    train, val, test = _tiny_split(20, 0), _tiny_split(10, 1), _tiny_split(10, 2)
    r = train_method(method, train, val, test, TINY, seed=0)
    assert 0 <= r["test_acc"] <= 1 and len(r["val_acc"]) == 1 and r["best_epoch"] == 0
    assert len(r["epoch_seconds"]) == 1
    assert all(0 <= r[f"test_{k}"] <= 1 for k in ("precision", "recall", "f1"))
    if method in ("rl", "wa-rl"):
        assert len(r["agent_seconds"]) == 1 and len(r["mean_reward"]) == 1
        assert len(r["policy_top_prob"]) == 1 and 1 / TINY.psi <= r["policy_top_prob"][0] <= 1
        assert ("weight_top_prob" in r) == (method == "wa-rl")
    else:
        assert "policy_top_prob" not in r


def test_same_seed_same_result():
    train, val, test = _tiny_split(20, 0), _tiny_split(10, 1), _tiny_split(10, 2)
    a = train_method("rl", train, val, test, TINY, seed=3)
    b = train_method("rl", train, val, test, TINY, seed=3)
    assert a["val_acc"] == b["val_acc"] and a["mean_reward"] == b["mean_reward"] and a["test_loss"] == b["test_loss"]


def test_human_method_needs_human_labels():
    train = dataclasses.replace(_tiny_split(20, 0), aux=None)
    with pytest.raises(ValueError, match="no human auxiliary labels"):
        train_method("human", train, _tiny_split(10, 1), _tiny_split(10, 2), TINY, seed=0)
    with pytest.raises(ValueError, match="unknown method"):
        train_method("auxilearn", train, _tiny_split(10, 1), _tiny_split(10, 2), TINY, seed=0)


def test_the_chapter_config_has_every_setting_train_method_reads():
    """TrainConfig lists every ``config.x`` that mtlnotes.auxiliary.methods reads; the chapter's Config has them."""
    import inspect
    import re

    from mtlnotes.auxiliary import methods

    wanted = {name for name, value in vars(methods.TrainConfig).items() if isinstance(value, property)}
    read = set(re.findall(r"(?<![.\w])config\.(\w+)", inspect.getsource(methods)))
    assert read and read <= wanted <= {f.name for f in dataclasses.fields(rl_aux.Config)}


def _results(offsets=(0.0, 0.01, -0.01)):
    """Runs of every method on len(offsets) seeds; a seed's offset is added to every method alike, so the paired
    differences are exact."""
    runs = [{"method": m, "seed": s, "test_acc": acc + off, "epoch_seconds": [sec]}
            for m, acc, sec in [("single", 0.80, 1.0), ("human", 0.82, 1.0), ("maxl", 0.83, 4.0), ("rl", 0.81, 8.0),
                                ("wa-maxl", 0.84, 4.0), ("wa-rl", 0.79, 9.0)] for s, off in enumerate(offsets)]
    return {"data": {"dataset": "x", "n_primary": 5, "psi": 2, "n_train": 10}, "runs": runs,
            "summary": rl_aux.summarize(runs, METHODS), "ablation": []}


def test_claims_compare_methods():
    cl = {c.claim: c for c in claims(_results(), TINY)}
    assert cl["a human-labelled auxiliary task beats single-task learning"].holds is True
    assert cl["RL-AUX beats the human-labelled auxiliary task"].holds is False
    assert cl["RL-AUX performs as well as MAXL (within 1 point or better)"].holds is False  # 2 points behind
    assert cl["weight-aware RL-AUX beats RL-AUX"].holds is False
    assert cl["a human-labelled auxiliary task beats single-task learning"].ours == pytest.approx(2.0)
    cost = cl["RL-AUX avoids the cost of bi-level optimisation (time per epoch RL / MAXL < 1)"]
    assert cost.ours == 2.0 and cost.holds is False
    assert cl["test accuracy of rl (%)"].paper == 76.186


def test_claims_inside_the_seed_spread_or_on_two_seeds_are_inconclusive():
    two = {c.claim: c for c in claims(_results((0.0, 0.01)), TINY)}
    assert all(c.holds is None and c.inconclusive for c in two.values() if "beats" in c.claim)
    res = _results()
    for r, acc in zip([r for r in res["runs"] if r["method"] == "human"], (0.85, 0.79, 0.81)):
        r["test_acc"] = acc  # ahead of single on two seeds, behind on one
    c = next(c for c in claims(res, TINY) if c.claim.startswith("a human-labelled"))
    assert c.holds is None and c.inconclusive and "inconclusive" in c.note


def test_within_one_point_is_an_equivalence_margin():
    res = _results()
    for r in res["runs"]:
        if r["method"] == "rl":
            r["test_acc"] -= 0.01  # rl − maxl = −3 points on every seed ... then move it to −0.5
            r["test_acc"] += 0.025
    c = next(c for c in claims(res, TINY) if c.claim.startswith("RL-AUX performs as well as MAXL"))
    assert c.ours == pytest.approx(-0.5) and c.holds is True


def test_cli_reports_missing_data(tmp_path, monkeypatch, capsys):
    import mtlnotes.data.cache as cache

    def offline(url, dest):
        raise OSError("offline")

    monkeypatch.setattr(cache, "_download", offline)
    monkeypatch.setenv("MTLNOTES_DATA", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["rl_aux", "--profile", "paper", "--out", str(tmp_path / "r.json")])
    from mtlnotes.experiments.cli import run_cli
    with pytest.raises(SystemExit) as err:
        run_cli("rl_aux", rl_aux.PROFILES, rl_aux.run, rl_aux.claims, argv=["--profile", "paper", "--out",
                                                                           str(tmp_path / "r.json")])
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert "cifar100/cifar-100-python.tar.gz" in msg and "eb9058c3a382ffc7106e4002c42a8d85" in msg


@pytest.mark.parametrize("method", ["human", "wa-maxl"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, method):
    from mtlnotes.checkpoint import CheckpointStore

    train, val, test = _tiny_split(20, 0), _tiny_split(10, 1), _tiny_split(10, 2)
    two = dataclasses.replace(TINY, epochs=2)
    store = CheckpointStore(tmp_path, fingerprint="resume-test")
    first = train_method(method, train, val, test, TINY, seed=1, store=store, key="k")  # "interrupted" after 1 epoch
    resumed = train_method(method, train, val, test, two, seed=1, store=store, key="k")
    fresh = train_method(method, train, val, test, two, seed=1)
    assert resumed["val_acc"][:1] == first["val_acc"]
    assert resumed["val_acc"] == fresh["val_acc"] and resumed["test_loss"] == fresh["test_loss"]


def test_profile_rows_pair_each_method_with_single_task_over_seeds():
    from mtlnotes.auxiliary.tables import profile_rows
    res = _results()
    for r in res["runs"]:
        r["test_f1"] = r["test_acc"] - 0.1
    doc = {"results": res, "config": {"methods": list(METHODS), "epochs": 3}}
    rows = profile_rows({"quick": doc})
    assert [r["method"] for r in rows] == list(METHODS)
    human = rows[1]
    assert human["seeds"] == 3 and human["− single (points)"] == "2 ± 0 (n=3)" and human["macro F1 (%)"] == 72.0
    assert rows[0]["− single (points)"] == ""


def test_policy_rows_compare_the_policy_with_uniform():
    from mtlnotes.auxiliary.tables import policy_rows
    res = {"data": {"psi": 2}, "runs": [
        {"method": "single", "seed": 0, "aux_weight": 1.0},
        {"method": "wa-rl", "seed": 0, "aux_weight": 1.0, "policy_top_prob": [0.5, 0.75],
         "weight_top_prob": [0.05, 0.2]}], "ablation": []}
    (row,) = policy_rows(res)
    assert row["sub-class top p, first epoch"] == 0.5 and row["sub-class top p, last epoch"] == 0.75
    assert row["sub-class uniform"] == 0.5
    assert row["weight-bin top p, last epoch"] == 0.2 and row["weight-bin uniform"] == round(1 / 21, 3)


def test_full_profile_trains_on_all_of_fashion_mnist(fashion_mnist, data_root):
    """The full profile: every official training image not held out for validation, the whole test split,
    three seeds of every method, and PPO rollouts that tile an epoch exactly (one episode per epoch)."""
    train, val, test = load_task(rl_aux.FULL, data_root)
    n_train_official, n_test_official = len(fashion_mnist[0].labels), len(fashion_mnist[1].labels)
    assert (len(train), len(val), len(test)) == (n_train_official - 10_000, 10_000, n_test_official)
    assert len(rl_aux.FULL.seeds) >= 3 and rl_aux.FULL.methods == METHODS
    assert len(train) % rl_aux.FULL.ppo_n_steps == 0


def _units_script():
    import importlib.util

    path = Path(__file__).parents[1] / "benchmarks" / "rl_aux_units.py"
    if str(path.parent) not in sys.path:  # the script imports its sibling benchmarks/unit_args.py
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("rl_aux_units", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_units_script_stores_what_the_chapter_run_reads(tmp_path, monkeypatch):
    """benchmarks/rl_aux_units.py computes chosen units under run()'s keys and fingerprint: run() on the same
    checkpoint directory reads them instead of training again, and gets the numbers it would have computed."""
    config = dataclasses.replace(TINY, seeds=(0, 1), methods=("single", "human"))
    splits = (_tiny_split(40, 0), _tiny_split(20, 1), _tiny_split(20, 2))
    script = _units_script()
    monkeypatch.setattr(script, "PROFILES", {"tiny": config})
    monkeypatch.setattr(script, "load_task", lambda cfg: splits)
    monkeypatch.setattr(rl_aux, "load_task", lambda cfg, root=None: splits)
    script.main(["--profile", "tiny", "--checkpoint-dir", str(tmp_path), "--units", "human:1"])
    stored = tmp_path / f"{rl_aux.unit_key('human', 1, config.aux_weight)}.json"
    assert stored.exists()
    fresh = rl_aux.run(config)["runs"]
    trained = []
    real_train = rl_aux.train_method
    monkeypatch.setattr(rl_aux, "train_method", lambda m, *a, **k: trained.append((m, a[4])) or real_train(m, *a, **k))
    resumed = rl_aux.run(config, checkpoint_dir=tmp_path)["runs"]
    assert ("human", 1) not in trained and len(trained) == 3            # the stored unit is read, the rest trained
    drop = ("epoch_seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed] == \
           [{k: v for k, v in r.items() if k not in drop} for r in fresh]
    with pytest.raises(SystemExit, match="bad unit 'rl:0'"):
        script.main(["--profile", "tiny", "--checkpoint-dir", str(tmp_path), "--units", "rl:0"])


def test_units_in_worker_processes_give_the_numbers_of_one_process(monkeypatch):
    """run(processes=2) trains the units in two spawned worker processes (longest first): every run and ablation
    record equals the one computed in this process, in the same order; only the wall times differ."""
    config = dataclasses.replace(TINY, seeds=(0, 1), epochs=2, methods=("single", "maxl", "wa-rl"),
                                 lambda_ablation=(0.5, 1.0), ablation_method="single", ablation_seeds=(1,))
    splits = (_tiny_split(40, 0), _tiny_split(20, 1), _tiny_split(20, 2))
    monkeypatch.setattr(rl_aux, "load_task", lambda cfg, root=None: splits)
    here, spread = rl_aux.run(config), rl_aux.run(config, processes=2)
    times = ("epoch_seconds", "agent_seconds", "main_seconds")

    def numbers(records):
        return [{k: v for k, v in r.items() if k not in times} for r in records]

    assert [(r["method"], r["seed"]) for r in spread["runs"]] == [(m, s) for s in (0, 1) for m in config.methods]
    assert [r["aux_weight"] for r in spread["ablation"]] == [0.5, 1.0]
    assert numbers(spread["runs"]) == numbers(here["runs"])
    assert numbers(spread["ablation"]) == numbers(here["ablation"])
    assert spread["runs"][1]["val_acc"] != spread["runs"][4]["val_acc"]   # seeds differ: the check can see a mix-up
