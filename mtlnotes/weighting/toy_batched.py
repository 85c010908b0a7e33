"""The illustrative example's runs (Navon et al., 2022, §6.1) computed in NumPy, all starts of a method at once.

A step of the toy is a problem on ℝ²: through the method classes and autograd it costs about 1 ms per start and
method in interpreter overhead, so the paper's 35,000 Adam steps for eleven methods and five starts took half an
hour. Here one step of a method for all its starts is a few dozen NumPy operations on (S, 2) arrays:

* the two losses and their gradients in closed form (:func:`toy_losses_and_gradients`; the derivative of every
  clamp follows torch's rule, gradient passed where the input is at or above the bound, so the runs from the
  start (0, 0), which sits on the kinks of both blends, take the same first step as autograd);
* each method's update from :mod:`mtlnotes.weighting.two_task` (closed forms for two tasks), or its weights from
  the method object where they do not depend on the gradients (LS, DWA, RLW's random draws, GradDrop's uniform
  draws: one generator draws once per step, as each start's identically seeded generator would);
* Adam as ``torch.optim.Adam`` computes it (:class:`NumpyAdam`; UW's log-variances in float32, as the class holds
  them).

Rows a closed form does not cover (a method error such as SI at a loss ≤ 0 or no Nash bargaining solution, a zero
or collinear pair for IMTL-G, gradients outside float64's safe range) go to a fresh method object, which gives the
reference engine's answer and error message. ``tests/test_weighting_toy_batched.py`` runs every method with both
engines and checks they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mtlnotes.weighting import two_task
from mtlnotes.weighting.registry import make_method

__all__ = ["toy_losses_and_gradients", "NumpyAdam", "run_batched", "failure_message"]

_CLAMP = 5e-6  # the toy's floor on |·| inside its logs (mtlnotes.weighting.toy.toy_losses)


def failure_message(exc: BaseException) -> str:
    """How a run's stop is recorded: the exception's type and the first line of its message (120 characters)."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def toy_losses_and_gradients(x: np.ndarray, scale: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The toy's losses f (S, 2) and per-task gradients J (S, 2 tasks, 2 coordinates) at points x (S, 2), in closed
    form (the same function as :func:`mtlnotes.weighting.toy.toy_losses`). Written into preallocated arrays: this
    runs once per step for every run, so NumPy's per-call overhead is what it costs."""
    x1, x2 = x[:, 0], x[:, 1]
    th = np.tanh(-x2)
    sech2 = 1.0 - th * th
    a1 = 0.5 * (-x1 - 7) - th
    a2 = 0.5 * (-x1 + 3) + th + 2
    abs1, abs2 = np.abs(a1), np.abs(a2)
    c1, c2 = np.maximum(abs1, _CLAMP), np.maximum(abs2, _CLAMP)
    f1 = np.log(c1) + 6
    f2 = np.log(c2) + 6
    # d log(clamp(|a|)) = [|a| >= floor] · sign(a) / clamp(|a|) · da
    k1 = (abs1 >= _CLAMP) * np.sign(a1) / c1
    k2 = (abs2 >= _CLAMP) * np.sign(a2) / c2
    t_up = np.tanh(0.5 * x2)
    t_down = -t_up
    up, down = np.maximum(t_up, 0.0), np.maximum(t_down, 0.0)
    dup = (t_up >= 0) * (0.5 * (1.0 - t_up * t_up))
    ddown = (t_down >= 0) * (-0.5 * (1.0 - t_down * t_down))
    q1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    q2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    dq_x2 = (x2 + 8) / 50
    losses = np.empty((len(x), 2))
    losses[:, 0] = scale * (f1 * up + q1 * down)
    losses[:, 1] = f2 * up + q2 * down
    j = np.empty((len(x), 2, 2))
    # da1/dx = (−½, sech² x₂), da2/dx = (−½, −sech² x₂); dq1/dx = ((x₁ − 7)/5, (x₂ + 8)/50), dq2/dx = ((x₁ + 7)/5, ·)
    j[:, 0, 0] = scale * (-0.5 * k1 * up + (x1 - 7) / 5 * down)
    j[:, 0, 1] = scale * (sech2 * k1 * up + dq_x2 * down + f1 * dup + q1 * ddown)
    j[:, 1, 0] = -0.5 * k2 * up + (x1 + 7) / 5 * down
    j[:, 1, 1] = -sech2 * k2 * up + dq_x2 * down + f2 * dup + q2 * ddown
    return losses, j


class NumpyAdam:
    """Adam on one array, step for step ``torch.optim.Adam``'s single-tensor update (β = (0.9, 0.999), ε = 1e-8,
    bias-corrected; no weight decay), in the array's dtype."""

    def __init__(self, param: np.ndarray, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.exp_avg = np.zeros_like(param)
        self.exp_avg_sq = np.zeros_like(param)
        self.steps = 0

    def step(self, grad: np.ndarray) -> None:
        """Update ``self.param`` in place from ``grad`` (same shape)."""
        beta1, beta2 = self.betas
        self.steps += 1
        grad = grad.astype(self.param.dtype, copy=False)
        self.exp_avg += (grad - self.exp_avg) * self.param.dtype.type(1 - beta1)  # torch's lerp for weight < ½
        self.exp_avg_sq *= self.param.dtype.type(beta2)
        self.exp_avg_sq += self.param.dtype.type(1 - beta2) * grad * grad  # torch's addcmul: (v·g)·g
        step_size = self.lr / (1 - beta1 ** self.steps)
        denom = np.sqrt(self.exp_avg_sq) / self.param.dtype.type((1 - beta2 ** self.steps) ** 0.5) + \
            self.param.dtype.type(self.eps)
        self.param -= self.param.dtype.type(step_size) * (self.exp_avg / denom)


# ----------------------------------------------------------------------------- one method's update for every start
_Rule = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _make_rule(name: str, kwargs: Mapping[str, Any], n_starts: int, lr: float) -> _Rule:
    """The rule of method ``name``: rule(f (S, 2), J (S, 2, 2), active (S,) bool) returns the updates (S, 2), NaN
    rows where the closed form does not apply. The method's own parameters (UW's log-variances) are stepped by the
    rule itself."""
    method = make_method(name, 2, seed=0, **kwargs)
    if name in ("LS", "DWA"):  # weights independent of the losses in the toy (DWA never sees an epoch end)
        w = method.weights(torch.ones(2, dtype=torch.float64)).numpy()
        return lambda f, j, active: two_task.combine2(np.broadcast_to(w, (len(f), 2)), j)
    if name == "SI":
        def si(f, j, active):
            out = two_task.combine2(1.0 / f, j)
            out[(f <= 0).any(axis=1)] = np.nan
            return out
        return si
    if name == "RLW":  # one draw per step serves every start: their generators are seeded alike
        return (lambda f, j, active: two_task.combine2(
            np.broadcast_to(method.sample(2).to(torch.float64).numpy(), (len(f), 2)), j))
    if name == "UW":
        log_var = np.full((n_starts, 2), method.log_var.detach().numpy())  # float32, as the class holds it
        adam = NumpyAdam(log_var, lr)

        def uw(f, j, active):
            e = np.exp(-log_var)
            out = two_task.combine2((0.5 * e).astype(np.float64), j)
            grad = np.float32(0.5) - (0.5 * f).astype(np.float32) * e  # ∂/∂s of ½(e^{−s} L + s)
            grad[~active] = 0.0
            adam.step(grad)
            return out
        return uw
    if name == "MGDA":
        return lambda f, j, active: two_task.combine2(two_task.mgda_weights2(two_task.gram2(j)), j)
    if name == "PCGrad":
        return lambda f, j, active: two_task.combine2(two_task.pcgrad_weights2(two_task.gram2(j)), j)
    if name == "IMTL-G":
        return lambda f, j, active: two_task.combine2(two_task.imtl_weights2(two_task.gram2(j)), j)
    if name == "CAGrad":
        if method.rescale:
            raise ValueError("the batched toy engine implements CAGrad without rescale; use engine='reference'")
        return lambda f, j, active: two_task.cagrad_directions2(j, method.c)
    if name == "GradDrop":
        def graddrop(f, j, active):
            u = torch.rand(2, generator=method.generator, dtype=torch.float64).numpy()
            return two_task.graddrop_directions2(j, u, method.leak)
        return graddrop
    if name == "Nash-MTL":
        state = {"alpha": None, "step": 0}

        def nash(f, j, active):
            reuse = state["alpha"] is not None and state["step"] % method.update_every != 0
            state["step"] += 1
            if reuse:
                alpha = state["alpha"]
            else:
                alpha = two_task.nash_weights2(two_task.gram2(j), stationary_tol=1e-10)
                state["alpha"] = alpha
            out = two_task.combine2(alpha, j)
            if method.max_norm is not None:
                norm = np.linalg.norm(out, axis=1)
                over = norm > method.max_norm
                out[over] *= (method.max_norm / norm[over])[:, None]
            return out
        return nash
    raise ValueError(f"the batched toy engine has no rule for {name!r}")


def _reference_row(name: str, kwargs: Mapping[str, Any], f: np.ndarray, j: np.ndarray) -> tuple[np.ndarray | None,
                                                                                                 str | None]:
    """One start's update from a fresh method object (update, None) or its failure (None, message)."""
    method = make_method(name, 2, seed=0, **kwargs)
    losses = torch.from_numpy(f.copy())
    try:
        if method.uses_gradients:
            d = method.aggregate(torch.from_numpy(j.copy()), losses).direction.detach()
            limit = method.clip_norm()
            if limit is not None and float(d.norm()) > limit:
                d = d * (limit / float(d.norm()))
            return d.numpy(), None
        return (method.weights(losses).to(torch.float64) @ torch.from_numpy(j.copy())).numpy(), None
    except (ValueError, RuntimeError) as exc:  # e.g. SI at a loss <= 0, Nash-MTL exactly on the front
        return None, failure_message(exc)


def run_batched(methods: Sequence[str], starts: Sequence[Sequence[float]], steps: int, lr: float, scale: float,
                record_every: int, method_kwargs: Mapping[str, Mapping[str, Any]] | None = None
                ) -> dict[str, tuple[list[list[list[float]]], list[list[float] | None], list[str | None], np.ndarray]]:
    """Adam at ``lr`` for ``steps`` steps of each of ``methods`` from each of ``starts``, every run at once (one
    evaluation of the toy and one Adam step per step for all of them; the runs do not interact: Adam works element
    by element). Per method: (trajectories recorded every ``record_every`` steps, where each start stopped (None:
    it did not), why, the final points (S, 2)). A start stops at the first step its method fails (the message as
    :func:`failure_message` writes it)."""
    method_kwargs = method_kwargs or {}
    n = len(starts)
    rows = {name: slice(i * n, (i + 1) * n) for i, name in enumerate(methods)}
    rules = {name: _make_rule(name, method_kwargs.get(name, {}), n, lr) for name in methods}
    x = np.tile(np.array(starts, dtype=np.float64), (len(methods), 1))
    adam = NumpyAdam(x, lr)
    traj = [[list(map(float, s))] for s in x]
    stop_x: list[list[float] | None] = [None] * len(x)
    stopped: list[str | None] = [None] * len(x)
    active = np.ones(len(x), dtype=bool)
    owner = [name for name in methods for _ in range(n)]
    update = np.empty_like(x)
    with np.errstate(all="ignore"):  # stopped rows may leave the toy's range; they are not read
        for step in range(steps):
            if not active.any():
                break
            f, j = toy_losses_and_gradients(x, scale)
            for name, sl in rows.items():
                update[sl] = rules[name](f[sl], j[sl], active[sl])
            redo = active & ~(np.isfinite(update).all(axis=1) & np.isfinite(j).all(axis=(1, 2))
                              & two_task.safe_rows(two_task.gram2(j)))
            for r in np.nonzero(redo)[0]:
                row, message = _reference_row(owner[r], method_kwargs.get(owner[r], {}), f[r], j[r])
                if message is None:
                    update[r] = row
                else:
                    stopped[r], stop_x[r] = f"step {step}: {message}", x[r].tolist()
                    active[r] = False
            if not active.all():
                update[~active] = 0.0
                frozen = x[~active].copy()
                adam.step(update)
                x[~active] = frozen
            else:
                adam.step(update)
            if (step + 1) % record_every == 0:
                for r in np.nonzero(active)[0]:
                    traj[r].append(x[r].tolist())
    return {name: (traj[sl], stop_x[sl], stopped[sl], x[sl].copy()) for name, sl in rows.items()}
