"""Chapter: MMF — hierarchical classification with multiple label structures (Li et al., ICANN 2021).

``python -m mtlnotes.experiments.mmf --profile {quick,full,paper,paper-cars}``

* quick — Fashion-MNIST (real, offline) with a semantic structure H_S defined below and an affinity structure
  H_A (Eqs. 1–2 + spectral clustering) on the features of the flat model; a small five-stage CNN.
* full — the same on all of Fashion-MNIST (60,000 / 10,000), 8 epochs (quick's Adam with a cosine schedule: the
  paper's 200 SGD epochs are for CIFAR-100 from scratch), 3 seeds; the ablations on seed 0.
* paper — CIFAR-100 (20 semantic, 30 affinity superclasses), VGG16 and ResNet50 from scratch (Tables 2–3).
* paper-cars — Car196 with Type and Make structures and 15 affinity superclasses (Tables 2–3).

Every method × seed is one unit of work (resumable with ``--checkpoint-dir``); long trainings also save
their state after each epoch. The datasets and H_S live in :mod:`mtlnotes.hierarchy.tasks`, training and
evaluating one backbone's models in :mod:`mtlnotes.hierarchy.protocol`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.experiments.cli import run_cli
from mtlnotes.hierarchy import LabelStructure, MMFNet, TrainSettings, predict_classes
from mtlnotes.hierarchy.paper_tables import PAPER_TABLES, PAPER_TABLES_CARS, paper_table
from mtlnotes.hierarchy.tables import profile_rows, summary_table
from mtlnotes.hierarchy.protocol import METRICS, BackboneRunner, method_name, summarise_seeds
from mtlnotes.hierarchy.tasks import (FASHION_SEMANTIC, HierarchyTask, fashion_semantic_structure,
                                      load_hierarchy_task, subset_indices)
from mtlnotes.repro import thread_count
from mtlnotes.results import Claim
from mtlnotes.stats import Interval, all_hold, compare, mean_interval, verdict_word

__all__ = ["main", "Config", "QUICK", "FULL", "PAPER", "PROFILES", "PAPER_CARS", "FASHION_SEMANTIC",
           "fashion_semantic_structure", "load_task", "run", "claims", "summary_table", "profile_rows", "PAPER_TABLES",
           "PAPER_TABLES_CARS", "paper_table", "CHAPTER"]

CHAPTER = "mmf"


@dataclass(frozen=True)
class Config:
    profile: str
    seeds: tuple[int, ...]
    dataset: str  # "fashion_mnist" | "cifar100" | "cars196" (§4.1)
    backbones: tuple[str, ...]  # "small_cnn" | "vgg16" | "resnet50" (§4.1: five stages each)
    n_train: int | None  # training images (None: all)
    n_test: int | None  # test images (None: all)
    image_size: int  # Car196 only
    train: TrainSettings
    attach_stage: int  # stage (1..5) whose output feeds the MSCBs (§3.2, Fig. 4a)
    lambda_single: float  # λ for one structure (Tables 2–3: 0.1 on CIFAR-100)
    lambda_multi: float  # λ = Σ λ_m for several structures, split equally (Table 2: 0.15 on CIFAR-100)
    n_affinity: int  # superclasses of H_A (Table 1: 30 for CIFAR-100, 15 for Car196)
    affinity_delta: float  # δ of Eq. 2 (the paper takes 1)
    affinity_samples: int  # training images whose features give the class statistics of Eq. 1
    structure_sets: tuple[tuple[str, ...], ...]  # MMF variants (Tables 2–3 rows); () is "w/o H"
    topdown_structures: tuple[str, ...]  # structures for Greedy / N-Best-Path (§4.3)
    svm_samples: int  # training images for the SVM baselines
    n_best: int  # N of N-Best-Path
    ablation_seeds: tuple[int, ...]
    ablate_stages: tuple[int, ...]  # Fig. 4a (with H_A&S and λ = lambda_stage_ablation)
    lambda_stage_ablation: float  # Fig. 4a uses λ = 0.2
    ablate_lambdas: tuple[float, ...]  # Fig. 4b (with the first semantic structure)
    ablate_n_affinity: tuple[int, ...]  # Table 1 (MMF with H_A only)
    threads: int | None = None  # torch threads inside run() (None: leave as set)
    data_seed: int = 0  # which training/test subset
    parts: tuple[str, ...] = ("main", "stage", "lambda", "n_affinity")  # which parts run() does (notebook splits)

    def __post_init__(self) -> None:
        unknown = set(self.parts) - {"main", "stage", "lambda", "n_affinity"}
        if unknown:
            raise ValueError(f"unknown parts {sorted(unknown)}; choose from main, stage, lambda, n_affinity")


QUICK = Config(
    profile="quick", seeds=(0, 1, 2), dataset="fashion_mnist", backbones=("small_cnn",), n_train=8000,
    n_test=None, image_size=28, train=TrainSettings(epochs=4, batch_size=64, lr=2e-3, optimizer="adam"),
    attach_stage=2, lambda_single=0.1, lambda_multi=0.15, n_affinity=4, affinity_delta=1.0,
    affinity_samples=5000, structure_sets=((), ("H_S",), ("H_A",), ("H_A", "H_S")), topdown_structures=("H_S",),
    svm_samples=3000, n_best=2, ablation_seeds=(0,), ablate_stages=(1, 2, 3, 4, 5), lambda_stage_ablation=0.2,
    ablate_lambdas=(0.05, 0.1, 0.2, 0.4, 0.8), ablate_n_affinity=(2, 3, 4, 5, 6), threads=1)

FULL = dataclasses.replace(
    QUICK, profile="full", n_train=None, train=dataclasses.replace(QUICK.train, epochs=8), affinity_samples=60000,
    svm_samples=6000)

PAPER = Config(
    profile="paper", seeds=(0, 1, 2), dataset="cifar100", backbones=("vgg16", "resnet50"), n_train=None,
    n_test=None, image_size=32,
    train=TrainSettings(epochs=200, batch_size=128, lr=0.05, optimizer="sgd", momentum=0.9, weight_decay=5e-4,
                        augment=True),
    attach_stage=2, lambda_single=0.1, lambda_multi=0.15, n_affinity=30, affinity_delta=1.0,
    affinity_samples=50000, structure_sets=((), ("H_S",), ("H_A",), ("H_A", "H_S")), topdown_structures=("H_S",),
    svm_samples=20000, n_best=3, ablation_seeds=(0,), ablate_stages=(1, 2, 3, 4, 5), lambda_stage_ablation=0.2,
    ablate_lambdas=(0.1, 0.2, 0.4, 0.6, 0.8), ablate_n_affinity=(18, 20, 25, 30))

PAPER_CARS = dataclasses.replace(
    PAPER, profile="paper-cars", dataset="cars196", image_size=224, n_affinity=15, affinity_samples=8144,
    structure_sets=((), ("H_A",), ("H_T",), ("H_M",), ("H_A", "H_T"), ("H_A", "H_M"), ("H_T", "H_M"),
                    ("H_A", "H_T", "H_M")),
    lambda_single=0.3, lambda_multi=0.3, topdown_structures=("H_T", "H_M"), svm_samples=8144,
    ablate_lambdas=(0.1, 0.2, 0.3, 0.4, 0.6, 0.8), ablate_n_affinity=(15, 18, 20, 30, 40, 50))

PROFILES = {"quick": QUICK, "full": FULL, "paper": PAPER, "paper-cars": PAPER_CARS}

Task = HierarchyTask  # the chapter's name for it before the data helpers moved to mtlnotes.hierarchy.tasks


def load_task(config: Config) -> HierarchyTask:
    """The config's dataset, subsets and semantic structures (H_S, or H_T and H_M for Car196)."""
    return load_hierarchy_task(config.dataset, config.n_train, config.n_test, config.image_size, config.data_seed)


def _run_backbone(config: Config, task: HierarchyTask, backbone: str, device, store: CheckpointStore) -> dict:
    r = BackboneRunner(task, backbone, config.train, config.image_size <= 64, device, store)
    stage = config.attach_stage
    flat: dict[int, MMFNet] = {}

    def flat_model(seed: int) -> MMFNet:
        if seed not in flat:
            flat[seed] = r.fit(f"{backbone}-flat-s{seed}", [], [], stage, seed)
        return flat[seed]

    # H_A from the class statistics of the flat model's features (§3.3; the paper used a pre-trained VGG16)
    feature_seed = config.seeds[0]
    idx = subset_indices(len(task.y_train), config.affinity_samples, config.data_seed + 2)
    affinity = r.affinity_structures(flat_model(feature_seed), idx, {config.n_affinity, *config.ablate_n_affinity},
                                     config.affinity_delta)
    structures = dict(task.semantic)
    structures["H_A"] = affinity[config.n_affinity][0]
    eval_structures = list(structures.values())

    main: dict[str, dict] = {}
    for sset in config.structure_sets if "main" in config.parts else ():
        name = method_name(sset)
        chosen = [structures[s] for s in sset]
        lam = config.lambda_single if len(sset) == 1 else config.lambda_multi
        lambdas = [lam / len(sset)] * len(sset) if sset else []
        per_seed = []
        for seed in config.seeds:
            key = f"{backbone}-{name}-s{seed}"

            def unit(chosen=chosen, lambdas=lambdas, seed=seed, key=key, sset=sset):
                model = flat_model(seed) if not sset else r.fit(key, chosen, lambdas, stage, seed)
                pred = predict_classes(model, task.x_test, device)
                own = chosen or list(task.semantic.values())
                return r.evaluate(pred, eval_structures, own)

            per_seed.append(store.get_or_compute(key + "-eval", unit))
        main[name] = summarise_seeds(per_seed)

    svm_idx = subset_indices(len(task.y_train), config.svm_samples, config.data_seed + 3)
    for sname in config.topdown_structures if "main" in config.parts else ():
        for label, n_best in (("Greedy", 1), ("NBPath", config.n_best)):
            per_seed = []
            for seed in config.seeds:
                def unit(sname=sname, n_best=n_best, seed=seed):
                    return r.evaluate_topdown(flat_model(seed), structures[sname], eval_structures, svm_idx,
                                              n_best, seed)

                per_seed.append(store.get_or_compute(f"{backbone}-{label}-{sname}-s{seed}-eval", unit))
            main[f"{label} ({sname})"] = summarise_seeds(per_seed)

    # Ablations (Fig. 4a, Fig. 4b, Table 1)
    first_sem = next(iter(task.semantic))
    multi = [structures["H_A"], structures[first_sem]]

    def ablation(key: str, chosen: list[LabelStructure], lambdas: list[float], at: int) -> dict:
        return r.ablation(key, chosen, lambdas, at, config.ablation_seeds, eval_structures)

    lam_s = config.lambda_stage_ablation
    stages = {str(s): ablation(f"{backbone}-stage{s}", multi, [lam_s / 2] * 2, s)
              for s in (config.ablate_stages if "stage" in config.parts else ())}
    lambdas = {str(lam): ablation(f"{backbone}-lambda{lam}", [structures[first_sem]], [lam], stage)
               for lam in (config.ablate_lambdas if "lambda" in config.parts else ())}
    n_aff = {str(k): ablation(f"{backbone}-naff{k}", [affinity[k][0]], [config.lambda_single], stage)
             for k in (config.ablate_n_affinity if "n_affinity" in config.parts else ())}
    info = affinity[config.n_affinity][1]
    return {
        "main": main, "ablation_stage": stages, "ablation_lambda": lambdas, "ablation_n_affinity": n_aff,
        "ablation_lambda_structure": first_sem,
        "structures": {n: {"parent": list(s.parent), "super_names": list(s.super_names or ())}
                       for n, s in {**structures, **{f"H_A{k}": a[0] for k, a in affinity.items()}}.items()},
        "ablation_n_affinity_lambda": config.lambda_single,
        "affinity": {"matrix": info["affinity"], "distances": info["distances"], "feature_seed": feature_seed,
                     "n_samples": int(len(idx))},
        "train_seconds": r.train_seconds,
    }


def run(config: Config, *, device=None, checkpoint_dir=None) -> dict:
    """Train and evaluate every method, seed and ablation of ``config``; plain data (see the chapter)."""
    device = torch.device(device or "cpu")
    with thread_count(config.threads):
        store = CheckpointStore(checkpoint_dir, fingerprint=dataclasses.asdict(config))
        task = load_task(config)
        out = {"dataset": config.dataset, "n_train": int(len(task.y_train)), "n_test": int(len(task.y_test)),
               "class_names": list(task.class_names), "backbones": {}}
        for backbone in config.backbones:
            out["backbones"][backbone] = _run_backbone(config, task, backbone, device, store)
        return out


def _points(summary: dict, metric: str = "acc") -> list[float]:
    return [100 * r[metric] for r in summary["per_seed"]]


def claims(results: dict, config: Config) -> list[Claim]:
    """Claims of §4.2–4.3 (Tables 2–3, Fig. 4a–b) checked on each backbone of the run.

    Each comparison is judged from the paired (same seed) differences with a 95% t-interval
    (:mod:`mtlnotes.stats`): it holds when the interval lies on the claimed side of 0, does not hold when it lies on
    the other, and is inconclusive when it contains 0 or rests on fewer than :data:`~mtlnotes.stats.MIN_SEEDS` seeds
    (the ablations run on ``config.ablation_seeds``)."""
    out = []
    sem = "H_S" if config.dataset != "cars196" else "H_T"
    multi = "H_A&S" if config.dataset != "cars196" else "H_A&T"

    def claim(text, paper_value, ours, diff: Interval, holds, source, note):
        note = f"{note}; {diff}; {verdict_word(holds)}"
        return Claim(CHAPTER, text, paper_value, ours, holds, config.profile, source, note,
                     inconclusive=holds is None)

    for bb, res in results["backbones"].items():
        main = res["main"]
        ref = paper_table(config.dataset if config.dataset == "cars196" else "cifar100",
                          "resnet50" if bb == "resnet50" else "vgg16")
        src = "Table 3" if bb == "resnet50" else "Table 2"
        where = f"{config.dataset}, {bb}, {len(config.seeds)} seeds"
        acc = {k: 100 * v["mean"]["acc"] for k, v in main.items()}

        def paper(method: str, i: int = 0):
            return ref[method][i] if ref and method in ref else None

        def gain(a: str, b: str) -> Interval:
            return compare(_points(main[a]), _points(main[b]))

        for single in ("H_A", sem):
            if single in acc and "w/o H" in acc:
                d = gain(single, "w/o H")
                out.append(claim(f"MMF with the single structure {single} is more accurate than w/o H (Acc, %)",
                                 paper(single), round(acc[single], 2), d, d.verdict("greater"),
                                 f"{src}, §4.3 (2)", f"{where}; w/o H: ours {acc['w/o H']:.2f}, paper "
                                 f"{paper('w/o H')}; {single} − w/o H (points)"))
        singles = [k for k in ("H_A", sem) if k in acc]
        if multi in acc and singles:
            ds = {k: gain(multi, k) for k in singles}
            out.append(claim(f"MMF with multiple structures ({multi}) beats every single structure (Acc, %)",
                             paper(multi), round(acc[multi], 2), min(ds.values(), key=lambda d: d.mean),
                             all_hold([d.verdict("greater") for d in ds.values()]), f"{src}, §4.3 (3)",
                             f"{where}; " + ", ".join(f"{multi} − {k} {d}" for k, d in ds.items())
                             + "; the smallest difference"))
        top = [k for k in acc if k.startswith(("Greedy", "NBPath"))]
        if top and sem in acc:
            best_top = max(top, key=lambda k: acc[k])
            d = gain(sem, best_top)
            out.append(claim(f"MMF with {sem} beats the top-down SVM methods by a considerable margin "
                             f"(Acc gap, points)",
                             round(paper(sem) - max(paper(f"{m} ({s})") for m in ("Greedy", "NBPath")
                                                    for s in config.topdown_structures), 2) if ref else None,
                             round(acc[sem] - acc[best_top], 2), d, d.verdict("greater"), f"{src}, §4.3 (1)",
                             f"{where}; best top-down ({best_top}): ours {acc[best_top]:.2f}; {sem} − it"))
        if multi in main and "w/o H" in main:
            base, best = main["w/o H"]["per_seed"], main[multi]["per_seed"]
            tie_gain = [100 * (b["tie_a"] - m["tie_a"]) / b["tie_a"] for b, m in zip(base, best)]
            err_gain = [100 * (m["acc"] - b["acc"]) / (1 - b["acc"]) for b, m in zip(base, best)]
            p_tie = p_err = None
            if ref:
                p_tie = 100 * (ref["w/o H"][2] - ref[multi][2]) / ref["w/o H"][2]
                p_err = 100 * (ref[multi][0] - ref["w/o H"][0]) / (100 - ref["w/o H"][0])
            d = compare(tie_gain, err_gain)
            out.append(claim(f"hierarchical metrics gain more than Acc: relative TIE_a reduction > relative "
                             f"error reduction ({multi} vs w/o H, %)",
                             f"{p_tie:.1f} vs {p_err:.1f}" if ref else None,
                             f"{np.mean(tie_gain):.1f} vs {np.mean(err_gain):.1f}", d,
                             all_hold([d.verdict("greater"), mean_interval(tie_gain).verdict("greater")]),
                             f"{src}, §4.3 (4)", f"{where}; TIE_a reduction − error reduction"))
        seeds = f"{config.dataset}, {bb}, ablation seeds {list(config.ablation_seeds)}"
        st = {int(k): _points(v) for k, v in res["ablation_stage"].items()}
        if len(st) >= 4:
            early = np.mean([st[s] for s in sorted(st)[:2]], axis=0)
            late = np.mean([st[s] for s in sorted(st)[-2:]], axis=0)
            d = compare(list(early), list(late))
            out.append(claim("attaching the MSCBs in early stages is more effective (mean Acc of the two "
                             "earliest vs two latest stages, %)", "early stages best (Fig. 4a)",
                             f"{np.mean(early):.2f} vs {np.mean(late):.2f}", d, d.verdict("greater"),
                             "Fig. 4a, §4.2", f"{seeds}; early − late (points)"))
        lam = {float(k): _points(v) for k, v in res["ablation_lambda"].items()}
        small, large = [k for k in lam if k <= 0.2], [k for k in lam if k > 0.2]
        if small and large:
            best_lam = max(lam, key=lambda k: (np.mean(lam[k]), -k))
            d = compare(list(np.mean([lam[k] for k in small], axis=0)),
                        list(np.mean([lam[k] for k in large], axis=0)))
            out.append(claim(f"a small constraint intensity is best ({res['ablation_lambda_structure']}: mean Acc "
                             f"over λ ≤ 0.2 minus over λ > 0.2, points)", "λ = 0.1 best (Fig. 4b)",
                             round(d.mean, 2), d, d.verdict("greater"), "Fig. 4b, Table 2",
                             f"grid {sorted(lam)}, best λ {best_lam:g}; {seeds}"))
    return out


def main(argv: list[str] | None = None) -> None:
    """The chapter's command line: ``python -m mtlnotes.experiments.mmf --help``."""
    run_cli(CHAPTER, PROFILES, run, claims, argv)


if __name__ == "__main__":
    main()
