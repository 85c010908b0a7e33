"""Top-down hierarchical classifiers with kernel SVMs: Greedy and N-Best-Path (Li et al., 2021, §4.3).

A superclass SVM on features gives ``p(s | x)``; one SVM per superclass, trained on that superclass's
subclasses only, gives ``p(c | x, s)``. Probabilities are Platt-scaled RBF-kernel SVM scores: scikit-learn's
``CalibratedClassifierCV(SVC(), method="sigmoid", ensemble=False)`` (5-fold, deterministic).

* Greedy (Bengio et al., 2010; Li et al., 2014): take the most probable superclass, then its most probable
  subclass.
* N-Best-Path (Qu et al., 2017): keep the ``N`` most probable superclasses and return the leaf with the
  largest path score ``p(s | x) · p(c | x, s)`` among their subclasses. ``N = 1`` is Greedy.

When does N-Best-Path change Greedy's answer? Exactly where some leaf under a runner-up superclass s' (ranked
2..N) has a larger path score than the best leaf under the top superclass s₁: see :func:`runner_up_ratio`
(> 1 there). Since the best leaf of s₁ has p(c | x, s₁) ≥ 1/|s₁|, the ratio is at most
|s₁| · p(s' | x) / p(s₁ | x): with small superclasses and a confident superclass classifier it stays below 1 and
the two methods give the same predictions (the MMF chapter's quick profile shows this).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mtlnotes.hierarchy.structures import LabelStructure, check_labels

__all__ = ["TopDownSVM", "path_scores", "runner_up_ratio"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


def _top_n(p_super: np.ndarray, n_best: int) -> np.ndarray:
    """(N, n_best) superclass ids, most probable first (ties broken by lower id, stable sort)."""
    return np.argsort(-p_super, axis=1, kind="stable")[:, :n_best]


def path_scores(p_super: np.ndarray, p_cond: np.ndarray, parent: np.ndarray, n_best: int) -> np.ndarray:
    """Scores (N, C) whose arg-max is the prediction: Greedy (``n_best=1``: p(c | x, s₁) inside the top
    superclass) or N-Best-Path (p(s | x) · p(c | x, s) inside the ``n_best`` top superclasses); −inf elsewhere.
    p_super (N, S), p_cond (N, C) with columns of each superclass summing to 1, parent (C,) superclass ids."""
    keep = np.zeros_like(p_super, dtype=bool)
    np.put_along_axis(keep, _top_n(p_super, n_best), True, axis=1)
    if n_best == 1:
        return np.where(keep[:, parent], p_cond, -np.inf)
    return np.where(keep[:, parent], p_super[:, parent] * p_cond, -np.inf)


def runner_up_ratio(p_super: np.ndarray, p_cond: np.ndarray, parent: np.ndarray, n_best: int) -> np.ndarray:
    """(N,): the best path score p(s | x) p(c | x, s) among the leaves of the superclasses ranked 2..``n_best``
    divided by the best path score among the leaves of the top superclass. N-Best-Path picks a leaf outside
    the top superclass, i.e. differs from Greedy, exactly where this exceeds 1 (0 for ``n_best=1``)."""
    order = _top_n(p_super, n_best)
    score = p_super[:, parent] * p_cond
    top = np.where(parent[None, :] == order[:, :1], score, -np.inf).max(axis=1)
    rest = np.zeros_like(p_super, dtype=bool)
    np.put_along_axis(rest, order[:, 1:], True, axis=1)
    runner = np.where(rest[:, parent], score, 0.0).max(axis=1)
    return runner / top


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
        score = path_scores(self.superclass_proba(features), self.conditional_proba(features),
                            self.structure.parent_array(), self.n_best)
        return score.argmax(axis=1).astype(np.int64)

    def runner_up_ratio(self, features) -> np.ndarray:
        """:func:`runner_up_ratio` of this classifier's probabilities on ``features`` (N,)."""
        return runner_up_ratio(self.superclass_proba(features), self.conditional_proba(features),
                               self.structure.parent_array(), self.n_best)
