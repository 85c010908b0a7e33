"""Results files with provenance, the ledger, checkpoints, repro helpers and the shared CLI."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.experiments.cli import run_cli
from mtlnotes.repro import choose_device, seed_everything, set_threads
from mtlnotes.results import (Claim, claim_key, claims_at_largest, find_profiles, find_results, largest_profile,
                              ledger_markdown, ledger_rows, read_results, write_results)


def _claims():
    return [Claim("toy", "a holds", 1.0, 1.5, True, "quick", source="Toy et al. Table 1"),
            Claim("toy", "b | pipes", "high", None, None, "quick")]


def test_results_roundtrip_and_provenance(tmp_path):
    path = write_results(tmp_path / "toy-quick.json", chapter="toy", profile="quick", config={"lr": 0.1},
                         seeds=[0, 1], results={"acc": torch.tensor([0.5, float("nan")])}, claims=_claims(),
                         wall_time_s=1.23456)
    doc = read_results(path)
    prov = doc["provenance"]
    for key in ("package_version", "git_commit", "device", "torch_version", "python_version", "created_utc"):
        assert key in prov
    assert prov["torch_version"] == torch.__version__
    assert doc["results"]["acc"] == [0.5, None]  # NaN is stored as null, not as invalid JSON
    assert doc["seeds"] == [0, 1] and doc["wall_time_s"] == 1.235
    assert doc["claims"] == _claims()
    assert find_results("toy", "quick", tmp_path)["chapter"] == "toy"
    assert find_results("toy", "paper", tmp_path) is None


def test_read_results_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not an mtlnotes results file"):
        read_results(tmp_path / "x.json")
    with pytest.raises(FileNotFoundError):
        read_results(tmp_path / "missing.json")


def test_claim_validates_holds():
    with pytest.raises(ValueError):
        Claim("c", "x", 1, 1, "yes", "quick")
    assert Claim("c", "x", 1, 1, None, "quick").verdict == "not judged"
    assert Claim("c", "x", 1, 1, None, "quick", inconclusive=True).verdict == "inconclusive"
    # the verdict comes from the field, never from the wording of the note
    assert Claim("c", "x", 1, 1, None, "quick", note="3 seeds: inconclusive").verdict == "not judged"
    with pytest.raises(ValueError, match="cannot be inconclusive"):
        Claim("c", "x", 1, 1, False, "quick", inconclusive=True)


def test_claims_round_trip_and_older_files_say_inconclusive_in_the_note():
    c = Claim("c", "x", 1, 1, None, "quick", note="n", inconclusive=True)
    assert Claim.from_dict(c.to_dict()) == c
    old = {"chapter": "c", "claim": "x", "paper": 1, "ours": 1, "holds": None, "profile": "quick"}
    assert Claim.from_dict({**old, "note": "3 seeds: inconclusive"}).verdict == "inconclusive"
    assert Claim.from_dict({**old, "note": "not judged: 1 seed (inconclusive)"}).verdict == "not judged"
    assert Claim.from_dict({**old, "note": "inconclusive", "inconclusive": False}).verdict == "not judged"


def test_ledger_collects_every_claim(tmp_path):
    write_results(tmp_path / "toy-quick.json", chapter="toy", profile="quick", config={}, seeds=[0], results={},
                  claims=_claims(), wall_time_s=0)
    rows = ledger_rows(tmp_path)
    assert [r["claim"] for r in rows] == ["a holds", "b | pipes"]
    md = ledger_markdown(tmp_path)
    assert md.count("\n") == 4 and "b \\| pipes" in md and "not judged" in md
    assert "No results files" in ledger_markdown(tmp_path / "empty")


def test_checkpoint_store_resumes(tmp_path):
    calls = []
    store = CheckpointStore(tmp_path, fingerprint={"lr": 1})
    assert store.get_or_compute("a", lambda: calls.append(1) or {"v": 1}) == {"v": 1}
    store2 = CheckpointStore(tmp_path, fingerprint={"lr": 1})
    assert store2.get_or_compute("a", lambda: calls.append(2) or {"v": 2}) == {"v": 1}
    assert calls == [1]
    store2.save_state("m", {"w": torch.ones(2)})
    assert torch.equal(store2.load_state("m")["w"], torch.ones(2))
    with pytest.raises(ValueError, match="another config"):
        CheckpointStore(tmp_path, fingerprint={"lr": 2})
    off = CheckpointStore(None)
    assert off.get_or_compute("a", lambda: 5) == 5 and off.load_state("m") is None


def test_seed_everything_repeats_and_rejects_bad_seed():
    seed_everything(7)
    a = torch.rand(3)
    seed_everything(7)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_device_and_threads():
    assert choose_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            choose_device("cuda")
    assert set_threads(1) == 1 and torch.get_num_threads() == 1
    set_threads(2)
    with pytest.raises(ValueError):
        set_threads(0)


@dataclass(frozen=True)
class _Cfg:
    profile: str = "quick"
    seeds: tuple = (0,)
    scale: float = 2.0


def test_cli_writes_results_with_claims(tmp_path):
    def run(config, device=None, checkpoint_dir=None):
        return {"value": config.scale * len(config.seeds)}

    def claims(results, config):
        return [Claim("toy", "value is positive", None, results["value"], results["value"] > 0, config.profile)]

    out = run_cli("toy", {"quick": _Cfg(), "paper": _Cfg("paper", (0, 1, 2))}, run, claims,
                  ["--profile", "paper", "--out", str(tmp_path / "r.json"), "--seeds", "4,5"])
    doc = read_results(out)
    assert doc["profile"] == "paper" and doc["seeds"] == [4, 5] and doc["results"]["value"] == 4.0
    assert doc["claims"][0].holds is True and doc["config"]["scale"] == 2.0


def test_cli_threads_option_survives_set_threads_in_run(tmp_path, monkeypatch):
    monkeypatch.delenv("MTLNOTES_THREADS", raising=False)
    seen = []

    def run(config, device=None, checkpoint_dir=None):
        set_threads()  # what every chapter's run() does
        seen.append(torch.get_num_threads())
        return {}

    try:
        run_cli("toy", {"quick": _Cfg()}, run, lambda r, c: [], ["--out", str(tmp_path / "r.json"), "--threads", "1"])
        assert seen == [1]
    finally:
        # run_cli wrote os.environ itself, behind monkeypatch's back: remove it directly. (A second
        # monkeypatch.delenv here would record "1" and put it back at teardown, and every Jupyter kernel
        # nbval starts later in this pytest process would then train on one thread.)
        os.environ.pop("MTLNOTES_THREADS", None)
        set_threads(2)


def test_set_threads_default_applies_only_without_an_explicit_count(monkeypatch):
    monkeypatch.delenv("MTLNOTES_THREADS", raising=False)
    try:
        assert set_threads(default=1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("MTLNOTES_THREADS", "2")
        assert set_threads(default=1) == 2  # --threads / the environment wins over a chapter's default
        assert set_threads(1, default=2) == 1
    finally:
        set_threads(2)


def test_thread_count_sets_the_count_inside_the_block_and_restores_it_even_on_error():
    from mtlnotes.repro import thread_count

    set_threads(2)
    with thread_count(1) as inside:
        assert inside == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError):
        with thread_count(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 2
    with thread_count(None) as inside:  # no count given: leave it alone
        assert inside == 2


def test_find_profiles_keeps_the_existing_files_in_the_given_order_and_the_last_is_where_claims_are_judged(tmp_path):
    for profile, seeds in (("quick", [0]), ("full", [0, 1, 2])):
        write_results(tmp_path / f"toy-{profile}.json", chapter="toy", profile=profile, config={"profile": profile},
                      seeds=seeds, results={}, claims=[], wall_time_s=1.0)
    docs = find_profiles("toy", ("quick", "full", "paper"), tmp_path)  # no paper file
    assert list(docs) == ["quick", "full"]
    assert list(find_profiles("toy", ("full", "quick"), tmp_path)) == ["full", "quick"]
    profile, doc, line = largest_profile(docs)
    assert (profile, doc["seeds"]) == ("full", [0, 1, 2])
    commit = str(doc["provenance"]["git_commit"])[:10]
    assert line == (f"claims judged at the largest profile with a results file: full (commit {commit}, "
                    f"{doc['provenance']['device']}, seeds [0, 1, 2])")
    with pytest.raises(ValueError, match="no results file"):
        largest_profile({})


def test_largest_profile_having_skips_larger_files_that_lack_it(tmp_path):
    for profile, ablation in (("quick", [1]), ("extended", [1, 2]), ("full", [])):
        write_results(tmp_path / f"toy-{profile}.json", chapter="toy", profile=profile, config={"profile": profile},
                      seeds=[0], results={"ablation": ablation}, claims=[], wall_time_s=1.0)
    docs = find_profiles("toy", ("quick", "extended", "full"), tmp_path)
    assert largest_profile(docs)[0] == "full"
    assert largest_profile(docs, having=lambda doc: bool(doc["results"]["ablation"]))[0] == "extended"
    with pytest.raises(ValueError, match="no results file has what was asked for"):
        largest_profile(docs, having=lambda doc: False)


def test_claim_key_drops_the_description_of_our_measurement():
    assert claim_key("A beats B (ours: A minus B, points)") == "A beats B"
    assert claim_key("Cheaper (85% less time, 20 tasks; ours: cost at 10 tasks / at 2)") == \
        "Cheaper (85% less time, 20 tasks"
    assert claim_key("  accuracy of A after 100 epochs (%) ") == "accuracy of A after 100 epochs (%)"


def test_claims_at_largest_takes_each_claim_from_the_largest_profile_that_judged_it():
    def doc(profile, *claims):
        return {"claims": [Claim("toy", text, 1.0, ours, holds, profile, inconclusive=inc).to_dict()
                           for text, ours, holds, inc in claims]}

    docs = {"quick": doc("quick", ("cost is flat (ours: 2 vs 10 tasks)", 1.1, True, False),
                         ("A beats B (ours: points)", -1.0, False, False),
                         ("A reaches 99 after 100 epochs", 97.0, None, False)),
            "full": doc("full", ("A beats B (ours: points)", 0.5, None, True),
                        ("A reaches 99 after 100 epochs", 98.0, None, False),
                        ("sweep prefers small rho", 0.3, True, False),
                        ("cost is flat (ours: 2 vs 20 tasks)", 1.4, False, False)),
            "paper": doc("paper", ("A reaches 99 after 100 epochs", 99.2, True, False),
                         ("A beats B (ours: points)", 0.1, None, False))}   # paper ran too few epochs to judge it
    got = claims_at_largest(docs)
    assert [(c.claim, c.profile, c.ours) for c in got] == [
        ("A reaches 99 after 100 epochs", "paper", 99.2),
        ("A beats B (ours: points)", "full", 0.5),             # inconclusive at full is a verdict; paper had none
        ("sweep prefers small rho", "full", 0.3),
        ("cost is flat (ours: 2 vs 20 tasks)", "full", 1.4),   # the same claim measured differently: the larger one
    ]
    assert [c.claim for c in claims_at_largest({"quick": docs["quick"]})] == [
        "cost is flat (ours: 2 vs 10 tasks)", "A beats B (ours: points)", "A reaches 99 after 100 epochs"]
    nobody = {"quick": doc("quick", ("C", None, None, False)), "full": doc("full", ("C", 2.0, None, False))}
    assert [(c.profile, c.ours) for c in claims_at_largest(nobody)] == [("full", 2.0)]   # judged nowhere: largest
    with pytest.raises(ValueError, match="no results file"):
        claims_at_largest({})
