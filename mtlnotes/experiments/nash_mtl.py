"""Chapter: Nash-MTL and gradient aggregation (Navon et al., 2022, "Multi-Task Learning as a Bargaining Game").

Three experiments, one per section of the chapter:

1. ``toy``: the two-objective problem on ℝ² of the paper's illustrative example (§6.1, Fig. 1; a variant of
   CAGrad's toy, first loss scaled by 0.1), optimised with Adam by every method from five starting points.
   Whether a run ends on the Pareto front is judged by Pareto-stationarity: the minimum norm of the convex
   hull of the two gradients at the final point (0 exactly on the front). The problem, its runner and Fig. 2's
   update directions live in :mod:`mtlnotes.weighting.toy`.
2. ``multimnist``: MultiMNIST (real MNIST) with the MultiLeNet trunk and two linear heads, every method, single-task
   baselines with the same code, per-task test accuracy at the epoch of best validation accuracy, Δm% and mean
   rank, time per epoch, peak tensor memory of one training step (:func:`run_multimnist`), and Nash-MTL solving for α
   only every N steps (:func:`update_frequency_study`, §4's "practical speedup"). The runs live in
   :mod:`mtlnotes.weighting.benchmarks`.
3. ``qm9`` / ``nyuv2`` (paper profile only): the paper's benchmarks (§6.2, Table 2; §6.3, Table 3): QM9's 11
   targets with the MPNN of :mod:`mtlnotes.models.mpnn` (:func:`run_qm9`), NYUv2's segmentation, depth and normals
   with SegNet-MTAN of :mod:`mtlnotes.models.segnet_mtan` (:func:`run_nyuv2`), every method and the single-task
   baselines with the same code. The loaders read the official formats (:mod:`mtlnotes.data.qm9`,
   :mod:`mtlnotes.data.nyuv2`, which also holds NYUv2's augmentation, losses and metrics); without the files the
   run stops, before any training, with a message naming what to download. The training loops live in
   :mod:`mtlnotes.weighting.benchmarks`.

Δm% (Maninis et al., 2019; lower is better) and mean rank (MR; 1 = best) are :mod:`mtlnotes.weighting.metrics`.

``python -m mtlnotes.experiments.nash_mtl --profile quick --out results/nash_mtl-quick.json`` writes the book's file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data.nyuv2 import NYUV2_METRICS, NYUv2Meter, nyuv2_losses, random_scale_crop
from mtlnotes.data.qm9 import qm9_splits
from mtlnotes.results import Claim
from mtlnotes.stats import compare, mean_interval, verdict_word
from mtlnotes.weighting import METHODS
from mtlnotes.weighting import toy as toy_example
from mtlnotes.weighting.benchmarks import method_kwargs, run_multimnist, run_nyuv2, run_qm9, update_frequency_study
from mtlnotes.weighting.metrics import delta_m, mean_rank
from mtlnotes.weighting.toy import FIG2_GRADS, LOSS_WEIGHTINGS, TOY_STARTS, fragile_starts, toy_losses, toy_summary

__all__ = ["main", "Config", "QUICK", "FULL", "PAPER", "PROFILES", "run", "claims", "toy_losses", "run_toy", "run_multimnist", "delta_m",
           "mean_rank", "TOY_STARTS", "LOSS_WEIGHTINGS", "toy_summary", "FIG2_GRADS", "update_directions",
           "update_frequency_study", "update_frequency_rows", "PAPER_QM9", "PAPER_NYUV2",
           "run_qm9", "run_nyuv2", "qm9_splits", "nyuv2_losses", "NYUv2Meter", "NYUV2_METRICS", "random_scale_crop"]

CHAPTER = "nash_mtl"
#: Every toy start is also run moved by ± this much in both coordinates: a verdict it changes is decided by rounding.
TOY_NUDGE = 1e-12

#: The paper's QM9 table (Navon et al., 2022, Table 2: MR and Δm%, mean ± std over 3 seeds).
PAPER_QM9 = {"LS": (6.8, 177.6), "SI": (4.0, 77.8), "RLW": (8.2, 203.8), "DWA": (6.4, 175.3), "UW": (5.3, 108.0),
             "MGDA": (5.9, 120.5), "PCGrad": (5.0, 125.7), "CAGrad": (5.7, 112.8), "IMTL-G": (4.7, 77.2),
             "Nash-MTL": (2.5, 62.0)}
#: The paper's NYUv2 table (Navon et al., 2022, Table 3: MR and Δm%).
PAPER_NYUV2 = {"LS": (8.11, 5.59), "SI": (7.11, 4.39), "RLW": (10.11, 7.78), "DWA": (6.88, 3.57), "UW": (6.44, 4.05),
               "MGDA": (5.44, 1.38), "PCGrad": (6.88, 3.97), "GradDrop": (6.44, 3.58), "CAGrad": (3.77, 0.20),
               "IMTL-G": (3.11, -0.76), "Nash-MTL": (1.55, -4.04)}


@dataclass(frozen=True)
class Config:
    profile: str
    seeds: tuple[int, ...]
    methods: tuple[str, ...] = METHODS
    # --- illustrative example (§6.1; official toy: Adam, lr 1e-3, 35k steps, first loss × 0.1)
    toy_steps: int = 35_000
    toy_lr: float = 1e-3
    toy_scale: float = 0.1
    toy_record_every: int = 50
    toy_stationary_tol: float = 1e-3   # min-norm of the gradient hull below this: "on the Pareto front"
    # --- MultiMNIST (Sener & Koltun, 2018 setting; MultiLeNet trunk)
    mm_train: int = 54_000           # MultiMNIST training images (built from 90% of MNIST train)
    mm_val: int = 6_000              # validation images (from the other 10% of MNIST train)
    mm_test: int = 10_000            # test images (from MNIST test)
    mm_epochs: int = 50
    mm_batch: int = 256
    mm_lr: float = 1e-3              # Adam
    mm_hidden: int = 50
    gradient_engine: str = "vmap"          # as the stored quick results were computed. "auto" (layerwise) takes
                                           # about 0.6x the time at MultiMNIST's K = 2 on the CPU (vmap about 1x,
                                           # benchmarks/gradients_engine.py) but rounds differently, so switching
                                           # changes every trained number after the first step
    # --- method hyper-parameters (Navon et al., 2022, App. and official defaults)
    cagrad_c: float = 0.4
    nash_max_norm: float = 1.0
    nash_update_every: int = 1
    # --- paper benchmarks (§6.2 QM9, §6.3 NYUv2); run only where the data is present
    datasets: tuple[str, ...] = ("toy", "multimnist")
    # QM9 (§6.2, App. C; the official code's PyG example setting): MPNN with dim 64, Adam lr 1e-3, batch 120,
    # 300 epochs, ReduceLROnPlateau(factor 0.7, patience 5, min lr 1e-5) on the validation loss, targets
    # standardised with the training mean/std; 10,000 test and 10,000 validation molecules, the rest train.
    qm9_methods: tuple[str, ...] = ("LS", "SI", "RLW", "DWA", "UW", "MGDA", "PCGrad", "CAGrad", "IMTL-G", "Nash-MTL")
    qm9_epochs: int = 300
    qm9_batch: int = 120
    qm9_lr: float = 1e-3
    qm9_dim: int = 64
    qm9_val: int = 10_000
    qm9_test: int = 10_000
    qm9_limit: int | None = None     # read only this many molecules (None: all)
    # NYUv2 (§6.3, App. C; MTAN's setting): SegNet-MTAN, Adam lr 1e-4 halved after 100 epochs, batch 2,
    # 200 epochs, random scale-crop augmentation. The paper selects on the test split; we hold out nyu_val
    # training images for model selection instead.
    nyu_epochs: int = 200
    nyu_batch: int = 2
    nyu_lr: float = 1e-4
    nyu_lr_step: int = 100
    nyu_val: int = 95
    nyu_filters: tuple[int, ...] = (64, 128, 256, 512, 512)
    nyu_augment: bool = True
    paper_gradient_engine: str = "reference"  # per_task_gradients engine for QM9 / NYUv2 (see mtlnotes.gradients)

    def __post_init__(self) -> None:
        unknown = (set(self.methods) | set(self.qm9_methods)) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
        if not self.seeds:
            raise ValueError("need at least one seed")


# The quick profile runs the toy at the official schedule too (35,000 Adam steps at lr 1e-3): the batched engine
# (mtlnotes.weighting.toy_batched) computes all 11 methods x 5 starts (and the nudged starts) in under a minute.
QUICK = Config(profile="quick", seeds=(0, 1, 2), mm_train=1200, mm_val=400, mm_test=1000, mm_epochs=3, mm_batch=100,
               mm_lr=2e-3)
# The full profile: the toy as in quick (the official script's schedule: Adam, lr 1e-3, 35,000 steps) and MultiMNIST
# at full size (54,000 / 6,000 / 10,000 images, batch 256, Adam 1e-3), 3 seeds, for the paper profile's 50 epochs; the
# epoch of best validation accuracy is tested. Per-task gradients by the layer-wise engine ("auto"), about 0.6x vmap's
# time at K = 2. On this CPU a unit (one method x one seed) takes 13-20 s per epoch on one thread, so the 39 units are
# about 9 CPU-hours: spread over sessions through checkpoints (benchmarks/multimnist_units.py computes chosen units).
# The stored file (results/nash_mtl-full.json) ran the five loss weightings on an H200 (15 processes sharing the GPU:
# 4-9 s per epoch) and the other 24 units on this CPU (about 5 CPU-hours); results/nash_mtl-full.units.txt lists each
# unit's commit and device. The earlier 6-epoch file (commit aa9081a; 1.7 CPU-hours) had 31 of its 39 runs best at
# the last epoch; at 50 epochs the best epochs are 23-50 and test accuracy is about 2 points higher.
FULL = Config(profile="full", seeds=(0, 1, 2), mm_epochs=50, gradient_engine="auto")
PAPER = Config(profile="paper", seeds=(0, 1, 2), datasets=("toy", "multimnist", "qm9", "nyuv2"))
PROFILES = {"quick": QUICK, "full": FULL, "paper": PAPER}


# ----------------------------------------------------------------------------- 1. the illustrative example
def run_toy(config: Config, methods: tuple[str, ...] | None = None) -> dict:
    """:func:`mtlnotes.weighting.toy.run_toy` with the profile's settings: trajectories (every
    ``toy_record_every`` steps) of each method from each start, final losses and final Pareto-stationarity
    (min-norm of the gradients' convex hull)."""
    methods = methods or config.methods
    return toy_example.run_toy(methods, steps=config.toy_steps, lr=config.toy_lr, scale=config.toy_scale,
                               record_every=config.toy_record_every, stationary_tol=config.toy_stationary_tol,
                               method_kwargs={name: method_kwargs(name, config) for name in methods},
                               nudge=TOY_NUDGE)


def update_directions(grads: torch.Tensor | Sequence[Sequence[float]],
                      methods: tuple[str, ...] = ("LS", "MGDA", "PCGrad", "CAGrad", "IMTL-G", "Nash-MTL"),
                      config: Config | None = None) -> dict[str, torch.Tensor]:
    """Fig. 2: :func:`mtlnotes.weighting.toy.update_directions` with the hyper-parameters of ``config``
    (default :data:`QUICK`): the update direction (d,) each method returns for the gradients ``grads`` (K, d)."""
    config = config or QUICK
    return toy_example.update_directions(grads, methods, {name: method_kwargs(name, config) for name in methods})


# ----------------------------------------------------------------------------- 2. MultiMNIST
def update_frequency_rows(freq: dict) -> dict[str, dict]:
    """The table of :func:`update_frequency_study`'s result: per N, the mean Δm% with its 95% t-interval over
    seeds, and against N = 1 the paired difference and whether solving less often is worse beyond the seed
    spread (holds / does not hold / inconclusive)."""
    if 1 not in freq:
        raise ValueError(f"the update-frequency table compares with N = 1, which is missing (got N = {sorted(freq)})")
    rows = {}
    for n, r in freq.items():
        iv = mean_interval(r["delta_m_per_seed"])
        vs_one = compare(r["delta_m_per_seed"], freq[1]["delta_m_per_seed"])  # paired seeds
        rows[f"every {n} step(s)"] = {"Δm% (mean)": round(iv.mean, 2),
                                      "95% interval": f"[{iv.low:.2f}, {iv.high:.2f}]",
                                      "Δm% − Δm%(N=1)": round(vs_one.mean, 2) if n != 1 else "—",
                                      "worse than N=1?": verdict_word(vs_one.verdict("greater")) if n != 1 else "—"}
    return rows


# ----------------------------------------------------------------------------- run / claims
def run(config: Config, *, device: torch.device | str | None = None, checkpoint_dir=None) -> dict:
    """Every experiment the profile names; plain data (see the module docstring)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    store = CheckpointStore(checkpoint_dir, fingerprint=dataclasses.asdict(config))
    results: dict = {}
    if "qm9" in config.datasets or "nyuv2" in config.datasets:
        _require_paper_data(config)  # fail early, before hours of other work, naming what is missing
    if "toy" in config.datasets:
        results["toy"] = store.get_or_compute("toy", lambda: run_toy(config))
    if "multimnist" in config.datasets:
        results["multimnist"] = run_multimnist(config, device, store)
    if "qm9" in config.datasets:
        results["qm9"] = run_qm9(config, device, store)
    if "nyuv2" in config.datasets:
        results["nyuv2"] = run_nyuv2(config, device, store)
    return results


def _require_paper_data(config: Config) -> None:
    if "qm9" in config.datasets:
        from mtlnotes.data.qm9 import QM9_UNCHARACTERIZED, qm9_path
        from mtlnotes.data.cache import fetch
        qm9_path()
        fetch(QM9_UNCHARACTERIZED, None, download=False)
    if "nyuv2" in config.datasets:
        from mtlnotes.data.nyuv2 import nyuv2_root
        nyuv2_root()


def claims(results: dict, config: Config) -> list[Claim]:
    out = []
    toy = results.get("toy")
    if toy and "Nash-MTL" in toy:
        runs = toy["Nash-MTL"]
        reached = sum(r["on_front"] for r in runs)
        fragile = fragile_starts(runs)
        nudged = any("nudged_on_front" in r for r in runs)
        note = (f"on the front = min-norm of the gradient hull <= {config.toy_stationary_tol}; "
                f"{config.toy_steps} Adam steps at lr {config.toy_lr}")
        if nudged:
            note += (f"; verdicts changed by nudging a start by ±{runs[0]['nudge']:g}: "
                     f"{', '.join(map(str, fragile)) if fragile else 'none'}")
        out.append(Claim(CHAPTER, "Illustrative example: Nash-MTL reaches the Pareto front from every starting point",
                         paper=f"{len(TOY_STARTS)}/{len(TOY_STARTS)} starts (our reading of Fig. 1)",
                         ours=f"{reached}/{len(runs)}",
                         holds=None if fragile else reached == len(runs), profile=config.profile,
                         source="§6.1, Fig. 1", note=note, inconclusive=bool(fragile)))
    mm = results.get("multimnist")
    if mm and "Nash-MTL" in mm["mean_rank"]:
        mr = mm["mean_rank"]
        best = min(mr.values())
        rival = min((m for m in mr if m != "Nash-MTL"), key=mr.get, default=None)
        note = "MultiMNIST is a different, 2-task benchmark; the paper's tables are QM9 and NYUv2"
        holds = mr["Nash-MTL"] == best
        if rival is not None and "mean_rank_per_seed" in mm:  # per-seed ranks, paired: ahead of the best rival?
            ranks = mm["mean_rank_per_seed"]
            iv = compare([r["Nash-MTL"] for r in ranks], [r[rival] for r in ranks])
            holds = iv.verdict("less")
            note += (f"; per-seed MR of Nash-MTL minus {rival}'s: 95% interval [{iv.low:+.2f}, {iv.high:+.2f}] over "
                     f"{iv.n} seeds")
        out.append(Claim(CHAPTER, "Nash-MTL has the best mean rank among the compared methods (as on QM9, NYUv2)",
                         paper="MR 2.5 (QM9), 1.55 (NYUv2): best", ours=f"MR {mr['Nash-MTL']:.2f} on MultiMNIST "
                         f"(best {best:.2f}, {min(mr, key=mr.get)})", holds=holds,
                         profile=config.profile, source="Tables 2, 3", note=note,
                         inconclusive=holds is None and "mean_rank_per_seed" in mm))
        dm = mm["delta_m"]
        holds, note = ((dm["Nash-MTL"] < dm["LS"]) if "LS" in dm else None), ""
        if "LS" in dm and "delta_m_per_seed" in mm:  # paired seeds
            iv = compare(mm["delta_m_per_seed"]["Nash-MTL"], mm["delta_m_per_seed"]["LS"])
            holds = iv.verdict("less")
            note = (f"Δm% of Nash-MTL minus LS's per seed: 95% interval [{iv.low:+.2f}, {iv.high:+.2f}] over {iv.n} "
                    "seeds")
        out.append(Claim(CHAPTER, "Nash-MTL's Δm% is lower than LS's",
                         paper="62.0 vs 177.6 (QM9); −4.04 vs 5.59 (NYUv2)",
                         ours=f"{dm['Nash-MTL']:.3g} vs {dm['LS']:.3g} (MultiMNIST)" if "LS" in dm else None,
                         holds=holds, profile=config.profile, source="Tables 2, 3", note=note,
                         inconclusive=holds is None and "LS" in dm and "delta_m_per_seed" in mm))
    for name, table, src in (("qm9", PAPER_QM9, "Table 2"), ("nyuv2", PAPER_NYUV2, "Table 3")):
        res = results.get(name)
        mr, dm = table["Nash-MTL"]
        ours, holds = None, None
        if res is not None and "Nash-MTL" in res["mean_rank"]:
            ours = f"MR {res['mean_rank']['Nash-MTL']:.2f}, Δm {res['delta_m']['Nash-MTL']:.3g}"
            holds = (res["mean_rank"]["Nash-MTL"] == min(res["mean_rank"].values())
                     and res["delta_m"]["Nash-MTL"] == min(res["delta_m"].values()))
        out.append(Claim(CHAPTER, f"{name.upper()}: Nash-MTL has the best MR and Δm%", paper=f"MR {mr}, Δm {dm}",
                         ours=ours, holds=holds, profile=config.profile, source=src,
                         note="not run: needs the dataset and a GPU (paper profile)" if res is None else
                         "graph features from the .xyz release (no RDKit bonds); see mtlnotes.models.mpnn"
                         if name == "qm9" else "model selected on 95 held-out training images, not on test"))
    return out


def main(argv: list[str] | None = None) -> None:
    """The chapter's command line: ``python -m mtlnotes.experiments.nash_mtl --help``."""
    from mtlnotes.experiments.cli import run_cli

    run_cli(CHAPTER, PROFILES, run, claims, argv)


if __name__ == "__main__":
    main()
