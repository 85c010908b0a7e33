"""Figure 15's accuracy half, "results on the first n tasks" (Rosenbaum et al. 2018, §4): routing-all-fc and
cross-stitch-all-fc trained on the first n tasks only (``TaskData.first_tasks``, ``experiments.routing``), the
table and figure drawn from them (``routing.tables``, ``routing.figures``) and the claim judged over seeds."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mtlnotes.data import TaskData  # noqa: E402
from mtlnotes.experiments import routing as chapter  # noqa: E402
from mtlnotes.routing.figures import first_tasks_figure  # noqa: E402
from mtlnotes.routing.tables import first_tasks_accuracy, first_tasks_rows  # noqa: E402
from mtlnotes.routing.training import train_architecture  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _four_tasks(n: int, seed: int) -> TaskData:
    """Four binary tasks on 16×16 inputs: is the image / its left / top / right half bright?"""
    g = torch.Generator().manual_seed(seed)
    task = torch.arange(n) % 4
    x = torch.rand(n, 1, 16, 16, generator=g)
    parts = torch.stack([x.mean((1, 2, 3)), x[..., :8].mean((1, 2, 3)), x[..., :8, :].mean((1, 2, 3)),
                         x[..., 8:].mean((1, 2, 3))], 1)
    y = (parts[torch.arange(n), task] > 0.5).long()
    return TaskData(x, y, task, ("bright", "left", "top", "right"))


def _config(**changes) -> chapter.Config:
    small = dict(hidden=8, epochs=1, batch_size=16, cost_tasks=(), seeds=(0, 1), first_n_tasks=(2, 3),
                 architectures=("routing-all-fc", "cross-stitch-all-fc"))
    return dataclasses.replace(chapter.QUICK, **{**small, **changes})


def test_both_architectures_train_on_the_first_n_tasks_with_n_blocks_and_resume_from_the_store(tmp_path, monkeypatch):
    train, test = _four_tasks(96, 0), _four_tasks(48, 1)
    monkeypatch.setattr(chapter, "load_data", lambda config, root=None: (train, test))
    config = _config()
    res = chapter.run(config, checkpoint_dir=tmp_path)
    first = res["first_tasks"]
    assert first["tasks"] == [2, 3] and first["all_tasks"] == 4
    assert set(first["units"]) == {f"{a}-first{n}-seed{s}" for a in ("routing-all-fc", "cross-stitch-all-fc")
                                   for n in (2, 3) for s in (0, 1)}
    unit = first["units"]["routing-all-fc-first3-seed1"]
    direct = train_architecture("routing-all-fc", train.first_tasks(3), test.first_tasks(3), config, 1)
    assert unit["test_accuracy"] == direct["test_accuracy"] and (unit["n_tasks"], unit["seed"]) == (3, 1)
    assert unit["test_accuracy"] != res["units"]["routing-all-fc-seed1"]["test_accuracy"]   # not the 4-task unit

    def untrainable(*args, **kwargs):
        raise AssertionError("a stored unit was trained again")

    monkeypatch.setattr(chapter, "train_architecture", untrainable)
    assert chapter.run(config, checkpoint_dir=tmp_path)["first_tasks"] == first
    # the task counts are not part of the fingerprint: their units carry n in their keys
    assert chapter.checkpoint_fingerprint(_config(first_n_tasks=())) == chapter.checkpoint_fingerprint(config)
    fewer = chapter.run(_config(first_n_tasks=(2,)), checkpoint_dir=tmp_path)["first_tasks"]   # all stored
    assert fewer["units"] == {k: v for k, v in first["units"].items() if "-first2-" in k}


def test_the_results_keep_each_first_n_unit_whole_so_a_fresh_directory_resumes_from_them(tmp_path, monkeypatch):
    from mtlnotes.checkpoint import CheckpointStore
    from mtlnotes.unit_archive import restore_from_results

    monkeypatch.setattr(chapter, "load_data", lambda config, root=None: (_four_tasks(64, 0), _four_tasks(32, 1)))
    config = _config(seeds=(0,), first_n_tasks=(2,))
    res = chapter.run(config, checkpoint_dir=tmp_path / "a")
    stored = CheckpointStore(tmp_path / "a", chapter.checkpoint_fingerprint(config))
    routed = res["first_tasks"]["units"]["routing-all-fc-first2-seed0"]
    assert len(routed["per_task_accuracy"][-1]) == 2 and len(routed["routing_map"]) == 2   # two tasks, two routes
    units = chapter.checkpoint_units({"results": res})
    assert set(units) == set(res["units"]) | set(res["first_tasks"]["units"])
    for key, unit in units.items():
        assert unit == stored.get(key + "-done")   # the store's own result, without the added n_tasks
    records = {key + "-done": {"segments": [], "seconds": 0.0} for key in units}
    fresh = CheckpointStore(tmp_path / "b", chapter.checkpoint_fingerprint(config))
    restored = restore_from_results({"results": res, "units": {"records": records}}, fresh, "-done", units=units)
    assert sorted(restored) == sorted(records)

    def untrainable(*args, **kwargs):
        raise AssertionError("a restored unit was trained again")

    monkeypatch.setattr(chapter, "train_architecture", untrainable)
    again = chapter.run(config, checkpoint_dir=tmp_path / "b")
    assert again["first_tasks"] == res["first_tasks"] and again["units"] == res["units"]


def test_only_with_both_architectures_and_only_for_fewer_tasks_than_the_dataset_has(tmp_path, monkeypatch):
    monkeypatch.setattr(chapter, "load_data", lambda config, root=None: (_four_tasks(48, 0), _four_tasks(16, 1)))
    assert "first_tasks" not in chapter.run(_config(architectures=("routing-all-fc",), seeds=(0,)))
    assert "first_tasks" not in chapter.run(_config(first_n_tasks=(), seeds=(0,)))
    with pytest.raises(ValueError, match=r"first_n_tasks \[4, 1\] out of range: each n must lie between 2 and 3"):
        chapter.run(_config(first_n_tasks=(2, 4, 1), seeds=(0,)))


def _results(first: dict[tuple[str, int], list[float]], main: dict[str, list[float]], epochs: int = 2) -> dict:
    """``first``: (architecture, n) -> final accuracy per seed; ``main``: architecture -> final accuracy per seed on
    all 10 tasks; every unit's curve is flat at 0.5 before its last epoch."""
    def unit(name, seed, acc, n=None):
        return {"architecture": name, "seed": seed, "epochs_run": epochs, "test_accuracy": [0.5] * (epochs - 1) + [acc],
                **({"n_tasks": n} if n else {})}

    return {"units": {f"{a}-seed{s}": unit(a, s, v) for a, accs in main.items() for s, v in enumerate(accs)},
            "first_tasks": {"tasks": sorted({n for _, n in first}), "all_tasks": 10,
                            "units": {f"{a}-first{n}-seed{s}": unit(a, s, v, n)
                                      for (a, n), accs in first.items() for s, v in enumerate(accs)}}}


R, C = "routing-all-fc", "cross-stitch-all-fc"


def test_accuracy_per_n_includes_all_the_tasks_and_is_taken_after_the_epoch_every_unit_ran():
    res = _results({(R, 2): [0.9, 0.8], (C, 2): [0.7, 0.6]}, {R: [0.95, 0.94], C: [0.93, 0.92], "other": [0.1, 0.1]})
    res["units"]["routing-all-fc-seed1"]["test_accuracy"].append(0.99)   # one unit ran a third epoch
    res["units"]["routing-all-fc-seed1"]["epochs_run"] = 3
    acc, epoch = first_tasks_accuracy(res)
    assert epoch == 2 and set(acc) == {R, C}          # architectures without first-n units are left out
    assert acc[R] == {2: {0: 90.0, 1: 80.0}, 10: {0: 95.0, 1: 94.0}}
    assert acc[C][10] == {0: 93.0, 1: 92.0}
    rows = first_tasks_rows(res)
    assert [(r["tasks"], r["architecture"], r["seeds"]) for r in rows] == [(2, R, 2), (2, C, 2), (10, R, 2), (10, C, 2)]
    assert rows[0]["test acc (%)"] == "85 ± 64 (n=2)" and rows[0]["after epoch"] == 2   # t(1) × 7.07 / √2
    assert first_tasks_accuracy({"units": {}}) == ({}, 0)


def test_the_claim_holds_when_routing_leads_at_every_n_and_not_when_it_trails_at_one():
    ahead = _results({(R, 2): [0.95, 0.96, 0.97], (C, 2): [0.90, 0.91, 0.92], (R, 5): [0.93, 0.94, 0.95],
                      (C, 5): [0.92, 0.93, 0.94]}, {R: [0.99, 0.99, 0.98], C: [0.97, 0.97, 0.96]})
    (claim,) = chapter.first_tasks_claims(ahead, chapter.FULL)
    assert claim.holds is True and claim.ours == "+5.00, +1.00, +2.00"
    assert "at n = 2, 5, 10" in claim.claim and "after 2 epochs" in claim.note
    trails = _results({(R, 2): [0.90, 0.91, 0.92], (C, 2): [0.95, 0.96, 0.97]}, {R: [0.99, 0.99, 0.98],
                                                                                 C: [0.97, 0.97, 0.96]})
    assert chapter.first_tasks_claims(trails, chapter.FULL)[0].holds is False
    one_seed = _results({(R, 2): [0.95], (C, 2): [0.90]}, {R: [0.99], C: [0.97]})
    (claim,) = chapter.first_tasks_claims(one_seed, chapter.QUICK)
    assert claim.holds is None and claim.verdict == "inconclusive"
    assert chapter.first_tasks_claims({"units": {}}, chapter.FULL) == []
    assert claim.claim in {c.claim for c in chapter.claims(one_seed, chapter.QUICK)}   # part of the chapter's claims


def test_the_figure_draws_one_line_per_architecture_through_the_means_over_seeds():
    res = _results({(R, 2): [0.9, 0.8], (C, 2): [0.7, 0.6], (R, 5): [0.9, 0.9], (C, 5): [0.8, 0.8]},
                   {R: [0.95, 0.95], C: [0.93, 0.93]})
    fig = first_tasks_figure(res)
    lines = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "-"]
    assert [ln.get_label() for ln in lines] == [R, C]
    assert list(lines[0].get_xdata()) == [2, 5, 10]
    assert list(lines[0].get_ydata()) == pytest.approx([85.0, 90.0, 95.0])
    plt.close(fig)


@pytest.mark.parametrize("value, counts", [("none", ()), ("2,5", (2, 5))])
def test_the_cli_option_sets_the_task_counts_of_every_profile(monkeypatch, value, counts):
    seen = {}
    monkeypatch.setattr(chapter, "run_cli", lambda name, profiles, *rest: seen.update(profiles))
    chapter.main(["--profile", "paper", "--first-n-tasks", value])
    assert seen and {p.first_n_tasks for p in seen.values()} == {counts}


def test_no_task_counts_train_no_first_n_units():
    config = dataclasses.replace(chapter.PAPER, first_n_tasks=())
    assert chapter.first_tasks_units(config, config, None, None, "cpu", None) is None
