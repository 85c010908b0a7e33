"""Chapter: GLUNet — segmentation with an auxiliary edge task (Wang & Quan, ICANN 2021), on DSB2018 nuclei.

``python -m mtlnotes.experiments.glunet --profile {quick,paper-cpu,paper}``

* quick — reduced resolution, width, training subset and epochs (the notebook's profile).
* paper-cpu — what this CPU can afford of the paper's DSB2018 run: all 670 images and the same split, loss,
  λ, augmentation, batch size and optimiser, at a reduced resolution, width and number of epochs (the
  reductions are named in the config's comments and in the chapter).
* paper — §4.2 as printed: 256×256, 150 epochs, Adam 1e-4, batch 16, λ = 0.7 (needs a GPU).

Every model × seed is one unit of work (resumable with ``--checkpoint-dir``; each training also saves its
state after every epoch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data.dsb2018 import load_dsb2018, rle_encode
from mtlnotes.data.multitask import split_indices
from mtlnotes.experiments.cli import run_cli
from mtlnotes.fit import fit
from mtlnotes.repro import seed_everything, thread_count, torch_generator
from mtlnotes.results import Claim
from mtlnotes.segmentation import METRIC_NAMES, edge_targets, glunet_loss, make_model, segmentation_scores
from mtlnotes.stats import compare, mean_interval, verdict_word

__all__ = ["Config", "QUICK", "PAPER_CPU", "PAPER", "CHAPTER", "PAPER_TABLE2", "PAPER_TABLE4", "PAPER_TABLE5",
           "load_split", "run", "claims", "summary_table", "main"]

CHAPTER = "glunet"

# DSB2018 rows of the paper: Table 2 (IoU, F1, SE, SP, ACC, AUC), Table 4 (IoU, ACC), Table 5 (IoU, ACC)
PAPER_TABLE2 = {"U-Net": (0.8731, 0.8682, 0.9479, 0.9263, 0.9314, 0.9371),
                "Attention U-Net": (0.8857, 0.8823, 0.9496, 0.9313, 0.9372, 0.9405),
                "U-Net++": (0.8991, 0.9125, 0.9712, 0.9769, 0.9830, 0.9722),
                "GLUNet": (0.9175, 0.9273, 0.9805, 0.9853, 0.9842, 0.9844)}
PAPER_TABLE4 = {"U-Net": (0.8731, 0.9314), "U-Net + LEDM": (0.8915, 0.9534), "U-Net + GAM": (0.9048, 0.9736),
                "GLUNet": (0.9175, 0.9842)}
PAPER_TABLE5 = {"Single": (0.9063, 0.9785), "Single-Res1": (0.9104, 0.9821), "Single-Res2": (0.9175, 0.9842),
                "Single-Res3": (0.9182, 0.9849), "Single-Res4": (0.9187, 0.9844)}


@dataclass(frozen=True)
class Config:
    profile: str
    seeds: tuple[int, ...]
    image_size: int  # §4.1: DSB2018 images are used at 256×256
    width: int  # channels of the first level (ours: the paper's encoder is DenseNet-121, §3)
    depth: int  # levels of the U-Net (Fig. 1: E1..E4 feed the LEDM, plus the bottleneck → 5)
    split: tuple[float, float, float]  # train/validation/test fractions (not given in the paper; ours)
    n_train: int | None  # training images used (None: the whole training part)
    epochs: int  # §4.2: 150
    batch_size: int  # §4.2: 16
    lr: float  # §4.2: Adam, 1e-4
    lam: float  # §3.3, Eq. 6; §4.2: λ = 0.7
    noise_var: float  # §4.2: Gaussian white noise, variance 0.01 for the nuclei set
    flips: bool  # §4.2: horizontal and vertical flips
    models: tuple[str, ...]  # Table 4 rows and Table 2 baselines (mtlnotes.segmentation.MODEL_NAMES)
    lambda_grid: tuple[float, ...] = ()  # GLUNet with other λ (§4.2 grid search), first seed only
    gam_variants: tuple[str, ...] = ()  # Table 5 ResBlock variants of GLUNet, first seed only
    data_seed: int = 0  # which random split
    n_examples: int = 4  # test images whose predictions are stored for the figure
    threads: int | None = None  # torch threads inside run() (None: leave as set)


_ABLATION = ("U-Net", "U-Net + LEDM", "U-Net + GAM", "GLUNet")

# quick: 64 px, width 8, 96 training images, 3 epochs; batch 8 and Adam 2e-3 (instead of 16 and 1e-4) so that
# 36 updates move the models at all. For the notebook; its numbers are far from converged.
QUICK = Config(profile="quick", seeds=(0,), image_size=64, width=8, depth=4, split=(0.8, 0.1, 0.1), n_train=96,
               epochs=3, batch_size=8, lr=2e-3, lam=0.7, noise_var=0.01, flips=True,
               models=_ABLATION + ("Attention U-Net",), threads=1)

# Reductions from PAPER, measured on this 2-core machine shared by ~6 jobs (one thread, about 35 s per epoch
# for the U-Net and 70 s for GLUNet at 64 px): 64 px instead of 256 (16x fewer pixels), width 8 and 4 levels,
# 5 epochs instead of 150, Adam 1e-3 instead of 1e-4 (about 30x fewer updates), the four Table 4 rows only
# (no Table 2 baselines, no Table 5 / λ grid). Same data, split, loss, λ, augmentation, batch size, selection.
PAPER_CPU = Config(profile="paper-cpu", seeds=(0, 1, 2), image_size=64, width=8, depth=4, split=(0.8, 0.1, 0.1),
                   n_train=None, epochs=5, batch_size=16, lr=1e-3, lam=0.7, noise_var=0.01, flips=True,
                   models=_ABLATION, threads=1)

PAPER = Config(profile="paper", seeds=(0, 1, 2), image_size=256, width=32, depth=5, split=(0.8, 0.1, 0.1),
               n_train=None, epochs=150, batch_size=16, lr=1e-4, lam=0.7, noise_var=0.01, flips=True,
               models=_ABLATION + ("Attention U-Net", "U-Net++"), lambda_grid=(0.3, 0.5, 0.9),
               gam_variants=("Single", "Single-Res1", "Single-Res3", "Single-Res4"))


@dataclass
class Split:
    """Tensors of one split: images (N, 3, S, S) float in [0, 1], masks and edges (N, S, S) int64, ImageIds."""

    x: torch.Tensor
    mask: torch.Tensor
    edge: torch.Tensor
    ids: list[str]


def load_split(config: Config) -> dict[str, Split]:
    """DSB2018 at ``config.image_size``, split into train/val/test by ``config.data_seed``; edges from instances."""
    data = load_dsb2018(config.image_size)
    parts = split_indices(len(data.ids), config.split, seed=config.data_seed)
    out = {}
    for name, idx in zip(("train", "val", "test"), parts):
        idx = idx.sort().values.numpy()
        if name == "train" and config.n_train is not None:
            idx = idx[:config.n_train]
        labels = torch.from_numpy(data.labels[idx])
        out[name] = Split(torch.from_numpy(data.images[idx]).float() / 255.0, (labels > 0).long(),
                          edge_targets(labels).long(), [data.ids[i] for i in idx])
    return out


def _augment(x: torch.Tensor, mask: torch.Tensor, edge: torch.Tensor, config: Config, gen: torch.Generator):
    """§4.2: random horizontal/vertical flips per image and Gaussian white noise of variance ``noise_var``."""
    if config.flips:
        for dim in (-1, -2):
            flip = torch.rand(x.shape[0], generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(dim), x)
            mask = torch.where(flip[:, None, None], mask.flip(dim), mask)
            edge = torch.where(flip[:, None, None], edge.flip(dim), edge)
    if config.noise_var > 0:
        x = x + torch.randn(x.shape, generator=gen) * config.noise_var ** 0.5
    return x, mask, edge


def _predict(model, x: torch.Tensor, device, batch: int = 32) -> torch.Tensor:
    """Foreground probabilities (N, S, S)."""
    with torch.no_grad():
        return torch.cat([torch.softmax(model(x[i:i + batch].to(device))[0], 1)[:, 1].cpu()
                          for i in range(0, len(x), batch)])


def _train_one(config: Config, data: dict[str, Split], name: str, seed: int, lam: float, gam_variant: str,
               device, store: CheckpointStore, key: str) -> dict:
    seed_everything(seed)
    model = make_model(name, width=config.width, depth=config.depth, gam_variant=gam_variant).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    tr, va, te = data["train"], data["val"], data["test"]

    def batches(epoch: int):
        gen = torch_generator(seed * 100_003 + epoch)
        perm = torch.randperm(len(tr.x), generator=gen)
        return [(perm[i:i + config.batch_size], seed * 100_003 + epoch * 1009 + i)
                for i in range(0, len(perm), config.batch_size)]

    def step(batch) -> float:
        idx, aug_seed = batch
        x, mask, edge = _augment(tr.x[idx], tr.mask[idx], tr.edge[idx], config, torch_generator(aug_seed))
        seg, edge_logits = model(x.to(device))
        loss, _ = glunet_loss(seg, mask.to(device), edge_logits, edge.to(device), lam=lam)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def evaluate() -> float:  # model selection on the validation images (the paper's early stopping, §4.2)
        return segmentation_scores(_predict(model, va.x, device), va.mask).IoU

    result = fit(model, opt, step, batches, config.epochs, evaluate=evaluate, checkpoint=store, key=key, desc=key)
    prob = _predict(model, te.x, device)
    return {"test": segmentation_scores(prob, te.mask).as_dict(), "best_epoch": result.best_epoch,
            "val_iou": result.scores, "train_loss": result.train_losses, "train_seconds": result.train_seconds,
            "examples": [rle_encode(m) for m in (prob[:config.n_examples] > 0.5).numpy()]}  # first test images


def run(config: Config, *, device=None, checkpoint_dir=None) -> dict:
    """Train and test every model × seed (and the λ / Table 5 variants) of ``config``; plain data."""
    device = torch.device(device or "cpu")
    with thread_count(config.threads):
        # seeds are left out of the fingerprint (unit keys carry the seed): a run may be resumed with fewer seeds
        store = CheckpointStore(checkpoint_dir, fingerprint={k: v for k, v in dataclasses.asdict(config).items()
                                                             if k != "seeds"})
        data = load_split(config)
        te = data["test"]
        out = {"n": {k: len(v.ids) for k, v in data.items()}, "test_ids": te.ids, "models": {}, "lambda": {},
               "gam_variants": {}}
        out["models"] = {name: {} for name in config.models}
        for s in config.seeds:  # seed-major: an interrupted run has whole seeds done first
            for name in config.models:
                out["models"][name][str(s)] = store.get_or_compute(
                    f"{name}-s{s}", lambda name=name, s=s: _train_one(config, data, name, s, config.lam,
                                                                      "Single-Res2", device, store, f"{name}-s{s}-fit"))
        s0 = config.seeds[0]
        for lam in config.lambda_grid:
            key = f"GLUNet-lam{lam}-s{s0}"
            out["lambda"][str(lam)] = store.get_or_compute(
                key, lambda lam=lam, key=key: _train_one(config, data, "GLUNet", s0, lam, "Single-Res2", device,
                                                         store, key + "-fit"))
        for variant in config.gam_variants:
            key = f"GLUNet-{variant}-s{s0}"
            out["gam_variants"][variant] = store.get_or_compute(
                key, lambda v=variant, key=key: _train_one(config, data, "GLUNet", s0, config.lam, v, device, store,
                                                           key + "-fit"))
        return out


def summary_table(results: dict) -> pd.DataFrame:
    """One row per model: the mean over seeds of each test metric, the paper's Table 2/4 values beside it."""
    rows = []
    for name, per_seed in results["models"].items():
        row = {"model": name, "seeds": len(per_seed)}
        for m in METRIC_NAMES:
            row[m] = float(np.mean([r["test"][m] for r in per_seed.values()]))
        paper = PAPER_TABLE2.get(name) or (PAPER_TABLE4[name] + (None,) * 4 if name in PAPER_TABLE4 else None)
        row["paper IoU"] = paper[0] if paper else None
        row["paper ACC"] = (paper[4] if name in PAPER_TABLE2 else paper[1]) if paper else None
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def _iou(results: dict, name: str) -> list[float]:
    per_seed = results["models"].get(name, {})
    return [per_seed[k]["test"]["IoU"] for k in sorted(per_seed)]


def claims(results: dict, config: Config) -> list[Claim]:
    """Table 2 and Table 4 (DSB2018) comparisons, judged on test IoU over seeds (paired by seed)."""
    out = []
    where = f"DSB2018 at {config.image_size} px, {len(config.seeds)} seed(s), {config.epochs} epochs"
    pairs = [("GLUNet", "U-Net", "GLUNet segments nuclei better than U-Net (test IoU)", "Table 2"),
             ("U-Net + GAM", "U-Net", "adding GAM to the U-Net backbone improves IoU", "Table 4"),
             ("U-Net + LEDM", "U-Net", "adding LEDM (edge task) to the U-Net backbone improves IoU", "Table 4"),
             ("U-Net + GAM", "U-Net + LEDM", "GAM alone helps more than LEDM alone", "Table 4, §4.4"),
             ("GLUNet", "U-Net + GAM", "the edge task (LEDM) helps on top of GAM", "Table 4"),
             ("GLUNet", "Attention U-Net", "GLUNet beats Attention U-Net", "Table 2"),
             ("GLUNet", "U-Net++", "GLUNet beats U-Net++", "Table 2")]
    for a, b, text, src in pairs:
        ia, ib = _iou(results, a), _iou(results, b)
        if not ia or not ib:
            continue
        diff = compare(ia, ib)
        holds = diff.verdict("greater")
        pa = (PAPER_TABLE2.get(a) or PAPER_TABLE4.get(a))[0]
        pb = (PAPER_TABLE2.get(b) or PAPER_TABLE4.get(b))[0]
        out.append(Claim(CHAPTER, f"{text} (IoU difference)", round(pa - pb, 4), round(diff.mean, 4), holds,
                         config.profile, src,
                         f"{where}; ours {a} {mean_interval(ia)} vs {b} {mean_interval(ib)}; paired 95% interval of "
                         f"the difference: {verdict_word(holds)}", inconclusive=holds is None))
    g = _iou(results, "GLUNet")
    if g:
        out.append(Claim(CHAPTER, "GLUNet's IoU on DSB2018", PAPER_TABLE2["GLUNet"][0], round(float(np.mean(g)), 4),
                         None, config.profile, "Table 2",
                         f"{where}; not judged: an absolute level depends on resolution and training length, which "
                         f"this profile reduces" if config.profile != "paper" else where))
    return out


def main() -> None:
    run_cli(CHAPTER, {"quick": QUICK, "paper-cpu": PAPER_CPU, "paper": PAPER}, run, claims)


if __name__ == "__main__":
    main()
