"""Chapter: Fairer machine learning through multi-objective evolutionary learning (Zhang et al., ICANN 2021).

``python -m mtlnotes.experiments.fairness --profile quick --out results/fairness-quick.json``;
``python -m mtlnotes.experiments.fairness --dataset german --profile paper --checkpoint-dir ckpt/german
--out results/fairness_german-paper.json`` (chapter ``fairness_german``). Every (dataset, variant, trial)
is one checkpointed unit, and a unit saves its state every 50 generations, so an interrupted run resumes.
The checkpoint fingerprint leaves out the seeds, so a run can be finished later with more ``--seeds``.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data.fairness_data import FAIRNESS_DATASETS, load_fairness_dataset, split_622
from mtlnotes.fairness.analysis import analyse_runs, count_wins, counted_claims_so_far
from mtlnotes.fairness.moel import MOELSettings, TabularData, run_moel_many
from mtlnotes.results import Claim
from mtlnotes.training import progress

__all__ = ["Config", "QUICK", "PAPER", "PAPER_EPOCHS2", "run", "analyse", "claims", "counted_claims_so_far",
           "combine_paper_files",
           "PAPER_TABLES", "main"]

CHAPTER = "fairness"


@dataclass(frozen=True)
class Config:
    """Every knob of Zhang et al. (2021); section of the paper in the comments."""

    profile: str
    seeds: tuple[int, ...]  # one seed per trial; 15 trials (§4)
    datasets: tuple[str, ...] = FAIRNESS_DATASETS  # German, COMPAS, Adult (§4.1)
    variants: tuple[str, ...] = ("F_EIG", "F_EI", "F_EG", "F_E")  # §4
    generations: int = 500  # §4.1
    pop_size: int = 50  # μ = λ = 50, §4.1
    sigma: float = 0.01  # mutation strength, §4.1
    hidden: tuple[tuple[str, int], ...] = (("german", 64), ("compas", 128), ("adult", 256))  # §4.1
    lr: tuple[tuple[str, float], ...] = (("german", 0.001), ("compas", 0.01), ("adult", 0.01))  # §4.1
    batch_size: int = 500  # partial training minibatch: not stated in the paper
    epochs: int = 1  # partial training = one epoch of Adam: not stated in the paper
    alpha: float = 2.0  # generalised entropy index, §3.2
    nadir: float = 1.1  # HV reference point after normalisation, §4.1
    record_every: int = 10  # generations between recorded test evaluations (ours)
    split_seed: int = 2021  # one fixed 6:2:2 split per dataset (§4.1) shared by all trials (ours)
    runs_per_program: int = 12  # (variant, trial) runs trained together as one tensor program (speed only)

    def settings(self, dataset: str) -> MOELSettings:
        return MOELSettings(n_hidden=dict(self.hidden)[dataset], lr=dict(self.lr)[dataset], pop_size=self.pop_size,
                            generations=self.generations, sigma=self.sigma, batch_size=self.batch_size,
                            epochs=self.epochs, alpha=self.alpha, record_every=self.record_every)


QUICK = Config(profile="quick", seeds=(0, 1, 2, 3), datasets=("german",), generations=40, record_every=5)
PAPER = Config(profile="paper", seeds=tuple(range(15)))
#: sensitivity of the verdicts to the open choice of partial-training length (§4.1 leaves it open): 2 epochs
PAPER_EPOCHS2 = dataclasses.replace(PAPER, profile="paper-epochs2", epochs=2)

#: Tables 1 and 3 of Zhang et al. (2021): dataset -> variant -> (value, sign vs F_EIG)
PAPER_TABLES = {
    "HV": {"compas": {"F_EI": (0.00172, "-"), "F_EG": (0.00186, "≈"), "F_E": (0.00165, "-"), "F_EIG": (0.00195, "")},
           "adult": {"F_EI": (0.01147, "-"), "F_EG": (0.01214, "-"), "F_E": (0.00929, "-"), "F_EIG": (0.01351, "")},
           "german": {"F_EI": (0.00606, "≈"), "F_EG": (0.00476, "-"), "F_E": (0.00494, "-"), "F_EIG": (0.00738, "")}},
    "PD": {"compas": {"F_EI": (77509, "-"), "F_EG": (72794, "-"), "F_E": (63791, "-"), "F_EIG": (94144, "")},
           "adult": {"F_EI": (80454, "-"), "F_EG": (72202, "-"), "F_E": (69703, "-"), "F_EIG": (94345, "")},
           "german": {"F_EI": (76695, "-"), "F_EG": (51746, "-"), "F_E": (68083, "-"), "F_EIG": (97476, "")}},
    "spacing": {"compas": {"F_EI": (0.1614, "≈"), "F_EG": (0.1846, "-"), "F_E": (0.2599, "-"), "F_EIG": (0.1462, "")},
                "adult": {"F_EI": (0.1518, "≈"), "F_EG": (0.1716, "-"), "F_E": (0.2434, "-"), "F_EIG": (0.1308, "")},
                "german": {"F_EI": (0.1086, "-"), "F_EG": (0.1046, "-"), "F_E": (0.1775, "-"), "F_EIG": (0.0409, "")}},
}


def _tab(part) -> TabularData:
    return TabularData(part.x, part.y, part.groups)


def _fingerprint(config: Config) -> dict:
    d = dataclasses.asdict(config)
    d.pop("seeds")
    d.pop("profile")
    d.pop("datasets")
    d.pop("runs_per_program")  # grouping changes speed, not results
    return d


def run(config: Config, *, device=None, checkpoint_dir=None) -> dict:
    """Run every (dataset, variant, trial) of ``config`` and analyse them (plain data).

    Returns ``{"datasets": {name: analysis}, "units_finished": int}``; see :func:`analyse`.
    """
    device = device or "cpu"
    store = CheckpointStore(checkpoint_dir, fingerprint=_fingerprint(config))
    out = {}
    for name in config.datasets:
        split = split_622(load_fairness_dataset(name, download=False), config.split_seed)
        settings = config.settings(name)
        units = [(v, seed) for seed in config.seeds for v in config.variants]  # trial-major: balanced if cut short
        key = lambda v, seed: f"{name}-{v}-seed{seed}"  # noqa: E731
        done = {u: store.get(key(*u)) for u in units}
        todo = [u for u in units if done[u] is None]
        bar = progress(total=len(todo) * config.generations, desc=name)
        for i in range(0, len(todo), config.runs_per_program):
            group = todo[i:i + config.runs_per_program]
            gkey = f"{name}-group-{group[0][0]}-seed{group[0][1]}-n{len(group)}"
            hists = run_moel_many(group, settings, _tab(split.train), _tab(split.validation), _tab(split.test),
                                  device=device, state=store.load_state(gkey),
                                  on_state=lambda st, gkey=gkey: store.save_state(gkey, st),
                                  progress=lambda g, n=len(group): bar.update(n))
            for u, h in zip(group, hists):
                done[u] = store.get_or_compute(key(*u), lambda h=h: {k: h[k] for k in (
                    "generations", "val", "test", "final_val", "final_test")})
            store.drop_state(gkey)
        bar.close()
        runs = {v: [done[(v, seed)] for seed in config.seeds] for v in config.variants}
        out[name] = analyse(runs, config)
        out[name]["n"] = {"train": len(split.train), "validation": len(split.validation), "test": len(split.test),
                          "features": int(split.train.x.shape[1]), "groups": list(split.train.group_names)}
    return {"datasets": out, "trials": len(config.seeds)}


def analyse(runs: dict[str, list[dict]], config: Config) -> dict:
    """:func:`mtlnotes.fairness.analysis.analyse_runs` with the config's HV reference point (``nadir``)."""
    return analyse_runs(runs, config.nadir)


#: the paper's number of trials (§4); the counted claims are judged only from runs with this many
PAPER_TRIALS = 15


def combine_paper_files(docs: dict[str, dict | None]) -> dict:
    """The per-dataset paper-profile results files (``docs``: dataset -> file as read by
    :func:`~mtlnotes.results.read_results`) as one results dict over all three datasets, so that
    :func:`claims` can judge the counted claims ("7 of 9", "16 of 18"), which are about all three at once.

    Keeps each dataset's Tables 1-3 and sizes, and the file, commit and device behind each. Every file must
    hold the paper's settings (anything but seeds, profile and datasets equal to :data:`PAPER`) and the same
    number of trials; otherwise a one-line ``ValueError`` names the file.
    """
    missing = [name for name in FAIRNESS_DATASETS if docs.get(name) is None]
    if missing:
        raise ValueError(f"the counted claims need the paper-profile file of every dataset; missing: "
                         f"{', '.join(f'fairness_{m}-paper.json' for m in missing)} (run python -m "
                         f"mtlnotes.experiments.fairness --dataset NAME --profile paper)")
    expected = _fingerprint(PAPER)
    trials, datasets, sources = set(), {}, []
    for name in FAIRNESS_DATASETS:
        doc = docs[name]
        got = {k: v for k, v in doc["config"].items() if k in expected}
        as_lists = lambda d: {k: [list(x) if isinstance(x, (list, tuple)) else x for x in v]  # noqa: E731
                              if isinstance(v, (list, tuple)) else v for k, v in d.items()}
        if as_lists(got) != as_lists(expected):
            raise ValueError(f"fairness_{name}-paper.json was not run with the paper's settings; rerun it with "
                             f"--profile paper")
        trials.add(doc["results"]["trials"])
        d = doc["results"]["datasets"][name]
        datasets[name] = {k: d[k] for k in ("table1", "table2", "table3", "n")}
        sources.append({"dataset": name, "file": f"fairness_{name}-paper.json", "trials": doc["results"]["trials"],
                        "commit": doc["provenance"].get("git_commit"), "device": doc["provenance"].get("device")})
    if len(trials) != 1:
        raise ValueError(f"the paper-profile files have different numbers of trials ({sorted(trials)}); "
                         f"rerun them with the same --seeds")
    return {"datasets": datasets, "trials": trials.pop(), "sources": sources}


def claims(results: dict, config: Config) -> list[Claim]:
    """Claims of Zhang et al. §4.2 (Tables 1 and 3) against our runs.

    The counted claims ("7 of 9", "16 of 18") are judged only from runs with the paper's 15 trials and all
    three datasets' worth of comparisons; smaller runs report their counts but are not judged. A comparison
    whose trial counts cannot reach p < 0.05 ("?") never counts as a loss or as "similar".
    """
    prof = config.profile
    chapter = CHAPTER if len(config.datasets) != 1 or prof == "quick" else f"{CHAPTER}_{config.datasets[0]}"
    trials = results["trials"]
    full = trials >= PAPER_TRIALS
    note = f"{trials} trials, {config.generations} generations, datasets {', '.join(config.datasets)}"
    if not full:
        note += f"; not judged: the paper's claims rest on {PAPER_TRIALS} trials"
    out = []
    rule = "; holds when F_EIG wins at least as many comparisons as in the paper"
    w, n, q = count_wins(results, "table1")
    judged = full and n == 9 and q == 0
    out.append(Claim(chapter, "F_EIG has statistically the best HV (Wilcoxon, 0.05) against the other variants",
                     "7 of 9", f"{w} of {n}" + (f" ({q} inconclusive)" if q else ""),
                     (w >= 7) if judged else None, prof, "Table 1",
                     note + rule if judged else note if not full else
                     note + "; judged only over all 3 datasets (9 comparisons)"))
    w1, n1, q1 = count_wins(results, "table3", "PD")
    w2, n2, q2 = count_wins(results, "table3", "spacing")
    judged = full and n1 + n2 == 18 and q1 + q2 == 0
    out.append(Claim(chapter, "F_EIG has better diversity (PD and spacing, Wilcoxon 0.05)", "16 of 18",
                     f"{w1 + w2} of {n1 + n2}" + (f" ({q1 + q2} inconclusive)" if q1 + q2 else ""),
                     (w1 + w2 >= 16) if judged else None, prof, "Table 3",
                     note + rule if judged else note if not full else
                     note + "; judged only over all 3 datasets (18 comparisons)"))
    for name, d in results["datasets"].items():
        means = {v: row["mean"] for v, row in d["table1"].items()}
        best = max(means, key=means.get)
        out.append(Claim(chapter, f"{name}: F_EIG has the highest mean final HV on test", "F_EIG", best,
                         (best == "F_EIG") if full else None, prof, "Table 1", note))
        pdm = {v: row["mean"] for v, row in d["table3"]["PD"].items()}
        best = max(pdm, key=pdm.get)
        out.append(Claim(chapter, f"{name}: F_EIG has the highest mean PD", "F_EIG", best,
                         (best == "F_EIG") if full else None, prof, "Table 3", note))
    return out


def main(argv: list[str] | None = None) -> None:
    """The shared CLI, plus ``--dataset NAME`` to run one dataset as chapter ``fairness_<NAME>`` and
    ``--runs-per-program N``: how many (variant, trial) runs are trained as one tensor program (default 12;
    on a GPU, 30 or more keep it busy). It changes speed, not results, and is left out of the fingerprint.

    ``--combine --profile paper --out results/fairness-paper.json`` reads the three per-dataset paper files
    from the results folder and writes the counted claims judged over all of them
    (:func:`combine_paper_files`)."""
    from mtlnotes.experiments.cli import run_cli

    argv = list(sys.argv[1:] if argv is None else argv)
    profiles = {"quick": QUICK, "paper": PAPER, "paper-epochs2": PAPER_EPOCHS2}
    chapter = CHAPTER
    if "--dataset" in argv:
        i = argv.index("--dataset")
        if i + 1 >= len(argv) or argv[i + 1] not in FAIRNESS_DATASETS:
            from mtlnotes.experiments.cli import usage_error

            usage_error("fairness", f"--dataset needs one of {', '.join(FAIRNESS_DATASETS)}")
        name = argv[i + 1]
        del argv[i:i + 2]
        profiles = {k: dataclasses.replace(c, datasets=(name,)) for k, c in profiles.items()}
        chapter = f"{CHAPTER}_{name}"
    if "--runs-per-program" in argv:  # speed only (not in the checkpoint fingerprint): larger on a GPU
        i = argv.index("--runs-per-program")
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if not value.isdigit() or int(value) < 1:
            from mtlnotes.experiments.cli import usage_error

            usage_error("fairness", f"--runs-per-program needs a positive integer, got {value!r}")
        del argv[i:i + 2]
        profiles = {k: dataclasses.replace(c, runs_per_program=int(value)) for k, c in profiles.items()}
    if "--combine" in argv:  # the counted claims over the three per-dataset paper files
        argv.remove("--combine")
        from mtlnotes.results import find_results

        def combined(config, device=None, checkpoint_dir=None):
            return combine_paper_files({name: find_results(f"{CHAPTER}_{name}", "paper")
                                        for name in FAIRNESS_DATASETS})

        combined.__module__ = __name__
        counted = lambda results, config: claims(results, config)[:2]  # noqa: E731  (the per-dataset ones are in
        run_cli(CHAPTER, {"paper": PAPER}, combined, counted, argv)     # the per-dataset files already)
        return
    run_cli(chapter, profiles, run, claims, argv)


if __name__ == "__main__":
    main()
