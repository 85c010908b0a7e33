"""Top-down hierarchical classifiers with kernel SVMs: Greedy and N-Best-Path (Li et al., 2021, §4.3).

A superclass SVM on features gives ``p(s | x)``; one SVM per superclass, trained on that superclass's
subclasses only, gives ``p(c | x, s)``. Probabilities are Platt-scaled RBF-kernel SVM scores: scikit-learn's
``CalibratedClassifierCV(SVC(), method="sigmoid", ensemble=False)`` (5-fold, deterministic).

* Greedy (Bengio et al., 2010; Li et al., 2014): take the most probable superclass, then its most probable
  subclass.
* N-Best-Path (Qu et al., 2017): keep the ``N`` most probable superclasses and return the leaf with the
  largest path score ``p(s | x) · p(c | x, s)`` among their subclasses. ``N = 1`` is Greedy.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mtlnotes.hierarchy.structures import LabelStructure, check_labels

__all__ = ["TopDownSVM"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


class TopDownSVM:
    """Top-down classifier over a three-level ``structure`` with RBF-kernel SVMs at each node.

    ``n_best=1`` is Greedy, ``n_best > 1`` N-Best-Path. Features are standardised (fitted on training data).
    """

    def __init__(self, structure: LabelStructure, n_best: int = 1, C: float = 1.0, gamma: str | float = "scale",
                 seed: int = 0) -> None:
        if not 1 <= n_best <= structure.n_super:
            raise ValueError(f"n_best must be in 1..{structure.n_super} for {structure.n_super} superclasses, "
                             f"got {n_best}")
        self.structure, self.n_best, self.C, self.gamma, self.seed = structure, n_best, C, gamma, seed

    def _svc(self) -> CalibratedClassifierCV:
        svc = SVC(C=self.C, kernel="rbf", gamma=self.gamma, random_state=self.seed)
        return CalibratedClassifierCV(svc, method="sigmoid", cv=5, ensemble=False)

    def fit(self, features, labels) -> "TopDownSVM":
        """features (N, d), labels (N,) subclass ids. Every subclass needs training samples."""
        x = _np(features)
        y = check_labels(labels, self.structure.n_classes)
        if x.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"features must be (N, d) with N = {y.shape[0]}, got {x.shape}")
        missing = sorted(set(range(self.structure.n_classes)) - set(y.tolist()))
        if missing:
            raise ValueError(f"class {missing[0]} has no training samples")
        self.scaler_ = StandardScaler().fit(x)
        xs = self.scaler_.transform(x)
        parent = self.structure.parent_array()
        self.super_svm_ = self._svc().fit(xs, parent[y]) if self.structure.n_super > 1 else None
        self.sub_svms_: list[CalibratedClassifierCV | None] = []
        for s in range(self.structure.n_super):
            members = self.structure.members(s)
            mask = parent[y] == s
            self.sub_svms_.append(self._svc().fit(xs[mask], y[mask]) if len(members) > 1 else None)
        return self

    def superclass_proba(self, features) -> np.ndarray:
        """``p(s | x)``: (N, n_super)."""
        xs = self.scaler_.transform(_np(features))
        if self.super_svm_ is None:
            return np.ones((xs.shape[0], 1))
        return self.super_svm_.predict_proba(xs)  # classes_ are 0..n_super-1 in order

    def conditional_proba(self, features) -> np.ndarray:
        """``p(c | x, parent(c))`` for every subclass c: (N, n_classes); columns of one superclass sum to 1."""
        xs = self.scaler_.transform(_np(features))
        out = np.zeros((xs.shape[0], self.structure.n_classes))
        for s, svm in enumerate(self.sub_svms_):
            members = self.structure.members(s)
            if svm is None:
                out[:, members[0]] = 1.0
            else:
                out[:, svm.classes_] = svm.predict_proba(xs)
        return out

    def predict(self, features) -> np.ndarray:
        """Subclass predictions (N,) int64 by Greedy (``n_best=1``) or N-Best-Path search."""
        p_super = self.superclass_proba(features)
        p_cond = self.conditional_proba(features)
        parent = self.structure.parent_array()
        # keep the n_best superclasses of each sample (ties broken by lower id, stable sort)
        order = np.argsort(-p_super, axis=1, kind="stable")[:, :self.n_best]
        keep = np.zeros_like(p_super, dtype=bool)
        np.put_along_axis(keep, order, True, axis=1)
        if self.n_best == 1:  # greedy: best subclass inside the chosen superclass
            score = np.where(keep[:, parent], p_cond, -np.inf)
        else:
            score = np.where(keep[:, parent], p_super[:, parent] * p_cond, -np.inf)
        return score.argmax(axis=1).astype(np.int64)
