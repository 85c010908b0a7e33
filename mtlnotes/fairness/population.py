"""A population of one-hidden-layer networks trained as one batched tensor program.

Zhang et al. (ICANN 2021, §3.2, §4.1) evolve 50 fully connected networks with one hidden layer (ReLU),
Glorot-initialised, each partially trained with Adam ("partial training" as local search, Yao & Liu 1997).
Instead of 50 ``nn.Module`` objects in a Python loop, :class:`MLPPopulation` stores the population's
parameters as stacked tensors

    W1: (P, d, h)   b1: (P, 1, h)   W2: (P, h, 1)   b2: (P, 1, 1)

and runs every model with batched matrix products. The loss of the population is the *sum* of the models'
mean losses, so each model's gradient is exactly its own; Adam is element-wise, so one Adam over the stacked
tensors equals P independent Adams. :class:`LoopPopulation` is the plain reference (a list of modules, one
optimiser each) used by the tests and the benchmark.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["MLPPopulation", "LoopPopulation", "glorot_uniform"]


def glorot_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int, generator: torch.Generator,
                   dtype=torch.float32, device=None) -> torch.Tensor:
    """Glorot/Xavier uniform initialisation U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(shape, generator=generator, dtype=dtype) * 2 - 1).mul_(a).to(device)


class MLPPopulation:
    """P networks ``x -> W2ᵀ relu(W1ᵀ x + b1) + b2`` (one logit each) held as stacked tensors.

    Parameters are plain tensors (``params`` dict) so the evolutionary operators can index, copy and mutate
    whole populations at once.
    """

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        w1, b1, w2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
        p, d, h = w1.shape
        if b1.shape != (p, 1, h) or w2.shape != (p, h, 1) or b2.shape != (p, 1, 1):
            raise ValueError(f"inconsistent population shapes: W1 {tuple(w1.shape)}, b1 {tuple(b1.shape)}, "
                             f"W2 {tuple(w2.shape)}, b2 {tuple(b2.shape)}")
        self.params = {k: params[k] for k in ("W1", "b1", "W2", "b2")}

    @classmethod
    def glorot(cls, size: int, n_in: int, n_hidden: int, generator: torch.Generator, device=None) -> "MLPPopulation":
        """A fresh population: Glorot-uniform weights, zero biases (Zhang et al., §4.1, ref. [10])."""
        if size < 1 or n_in < 1 or n_hidden < 1:
            raise ValueError(f"need size, n_in, n_hidden >= 1, got {size}, {n_in}, {n_hidden}")
        return cls({
            "W1": glorot_uniform((size, n_in, n_hidden), n_in, n_hidden, generator, device=device),
            "b1": torch.zeros(size, 1, n_hidden, device=device),
            "W2": glorot_uniform((size, n_hidden, 1), n_hidden, 1, generator, device=device),
            "b2": torch.zeros(size, 1, 1, device=device),
        })

    @property
    def size(self) -> int:
        return int(self.params["W1"].shape[0])

    def __len__(self) -> int:
        return self.size

    def logits(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits of every model on shared inputs ``x`` (n, d) -> (P, n)."""
        p = params or self.params
        hidden = torch.relu(torch.matmul(x, p["W1"]) + p["b1"])  # (P, n, h)
        return torch.baddbmm(p["b2"], hidden, p["W2"]).squeeze(-1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """Sigmoid outputs (P, n), evaluated in chunks of rows to bound memory."""
        return torch.cat([torch.sigmoid(self.logits(x[i:i + batch_size])) for i in range(0, len(x), batch_size)],
                         dim=1)

    def partial_train(self, x: torch.Tensor, y: torch.Tensor, lr: float, batch_size: int, epochs: int,
                      generator: torch.Generator) -> float:
        """Partial training (Zhang et al., Alg. 1 lines 1 and 9): ``epochs`` passes of minibatch Adam.

        A fresh Adam optimiser per call (each call is one local search); loss: binary cross-entropy on the
        logit, averaged over the minibatch for each model and summed over models. All models see the same
        minibatch order. Returns the last step's mean loss per model.
        """
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} labels")
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in self.params.items()}
        opt = torch.optim.Adam(list(leaves.values()), lr=lr)
        last = float("nan")
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator).to(x.device)
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                logits = self.logits(x[idx], leaves)
                target = y[idx].expand_as(logits)
                per_model = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(1)
                opt.zero_grad(set_to_none=True)
                per_model.sum().backward()
                opt.step()
                last = float(per_model.detach().mean())
        self.params = {k: v.detach() for k, v in leaves.items()}
        return last

    def select(self, index: torch.Tensor) -> "MLPPopulation":
        """The sub-population of models ``index`` (a copy)."""
        return MLPPopulation({k: v[index].clone() for k, v in self.params.items()})

    @staticmethod
    def concat(a: "MLPPopulation", b: "MLPPopulation") -> "MLPPopulation":
        return MLPPopulation({k: torch.cat([a.params[k], b.params[k]]) for k in a.params})

    def mutated(self, sigma: float, generator: torch.Generator) -> "MLPPopulation":
        """Copies with isotropic Gaussian noise N(0, σ²) added to every weight and bias (Zhang et al., §3.2)."""
        if sigma < 0:
            raise ValueError(f"mutation strength must be >= 0, got {sigma}")
        out = {}
        for k, v in self.params.items():
            noise = torch.randn(v.shape, generator=generator, dtype=v.dtype).to(v.device)
            out[k] = v + sigma * noise
        return MLPPopulation(out)

    def to_modules(self) -> list[nn.Sequential]:
        """The population as ``nn.Sequential(Linear, ReLU, Linear)`` modules (same weights)."""
        mods = []
        for i in range(self.size):
            d, h = self.params["W1"].shape[1:]
            m = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, 1))
            with torch.no_grad():
                m[0].weight.copy_(self.params["W1"][i].T)
                m[0].bias.copy_(self.params["b1"][i, 0])
                m[2].weight.copy_(self.params["W2"][i].T)
                m[2].bias.copy_(self.params["b2"][i, 0])
            mods.append(m)
        return mods


class LoopPopulation:
    """Reference implementation: one ``nn.Module`` and one Adam per model, trained in a Python loop."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.modules = modules

    def partial_train(self, x: torch.Tensor, y: torch.Tensor, lr: float, batch_size: int, epochs: int,
                      generator: torch.Generator) -> None:
        """Same schedule as :meth:`MLPPopulation.partial_train`, model by model (same minibatch order)."""
        orders = [torch.randperm(len(x), generator=generator) for _ in range(epochs)]
        for m in self.modules:
            opt = torch.optim.Adam(m.parameters(), lr=lr)
            for order in orders:
                for start in range(0, len(x), batch_size):
                    idx = order[start:start + batch_size]
                    loss = nn.functional.binary_cross_entropy_with_logits(m(x[idx]).squeeze(-1), y[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.sigmoid(m(x).squeeze(-1)) for m in self.modules])
