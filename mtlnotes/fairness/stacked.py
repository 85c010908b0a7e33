"""Many MOEL runs as one tensor program: R populations of P one-hidden-layer networks, trained together.

The paper's study is 3 datasets × 4 variants × 15 trials of 500 generations (Zhang et al., ICANN 2021, §4).
Advanced one run at a time, every partial training is a long chain of small operations whose Python and
dispatch overhead dominates on German, and whose dense first layer multiplies mostly zeros on COMPAS and
Adult. :class:`StackedPopulations` holds the parameters of R independent runs in one set of tensors

    W1: (R, P, d, h)   b1: (R, P, 1, h)   W2: (R, P, h, 1)   b2: (R, P, 1, 1)

(run r is exactly ``MLPPopulation({k: v[r]})``) and trains all R·P networks in one program whose first layer
is a gather-and-sum over each row's active one-hot columns (:mod:`mtlnotes.fairness.sparse`). Each run keeps
its own minibatch order: a minibatch is an (R, b) index matrix, and the gather adds ``r · d₁`` to run r's
column indices so that one ``embedding_bag`` call reads every run's own weights. The loss is the sum over
runs and models of each model's mean binary cross-entropy, so every network's gradient is its own; Adam is
element-wise, so one Adam over the stacked tensors equals R·P independent ones.

Why hand-written: no library trains thousands of small, independent networks with sparse inputs as one
program, and doing so is what makes the whole study fit on two CPU cores.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mtlnotes.fairness.population import MLPPopulation
from mtlnotes.fairness.sparse import OneHotInputs

__all__ = ["StackedPopulations"]

_KEYS = ("W1", "b1", "W2", "b2")


class StackedPopulations:
    """R populations of P networks ``x -> W2ᵀ relu(W1ᵀ x + b1) + b2`` (one logit each), as stacked tensors."""

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        w1, b1, w2, b2 = (params[k] for k in _KEYS)
        if w1.ndim != 4:
            raise ValueError(f"W1 must be (R, P, d, h), got shape {tuple(w1.shape)}")
        r, p, d, h = w1.shape
        if b1.shape != (r, p, 1, h) or w2.shape != (r, p, h, 1) or b2.shape != (r, p, 1, 1):
            raise ValueError(f"inconsistent shapes: W1 {tuple(w1.shape)}, b1 {tuple(b1.shape)}, "
                             f"W2 {tuple(w2.shape)}, b2 {tuple(b2.shape)}")
        self.params = {k: params[k] for k in _KEYS}

    @classmethod
    def stack(cls, populations: list[MLPPopulation]) -> "StackedPopulations":
        """Runs side by side (all populations must have the same shapes)."""
        if not populations:
            raise ValueError("need at least one population to stack")
        return cls({k: torch.stack([pop.params[k] for pop in populations]) for k in _KEYS})

    @property
    def runs(self) -> int:
        return int(self.params["W1"].shape[0])

    @property
    def size(self) -> int:
        return int(self.params["W1"].shape[1])

    def run(self, r: int) -> MLPPopulation:
        """Run ``r`` as an :class:`MLPPopulation` (a view of the same tensors)."""
        return MLPPopulation({k: v[r] for k, v in self.params.items()})

    def take(self, index: torch.Tensor) -> "StackedPopulations":
        """Models ``index[r]`` of every run r: ``index`` (R, n) -> R populations of n models (a copy)."""
        rows = torch.arange(self.runs, device=index.device)[:, None]
        return StackedPopulations({k: v[rows, index] for k, v in self.params.items()})

    @staticmethod
    def concat(a: "StackedPopulations", b: "StackedPopulations") -> "StackedPopulations":
        """Run by run, the models of ``a`` followed by those of ``b``."""
        return StackedPopulations({k: torch.cat([a.params[k], b.params[k]], dim=1) for k in _KEYS})

    # -- the fast layout: the first layer as (R, d, P·h), split into gathered 0/1 rows and dense rows ----------
    def _fast_leaves(self, x: OneHotInputs, gather: bool) -> dict[str, torch.Tensor]:
        r, p, d, h = self.params["W1"].shape
        w1 = self.params["W1"].permute(0, 2, 1, 3)  # (R, d, P, h)
        dev = w1.device
        leaves = {"b1": self.params["b1"].reshape(r, 1, p * h).clone(),
                  "W2": self.params["W2"].reshape(r, p, h).clone(),
                  "b2": self.params["b2"].reshape(r, p).clone()}
        if gather:
            leaves["Wb"] = w1[:, x.binary_columns.to(dev)].reshape(-1, p * h).clone()  # (R·d1, P·h)
            leaves["Wn"] = w1[:, x.numeric_columns.to(dev)].reshape(r, -1, p * h).clone()  # (R, m, P·h)
        else:
            leaves["W1"] = w1.reshape(r, d, p * h).clone()  # (R, d, P·h)
        return leaves

    def _from_fast(self, leaves: dict[str, torch.Tensor], x: OneHotInputs) -> None:
        r, p, d, h = self.params["W1"].shape
        if "W1" in leaves:
            w1 = leaves["W1"].detach().reshape(r, d, p, h)
        else:
            w1 = torch.empty(r, d, p, h, dtype=leaves["Wb"].dtype, device=leaves["Wb"].device)
            w1[:, x.binary_columns.to(w1.device)] = leaves["Wb"].detach().reshape(r, -1, p, h)
            w1[:, x.numeric_columns.to(w1.device)] = leaves["Wn"].detach().reshape(r, -1, p, h)
        self.params = {"W1": w1.permute(0, 2, 1, 3).contiguous(),
                       "b1": leaves["b1"].detach().reshape(r, p, 1, h),
                       "W2": leaves["W2"].detach().reshape(r, p, h, 1),
                       "b2": leaves["b2"].detach().reshape(r, p, 1, 1)}

    @staticmethod
    def _logits(leaves: dict[str, torch.Tensor], rows: OneHotInputs, dense: torch.Tensor | None,
                per_run_rows: bool) -> torch.Tensor:
        """Logits (R, n, P) of rows (R, n) (``per_run_rows``) or of shared rows (n,) for every run.

        With a ``W1`` leaf the first layer is one batched dense product of ``dense`` rows ((R, n, d) or (n, d));
        otherwise a gather-and-sum over ``rows`` plus a dense product over the numeric columns."""
        r, p, h = leaves["W2"].shape
        if "W1" in leaves:
            xs = dense if per_run_rows else dense.expand(r, *dense.shape)
            pre = torch.baddbmm(leaves["b1"], xs, leaves["W1"])  # (R, n, P·h)
        else:
            d1 = leaves["Wb"].shape[0] // r
            index, numeric, weight = rows.index, rows.numeric, rows.weight
            if not per_run_rows:  # the same rows for every run
                index = index.expand(r, *index.shape)
                numeric = numeric.expand(r, *numeric.shape)
                weight = None if weight is None else weight.expand(r, *weight.shape)
            n = index.shape[1]
            offset = (torch.arange(r, device=index.device) * d1).view(r, 1, 1)
            flat = (index + offset).reshape(r * n, -1)
            psw = None if weight is None else weight.reshape(r * n, -1)
            if flat.shape[1]:
                pre = F.embedding_bag(flat, leaves["Wb"], mode="sum", per_sample_weights=psw).view(r, n, p * h)
                pre = pre.add_(leaves["b1"])  # embedding_bag's backward does not need its output
            else:
                pre = leaves["b1"].expand(r, n, p * h).clone()
            if numeric.shape[-1]:
                pre = pre.baddbmm_(numeric, leaves["Wn"])
        hidden = torch.relu_(pre).view(r, -1, p, h)
        return (hidden * leaves["W2"].unsqueeze(1)).sum(-1) + leaves["b2"].unsqueeze(1)

    def partial_train(self, x: OneHotInputs, y: torch.Tensor, lr: float, batch_size: int, epochs: int,
                      generators: list[torch.Generator], dense: torch.Tensor | None = None) -> float:
        """Partial training of every run (Zhang et al., Alg. 1 lines 1 and 9), as
        :meth:`MLPPopulation.partial_train` does for one run: a fresh Adam, ``epochs`` passes of minibatches of
        ``batch_size`` in run r's own order ``randperm(n, generator=generators[r])``. Returns the last step's
        mean loss over all models.

        ``dense``: the same rows as an (n, d) matrix; when given, the first layer is a dense product instead of
        the gather (faster where rows are dense enough for BLAS to win, see ``benchmarks/fairness_population.py``).
        """
        if len(generators) != self.runs:
            raise ValueError(f"{len(generators)} generators for {self.runs} runs")
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} labels")
        leaves = {k: v.requires_grad_(True) for k, v in self._fast_leaves(x, gather=dense is None).items()}
        opt = torch.optim.Adam(list(leaves.values()), lr=lr)
        last = torch.tensor(float("nan"))
        device = y.device
        for _ in range(epochs):
            orders = torch.stack([torch.randperm(len(x), generator=g) for g in generators]).to(device)
            for start in range(0, len(x), batch_size):
                idx = orders[:, start:start + batch_size]  # (R, b)
                logits = self._logits(leaves, x.rows(idx), None if dense is None else dense[idx],
                                      per_run_rows=True)  # (R, b, P)
                target = y[idx].unsqueeze(-1).expand_as(logits)
                per_model = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(1)
                opt.zero_grad(set_to_none=True)
                per_model.sum().backward()
                opt.step()
                last = per_model.detach().mean()  # no float() here: it would wait for the GPU every step
        self._from_fast(leaves, x)
        return float(last)

    def gradients(self, x: OneHotInputs, y: torch.Tensor, dense: torch.Tensor | None = None
                  ) -> dict[str, torch.Tensor]:
        """Gradients of Σ_runs Σ_models (mean BCE of the model on all rows) in the parameters' own layout —
        what one step of :meth:`partial_train` feeds Adam (for checks against the dense reference)."""
        leaves = {k: v.requires_grad_(True) for k, v in self._fast_leaves(x, gather=dense is None).items()}
        rows = torch.arange(len(x)).expand(self.runs, len(x))
        logits = self._logits(leaves, x.rows(rows), None if dense is None else dense[rows], per_run_rows=True)
        target = y[rows].unsqueeze(-1).expand_as(logits)
        nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(1).sum().backward()
        grads = StackedPopulations({k: torch.zeros_like(v) for k, v in self.params.items()})
        grads._from_fast({k: v.grad for k, v in leaves.items()}, x)
        return grads.params

    @torch.no_grad()
    def predict_proba(self, x: OneHotInputs, max_elements: int | None = None,
                      dense: torch.Tensor | None = None) -> torch.Tensor:
        """Sigmoid outputs (R, P, n) on shared rows, in row chunks of at most ``max_elements`` hidden units
        (default 2²⁵ on a CPU, 2²⁸ on a GPU, where fewer, larger chunks keep it busy; ``dense``: as in
        :meth:`partial_train`)."""
        leaves = self._fast_leaves(x, gather=dense is None)
        if max_elements is None:
            max_elements = 2 ** 25 if leaves["W2"].device.type == "cpu" else 2 ** 28
        r, p, _, h = self.params["W1"].shape
        chunk = max(1, max_elements // (r * p * h))
        outs = []
        for i in range(0, len(x), chunk):
            rows = torch.arange(i, min(i + chunk, len(x)))
            outs.append(torch.sigmoid(self._logits(leaves, x.rows(rows), None if dense is None else dense[rows],
                                                   per_run_rows=False)))
        return torch.cat(outs, dim=1).transpose(1, 2)
