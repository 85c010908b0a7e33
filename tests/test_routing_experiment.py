"""The routing chapter's experiment module: claims logic, CLI options, clear errors for missing data."""

from __future__ import annotations

import dataclasses

import pytest

from mtlnotes.experiments import routing as chapter


def _results(acc: dict[str, float], epochs: int, seeds: int = 3) -> dict:
    """Final accuracies ``acc`` (seed 0), moved by +0.001 × seed on the other seeds (a spread of 0.1 points)."""
    return {"units": {f"{k}-seed{s}": {"architecture": k, "seed": s, "epochs_run": epochs,
                                       "test_accuracy": [0.5] * (epochs - 1) + [v + 0.001 * s]}
                      for k, v in acc.items() for s in range(seeds)}}


def test_claims_judge_table2_only_after_100_epochs_and_orderings_always():
    acc = {"routing-all-fc": 0.99, "task-specific-all-fc": 0.96, "task-specific-1-fc": 0.95,
           "cross-stitch-all-fc": 0.90, "soft-mixture-all-fc": 0.90}
    short = {c.claim: c for c in chapter.claims(_results(acc, 3), chapter.QUICK)}
    table2 = [c for c in short.values() if "after 100 epochs" in c.claim]
    assert len(table2) == 5 and all(c.holds is None for c in table2)
    beat = [c for c in short.values() if "beats" in c.claim]
    assert [c.ours for c in beat] == [3.0, 9.0] and all(c.holds for c in beat)   # same shift on every seed
    assert [c.ours for c in table2][:2] == [99.1, 96.1]                           # means over the 3 seeds
    full = chapter.claims(_results(acc, 100), chapter.PAPER)
    assert all(c.holds for c in full if "after 100 epochs" in c.claim)   # 0.1-point spread, 0.1 above the paper
    worse = dict(acc, **{"routing-all-fc": 0.95})
    beat = [c for c in chapter.claims(_results(worse, 100), chapter.PAPER) if "beats the nearest" in c.claim]
    assert beat[0].holds is False and beat[0].ours == -1.0


def test_table2_accuracy_is_an_equivalence_test_over_seeds():
    def table2(acc, seeds=3, spread=(0.0, 0.001, 0.002)):
        res = _results(acc, 100, seeds)
        for s, d in enumerate(spread[:seeds]):
            res["units"][f"routing-all-fc-seed{s}"]["test_accuracy"][-1] = acc["routing-all-fc"] + d
        return [c for c in chapter.claims(res, chapter.PAPER) if "after 100 epochs" in c.claim][0]

    assert table2({"routing-all-fc": 0.99}).holds is True                     # 99.0-99.2 against 99
    far = table2({"routing-all-fc": 0.95})                                     # 4 points below, tight seeds
    assert far.holds is False and far.verdict == "does not hold"
    wide = table2({"routing-all-fc": 0.985}, spread=(0.0, 0.01, -0.04))        # 98.5, 99.5, 94.5: mean 97.5
    assert wide.holds is None and wide.inconclusive and wide.ours == 97.5
    one = table2({"routing-all-fc": 0.99}, seeds=1)                             # no spread to judge against
    assert one.holds is None and one.inconclusive and "1 seed(s)" in one.note


def test_orderings_are_judged_from_paired_seed_intervals():
    acc = {"routing-all-fc": 0.95, "task-specific-all-fc": 0.94, "cross-stitch-all-fc": 0.90}
    res = _results(acc, 8)
    # task-specific-all-fc: 95.0, 95.1, 95.2 on seeds 0..2 instead of 94.0, 94.1, 94.2, against routing's 95.0,
    # 95.1, 95.2 + (0, 0.3, -0.3): differences 0, 0.3, -0.3 -> interval around 0 -> inconclusive
    for s, d in enumerate((0.0, 0.003, -0.003)):
        res["units"][f"task-specific-all-fc-seed{s}"]["test_accuracy"][-1] = 0.95 + 0.001 * s
        res["units"][f"routing-all-fc-seed{s}"]["test_accuracy"][-1] = 0.95 + 0.001 * s + d
    beat = {c.claim: c for c in chapter.claims(res, chapter.FULL) if "beats" in c.claim}
    nearest, stitch = beat.values()
    assert nearest.holds is None and nearest.inconclusive and nearest.verdict == "inconclusive"
    assert nearest.ours == 0.0 and "after 8 epochs" in nearest.note
    assert stitch.holds is True and stitch.ours == 5.0                   # 5 points on every seed
    one_seed = [c for c in chapter.claims(_results(acc, 8, seeds=1), chapter.QUICK) if "beats" in c.claim]
    assert all(c.holds is None and c.inconclusive for c in one_seed)     # one seed: no spread to judge against


def test_the_size_of_the_lead_is_judged_only_at_the_end_of_training_against_half_the_papers_gap():
    acc = {"routing-all-fc": 0.95, "task-specific-all-fc": 0.94, "cross-stitch-all-fc": 0.90}   # leads 1 and 5
    lead = [c for c in chapter.claims(_results(acc, 8), chapter.FULL) if "lead over" in c.claim]
    assert [c.ours for c in lead] == [1.0, 5.0] and [c.verdict for c in lead] == ["not judged"] * 2
    lead = [c for c in chapter.claims(_results(acc, 100), chapter.PAPER) if "lead over" in c.claim]
    # 1 point against 3 (below 1.5): does not hold; 5 points against 9 (above 4.5): holds
    assert [c.holds for c in lead] == [False, True]
    res = _results(acc, 100)
    for s, d in enumerate((0.0, 0.01, -0.01)):                   # leads over task-specific 1, 2, 0: around 1.5
        res["units"][f"routing-all-fc-seed{s}"]["test_accuracy"][-1] += 0.005 + d
    lead = [c for c in chapter.claims(res, chapter.PAPER) if "lead over" in c.claim]
    assert lead[0].verdict == "inconclusive"


def test_claims_name_the_best_rl_algorithm():
    acc = {name: 0.9 for name in chapter.FIG4}
    acc["qlearning-table"] = 0.95
    c = [c for c in chapter.claims(_results(acc, 2), chapter.QUICK) if "RL algorithms" in c.claim][0]
    assert c.ours == "qlearning-table" and c.holds is False
    acc["qlearning-table"], acc["routing-all-fc"] = 0.8, 0.95
    c = [c for c in chapter.claims(_results(acc, 2), chapter.QUICK) if "RL algorithms" in c.claim][0]
    assert c.ours == "routing-all-fc" and c.holds is True
    assert "routing-all-fc minus qlearning-table 15 ± " in c.note and "; reinforce-approx 5 ± " in c.note


def test_the_rl_algorithm_claim_is_inconclusive_when_one_lead_lies_inside_the_seed_spread():
    acc = {name: 0.9 for name in chapter.FIG4}
    acc["routing-all-fc"] = 0.99
    res = _results(acc, 100)
    for s, d in enumerate((-0.05, 0.0, 0.05)):                   # routing minus qlearning-approx: 9, 4, -1 points
        res["units"][f"qlearning-approx-seed{s}"]["test_accuracy"][-1] += 0.05 + d
    c = [c for c in chapter.claims(res, chapter.PAPER) if "RL algorithms" in c.claim][0]
    assert c.ours == "routing-all-fc" and c.holds is None and c.inconclusive
    assert "qlearning-approx 4 ± 12 (n=3) points" in c.note


def test_cli_reports_missing_mini_imagenet_clearly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MTLNOTES_DATA", str(tmp_path))
    with pytest.raises(SystemExit) as err:
        chapter.main(["--profile", "paper-min", "--out", str(tmp_path / "r.json"), "--time-budget", "5",
                      "--architectures", "routing-all-fc"])
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert "train.csv" in msg and "meta-learning-lstm" in msg and not (tmp_path / "r.json").exists()


def test_unknown_dataset_and_optimizer_are_rejected():
    with pytest.raises(ValueError, match="unknown dataset"):
        chapter.load_data(dataclasses.replace(chapter.QUICK, dataset="svhn-mtl"))


def test_a_tie_at_the_top_does_not_count_as_holding():
    acc = {name: 0.9 for name in chapter.FIG5}
    c = [c for c in chapter.claims(_results(acc, 2), chapter.QUICK) if "Figure 5" in c.claim][0]
    assert c.holds is None and c.inconclusive and c.ours.startswith("tie: routing-all-fc, ")


def test_the_trivial_baseline_claim_reads_the_majority_share():
    res = _results({"routing-all-fc": 0.95}, 3)
    res["majority_baseline"] = 0.9
    c = [c for c in chapter.claims(res, chapter.QUICK) if "random baseline" in c.claim][0]
    assert c.paper == 90.0 and c.ours == 90.0 and c.holds is True
    res["majority_baseline"] = 0.8
    c = [c for c in chapter.claims(res, chapter.QUICK) if "random baseline" in c.claim][0]
    assert c.ours == 80.0 and c.holds is False


def test_quick_profile_uses_the_algorithm3_wpl_convention_and_keeps_the_1_to_9_balance():
    assert chapter.QUICK.wpl_scaling == chapter.PAPER.wpl_scaling == "algorithm3"
    from mtlnotes.routing import DEFAULT_SCALING
    assert chapter.Config.__dataclass_fields__["wpl_scaling"].default == DEFAULT_SCALING  # the library's one default
    assert chapter.QUICK.n_pos == chapter.QUICK.n_neg_per_digit


def test_policy_snapshots_are_thinned_evenly_keeping_both_ends():
    history = [(n, [n]) for n in range(1000)]
    kept = chapter.thin_snapshots(history, 250)
    assert len(kept) == 250 and kept[0] == history[0] and kept[-1] == history[-1]
    gaps = {b[0] - a[0] for a, b in zip(kept, kept[1:])}
    assert gaps <= {4, 5}                                  # 999 / 249 ≈ 4.01: evenly spaced
    assert chapter.thin_snapshots(history[:241], 250) == history[:241]   # the quick profile keeps all it records
    with pytest.raises(ValueError, match="at least 2"):
        chapter.thin_snapshots(history, 1)


def test_orderings_compare_at_the_epoch_every_architecture_reached():
    # routing ran 3 epochs (99% at the end), the baselines 5; at epoch 3 task-specific was at 97%, later 99.5%
    units = {"routing-all-fc-seed0": {"architecture": "routing-all-fc", "seed": 0, "epochs_run": 3,
                                      "test_accuracy": [0.9, 0.95, 0.99]},
             "task-specific-all-fc-seed0": {"architecture": "task-specific-all-fc", "seed": 0, "epochs_run": 5,
                                            "test_accuracy": [0.9, 0.93, 0.97, 0.99, 0.995]},
             "cross-stitch-all-fc-seed0": {"architecture": "cross-stitch-all-fc", "seed": 0, "epochs_run": 4,
                                           "test_accuracy": [0.9, 0.9, 0.91, 0.999]}}
    beat = [c for c in chapter.claims({"units": units}, chapter.PAPER) if "beats" in c.claim]
    assert [c.ours for c in beat] == [2.0, 8.0] and all(c.inconclusive for c in beat)   # one seed
    assert all("after 3 epochs" in c.note for c in beat)
    table2 = {c.claim: c for c in chapter.claims({"units": units}, chapter.PAPER) if "after 100 epochs" in c.claim}
    assert table2["MNIST-MTL test accuracy of task-specific-all-fc after 100 epochs (%)"].ours == 99.5  # last epoch


def _cost(routing: list[float], cross: list[float], tasks=(2, 5, 10)) -> dict:
    return {"tasks": list(tasks), "seconds_per_sample": {"routing-all-fc": routing, "cross-stitch-all-fc": cross}}


def test_cost_scaling_claims_are_recorded_with_their_measured_verdict():
    # the paper's picture: routing flat, cross-stitch linear in the number of tasks (5x from 2 to 10 tasks)
    paper_like = {c.claim: c for c in chapter.cost_claims(_cost([1.0, 1.05, 1.1], [1.0, 2.5, 5.0]), chapter.QUICK)}
    assert len(paper_like) == 3 and all(c.holds is True for c in paper_like.values())
    flat, linear, cheaper = paper_like.values()
    assert (flat.paper, flat.ours, linear.paper, linear.ours, cheaper.ours) == (1.0, 1.1, 5.0, 5.0, 0.22)
    # what this chapter measured on CPU: cross-stitch no slower than routing and barely growing
    ours = chapter.cost_claims(_cost([0.37, 0.42, 0.43], [0.34, 0.36, 0.35]), chapter.QUICK)
    assert [c.holds for c in ours] == [True, False, False]
    assert ours[1].ours == 1.03 and ours[2].ours == 1.23
    # growth of routing's own cost past 1.3x does not count as "nearly constant"
    assert chapter.cost_claims(_cost([1.0, 1.2, 1.4], [1.0, 2.5, 5.0]), chapter.QUICK)[0].holds is False
    # "cheaper" within 10% either way is inside the timing noise of one measurement: inconclusive
    near = [chapter.cost_claims(_cost([1.0, 1.0, x], [1.0, 1.0, 1.0]), chapter.QUICK)[2] for x in (0.95, 1.05, 1.15)]
    assert [c.verdict for c in near] == ["inconclusive", "inconclusive", "does not hold"]
    # claims() adds them on request (the CLI's results files) when the results hold the measurement; not by
    # default (a notebook's claims table must be the same on every run)
    res = dict(_results({"routing-all-fc": 0.9}, 3), cost=_cost([0.37, 0.42, 0.43], [0.34, 0.36, 0.35]))
    assert [c.claim for c in chapter.claims(res, chapter.QUICK, timings=True)][-3:] == [c.claim for c in ours]
    assert not any("cost" in c.claim for c in chapter.claims(res, chapter.QUICK))
    assert chapter.cost_claims({"tasks": [2], "seconds_per_sample": {}}, chapter.QUICK) == []


def _repeated(*measurements: tuple[list[float], list[float]]) -> dict:
    reps = [_cost(r, c)["seconds_per_sample"] for r, c in measurements]
    return {"tasks": [2, 5, 10], "seconds_per_sample": reps[0], "repeats": reps}


def test_cost_claims_need_every_repeated_measurement_to_agree():
    agree = chapter.cost_claims(_repeated(([1.0, 1.0, 0.8], [1.0, 1.0, 1.0]), ([1.0, 1.0, 0.85], [1.0, 1.0, 1.0]),
                                          ([1.0, 1.0, 0.7], [1.0, 1.0, 1.0])), chapter.QUICK)
    assert agree[2].holds is True and agree[2].ours == 0.8                    # the median ratio
    assert agree[2].note.endswith("(each measurement: 0.80, 0.85, 0.70)") and "3 measurement(s)" in agree[2].note
    # one timing says cheaper, another does not: inconclusive, whatever the median says
    split = chapter.cost_claims(_repeated(([1.0, 1.0, 0.7], [1.0, 1.0, 1.0]), ([1.0, 1.0, 0.8], [1.0, 1.0, 1.0]),
                                          ([1.0, 1.0, 1.2], [1.0, 1.0, 1.0])), chapter.QUICK)
    assert split[2].verdict == "inconclusive" and split[2].ours == 0.8
    assert split[0].holds is True                              # routing's own growth (0.7, 0.8, 1.2) stays ≤ 1.3


def test_run_measures_the_cost_curve_repeatedly_and_keeps_the_median(monkeypatch):
    import torch

    calls = iter(range(1, 100))
    monkeypatch.setattr(chapter, "step_cost", lambda name, k, **kw: float(next(calls)))
    data = type("Data", (), {"task_names": ["a"], "y": torch.tensor([0, 1]), "__len__": lambda self: 2})()
    monkeypatch.setattr(chapter, "load_data", lambda config, root=None: (data, data))
    monkeypatch.setattr(chapter, "class_count", lambda d: 2)
    res = chapter.run(dataclasses.replace(chapter.QUICK, architectures=(), cost_tasks=(2, 10)))
    reps = res["cost"]["repeats"]
    assert len(reps) == chapter.COST_REPEATS == 3
    # interleaved: each repeat times both architectures at both task counts before the next repeat starts
    assert reps[0] == {"routing-all-fc": [1.0, 2.0], "cross-stitch-all-fc": [3.0, 4.0]}
    assert res["cost"]["seconds_per_sample"]["routing-all-fc"] == [5.0, 6.0]   # median of 1, 5, 9 and 2, 6, 10
