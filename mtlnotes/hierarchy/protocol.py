"""The experimental protocol of MMF §4 (Li et al., ICANN 2021): Tables 2–3 row names, per-seed summaries, and
training and evaluating the models of one backbone.

* :func:`method_name` — the rows of Tables 2–3 (``w/o H``, ``H_S``, ``H_A&S``, ``H_A&T&M`` …).
* :class:`BackboneRunner` — trains (or reloads from a checkpoint store) one MMF model per setting (Eq. 7,
  §3.5), builds H_A from the flat model's features (§3.3), evaluates on every structure (§3.4), and runs the
  top-down SVM baselines Greedy / N-Best-Path on the flat model's features (§4.3) and the ablations of Fig. 4a,
  Fig. 4b and Table 1.
* :func:`summarise_seeds` — mean and standard deviation over seeds of Acc, F_Ha, TIE_a and LCA_a.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.hierarchy.affinity import affinity_structure
from mtlnotes.hierarchy.backbones import make_backbone
from mtlnotes.hierarchy.metrics import hierarchical_metrics
from mtlnotes.hierarchy.model import MMFNet
from mtlnotes.hierarchy.structures import LabelStructure
from mtlnotes.hierarchy.tasks import HierarchyTask
from mtlnotes.hierarchy.topdown import TopDownSVM
from mtlnotes.hierarchy.train import TrainSettings, extract_features, predict_classes, train_mmf
from mtlnotes.repro import seed_everything
from mtlnotes.training import Stopwatch

__all__ = ["METRICS", "method_name", "summarise_seeds", "BackboneRunner"]

METRICS = ("acc", "f_ha", "tie_a", "lca_a")


def method_name(structures: tuple[str, ...]) -> str:
    """Row names as in Tables 2–3: ``w/o H``, ``H_S``, ``H_A&S``, ``H_A&T&M`` …"""
    if not structures:
        return "w/o H"
    if len(structures) == 1:
        return structures[0]
    return "H_" + "&".join(s.split("_", 1)[1] for s in structures)


def summarise_seeds(per_seed: list[dict]) -> dict:
    """``{"per_seed": per_seed, "mean": {metric: …}, "std": {metric: …}}`` over the :data:`METRICS` of each seed's
    evaluation (population standard deviation, ``np.std``)."""
    return {"per_seed": per_seed,
            "mean": {m: float(np.mean([r[m] for r in per_seed])) for m in METRICS},
            "std": {m: float(np.std([r[m] for r in per_seed])) for m in METRICS}}


class BackboneRunner:
    """Trains and evaluates the units of one backbone; keeps models of the current process in memory.

    ``settings``: the optimisation of :func:`~mtlnotes.hierarchy.train.train_mmf`. ``small_input``: the
    backbone's stem for small images (≤ 64 pixels: CIFAR, Fashion-MNIST). ``store`` keeps each
    trained model (``<key>-final``) and the state of a training under way (``<key>-partial``).
    """

    def __init__(self, task: HierarchyTask, backbone: str, settings: TrainSettings, small_input: bool,
                 device: torch.device | str, store: CheckpointStore) -> None:
        self.task, self.backbone, self.settings, self.small_input = task, backbone, settings, small_input
        self.device, self.store = device, store
        self.in_channels = task.x_train.shape[1]
        self.train_seconds = 0.0
        self._models: dict[tuple, MMFNet] = {}

    def fit(self, key: str, structures: list[LabelStructure], lambdas: list[float], stage: int, seed: int) -> MMFNet:
        """Train (or reload) one model; an identical setting already trained in this process is reused."""
        signature = (tuple((s.name, s.parent) for s in structures), tuple(lambdas), stage if structures else 0, seed)
        if signature not in self._models:
            self._models[signature] = self._fit(key, structures, lambdas, stage, seed)
        return self._models[signature]

    def _fit(self, key: str, structures: list[LabelStructure], lambdas: list[float], stage: int, seed: int) -> MMFNet:
        seed_everything(seed)
        model = MMFNet(make_backbone(self.backbone, self.in_channels, small_input=self.small_input),
                       self.task.n_classes, [(s.n_super, stage) for s in structures])
        final = self.store.load_state(key + "-final")
        if final is not None:
            model.load_state_dict(final["model"])
            return model.to(self.device)
        sup = [s.super_labels(self.task.y_train) for s in structures]
        with Stopwatch() as sw:
            train_mmf(model, self.task.x_train, self.task.y_train, sup, lambdas, self.settings, seed, self.device,
                      checkpoint=self.store, key=key + "-partial")
        self.train_seconds += sw.seconds
        self.store.save_state(key + "-final", {"model": model.state_dict()})
        return model

    def evaluate(self, pred, eval_structures: list[LabelStructure], own: list[LabelStructure]) -> dict:
        """Metrics of the test predictions ``pred`` (N,) over ``eval_structures`` (Eqs. 3–6), over the model's
        ``own`` structures (None when it has none) and per structure."""
        out = hierarchical_metrics(eval_structures, self.task.y_test, pred)
        out["own"] = hierarchical_metrics(own, self.task.y_test, pred) if own else None
        out["per_structure"] = {s.name: hierarchical_metrics([s], self.task.y_test, pred) for s in eval_structures}
        return out

    def ablation(self, key: str, chosen: list[LabelStructure], lambdas: list[float], stage: int,
                 seeds: Sequence[int], eval_structures: list[LabelStructure]) -> dict:
        """One ablation setting (Fig. 4a, Fig. 4b, Table 1): MMF with the ``chosen`` structures and ``lambdas``
        after ``stage``, trained and evaluated for each of ``seeds`` (one unit of the store each), summarised."""
        rows = []
        for seed in seeds:
            def unit(seed=seed):
                model = self.fit(f"{key}-s{seed}", chosen, lambdas, stage, seed)
                return self.evaluate(predict_classes(model, self.task.x_test, self.device), eval_structures, chosen)
            rows.append(self.store.get_or_compute(f"{key}-s{seed}-eval", unit))
        return summarise_seeds(rows)

    def affinity_structures(self, model: MMFNet, idx: torch.Tensor, n_supers: Iterable[int],
                            delta: float) -> dict[int, tuple[LabelStructure, dict]]:
        """H_A with each number of superclasses in ``n_supers`` (§3.3, Eqs. 1–2 + spectral clustering) from the
        features of ``model`` on the training images ``idx``: ``{k: (structure, info)}`` as returned by
        :func:`~mtlnotes.hierarchy.affinity.affinity_structure`."""
        feats = extract_features(model, self.task.x_train[idx], self.device)
        y_aff = self.task.y_train[idx]
        affinity: dict[int, tuple[LabelStructure, dict]] = {}
        for k in sorted(n_supers):
            affinity[k] = affinity_structure(feats, y_aff, self.task.n_classes, k, delta, seed=0,
                                             name="H_A", class_names=self.task.class_names)
        return affinity

    def evaluate_topdown(self, model: MMFNet, structure: LabelStructure, eval_structures: list[LabelStructure],
                         train_idx: torch.Tensor, n_best: int, seed: int) -> dict:
        """Greedy (``n_best`` = 1) or N-Best-Path top-down SVMs over ``structure`` (§4.3), fitted on the features
        of ``model`` for the training images ``train_idx`` and evaluated on the test set; for N-Best-Path also
        ``runner_up``: how often and by how much a runner-up superclass changes Greedy's answer."""
        task = self.task
        f_tr = extract_features(model, task.x_train[train_idx], self.device)
        f_te = extract_features(model, task.x_test, self.device)
        clf = TopDownSVM(structure, n_best=n_best, seed=seed).fit(f_tr, task.y_train[train_idx])
        out = self.evaluate(clf.predict(f_te), eval_structures, [structure])
        if n_best > 1:  # why N-Best-Path does or does not change Greedy's answers (topdown docs)
            ratio = clf.runner_up_ratio(f_te)
            p_sup = np.sort(clf.superclass_proba(f_te), axis=1)
            out["runner_up"] = {"n_test": int(len(ratio)), "n_changed": int((ratio > 1).sum()),
                                "max_ratio": float(ratio.max()),
                                "min_top_superclass_p": float(p_sup[:, -1].min()),
                                "max_second_over_top": float((p_sup[:, -2] / p_sup[:, -1]).max())}
        return out
