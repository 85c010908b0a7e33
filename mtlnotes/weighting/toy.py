"""The illustrative examples of Navon et al. (2022, "Multi-Task Learning as a Bargaining Game"): the two-objective
toy on ℝ² (§6.1, Fig. 1; a variant of CAGrad's toy, first loss scaled by 0.1) and the update directions of Fig. 2.

:func:`run_toy` optimises the toy with Adam by each method from the five starting points of the official toy script
(by default every run at once in NumPy, :mod:`mtlnotes.weighting.toy_batched`; ``engine="reference"`` runs the
method objects with autograd).
Whether a run ends on the Pareto front is judged by Pareto-stationarity: the minimum norm of the convex hull of the
two gradients at the final point (0 exactly on the front). :func:`update_directions` returns the direction each
method takes for given gradients (Fig. 2's question).

The chapter :mod:`mtlnotes.experiments.nash_mtl` calls these with its profile's settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mtlnotes.gradients import per_task_gradients
from mtlnotes.training import progress
from mtlnotes.weighting.base import GradientAggregator, LossWeighting
from mtlnotes.weighting.registry import make_method
from mtlnotes.weighting.simplex import min_norm_weights
from mtlnotes.weighting.toy_batched import failure_message, run_batched

__all__ = ["toy_losses", "TOY_STARTS", "run_toy", "fragile_starts", "LOSS_WEIGHTINGS", "toy_summary", "FIG2_GRADS",
           "update_directions"]

#: Starting points of the illustrative example (the official toy script's five initialisations).
TOY_STARTS = ((-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0))

#: Which methods only re-weight the losses (the rest act on the per-task gradients).
LOSS_WEIGHTINGS = ("LS", "SI", "RLW", "DWA", "UW")

#: Three gradients in R³ for Fig. 2's question (what direction does each method return?): ours, since the
#: paper does not list its vectors; norms about 1, 2 and 4, and g_1, g_2 in conflict (negative inner product).
FIG2_GRADS = ((1.0, 0.0, 0.0), (-1.0, 1.7, 0.0), (0.0, 0.5, 4.0))


def toy_losses(x: torch.Tensor, scale: float = 0.1) -> torch.Tensor:
    """The two losses (2,) at x (2,) of the illustrative example (CAGrad's toy as modified by Navon et al., 2022,
    §6.1): a log-abs valley for x₂ > 0 blended with quadratic bowls for x₂ < 0; the first loss is multiplied by
    ``scale``. Batched: x (..., 2) gives (..., 2)."""
    x1, x2 = x[..., 0], x[..., 1]
    f1 = torch.clamp((0.5 * (-x1 - 7) - torch.tanh(-x2)).abs(), 5e-6).log() + 6
    f2 = torch.clamp((0.5 * (-x1 + 3) + torch.tanh(-x2) + 2).abs(), 5e-6).log() + 6
    up, down = torch.clamp(torch.tanh(0.5 * x2), 0), torch.clamp(torch.tanh(-0.5 * x2), 0)
    q1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    q2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    return torch.stack([scale * (f1 * up + q1 * down), f2 * up + q2 * down], dim=-1)


def _hull_min_norm(grads: torch.Tensor) -> float:
    w = min_norm_weights((grads.double() @ grads.double().T).numpy())
    return float(np.linalg.norm(w @ grads.double().numpy()))


def run_toy(methods: Sequence[str], *, steps: int = 35_000, lr: float = 1e-3, scale: float = 0.1,
            record_every: int = 50, stationary_tol: float = 1e-3,
            method_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
            engine: str = "batched", nudge: float | None = None) -> dict[str, list[dict]]:
    """Trajectories (every ``record_every`` steps) of each method from each start of :data:`TOY_STARTS`, final
    losses and final Pareto-stationarity (min-norm of the gradients' convex hull; ``on_front`` when at most
    ``stationary_tol``). Adam at ``lr`` for ``steps`` steps (the official toy: lr 1e-3, 35k steps, ``scale`` 0.1);
    ``method_kwargs[name]`` go to :func:`mtlnotes.weighting.make_method`.

    ``engine``: ``"batched"`` (default) computes every run of every method at once in NumPy with the two-task closed
    forms (:mod:`mtlnotes.weighting.toy_batched`; the 35,000 steps of eleven methods in well under a minute);
    ``"reference"`` runs the method objects themselves with autograd, the five starts of a method as one (5, 2)
    parameter, each start with its own instance of the method (about 1 ms per start, method and step). The two
    agree step for step up to rounding (tested); on this toy, rounding can grow along a trajectory (Adam
    normalises a gradient component that is zero in exact arithmetic to a full step), so two engines, like two
    CPUs, can end a start at different points of the front.

    ``nudge`` (batched engine only): also run every method from each start moved by +nudge and by −nudge in both
    coordinates (in the same batch, nearly free) and record their verdicts in each run's ``nudged_on_front``. A
    verdict that a nudge of 1e-12 changes is decided by rounding, not by the method: the run is still moving
    along a valley (or sitting on a kink) when the steps run out. :func:`fragile_starts` lists them."""
    method_kwargs = method_kwargs or {}
    if engine not in ("batched", "reference"):
        raise ValueError(f"engine must be 'batched' or 'reference', got {engine!r}")
    if nudge is not None and (engine != "batched" or not nudge > 0):
        raise ValueError(f"nudge needs engine='batched' and a value > 0, got nudge={nudge!r}, engine={engine!r}")
    if engine == "batched":
        n = len(TOY_STARTS)
        starts = list(TOY_STARTS)
        if nudge is not None:
            starts += [(a + nudge, b + nudge) for a, b in TOY_STARTS] + [(a - nudge, b - nudge) for a, b in TOY_STARTS]
        runs = run_batched(list(methods), starts, steps, lr, scale, record_every, method_kwargs)
        out = {}
        for name in methods:
            traj, stop_x, stopped, final_x = runs[name]
            out[name] = _final_runs(traj[:n], stop_x[:n], stopped[:n], final_x[:n], scale, stationary_tol)
            if nudge is not None:
                for s, run in enumerate(out[name]):
                    run["nudge"] = nudge
                    run["nudged_on_front"] = [_on_front(stop_x[r] if stop_x[r] is not None else final_x[r].tolist(),
                                                        scale, stationary_tol) for r in (s + n, s + 2 * n)]
        return out
    return {name: _run_starts(name, steps, lr, scale, record_every, stationary_tol, method_kwargs.get(name, {}))
            for name in progress(methods, desc="toy")}


def _final_runs(traj: list, stop_x: list, stopped: list, final_x, scale: float, stationary_tol: float) -> list[dict]:
    """The runs' records: start, trajectory, final point (where a start stopped, else where it ended), its losses
    and Pareto-stationarity (autograd at the final point)."""
    runs = []
    for s, start in enumerate(TOY_STARTS):
        point = stop_x[s] if stop_x[s] is not None else [float(v) for v in final_x[s]]
        losses, mn = _stationarity(point, scale)
        runs.append({"start": list(start), "trajectory": traj[s], "final_x": [float(v) for v in point],
                     "final_losses": losses, "hull_min_norm": mn,
                     "on_front": bool(mn <= stationary_tol), "stopped": stopped[s]})
    return runs


def _stationarity(x: Sequence[float], scale: float) -> tuple[list[float], float]:
    """The losses at x (2,) and the min-norm of their gradients' convex hull (0 on the Pareto front), by autograd."""
    xs = torch.tensor([float(v) for v in x], dtype=torch.float64, requires_grad=True)
    f = toy_losses(xs, scale)
    g = per_task_gradients(f, [xs], engine="reference", retain_graph=False)
    return f.detach().tolist(), _hull_min_norm(g)


def _on_front(x: Sequence[float], scale: float, stationary_tol: float) -> bool:
    return bool(_stationarity(x, scale)[1] <= stationary_tol)


def fragile_starts(runs: Sequence[dict]) -> list[tuple[float, ...]]:
    """The starts of one method's runs (from :func:`run_toy` with ``nudge``) whose verdict (on the front or not)
    changes when the start is nudged; [] for runs without nudged verdicts."""
    return [tuple(r["start"]) for r in runs if any(v != r["on_front"] for v in r.get("nudged_on_front", ()))]


def _run_starts(name: str, steps: int, lr: float, scale: float, record_every: int,
                stationary_tol: float, kwargs: Mapping[str, Any]) -> list[dict]:
    """The reference engine for one method: the five starts as one (5, 2) parameter with autograd; each start has
    its own instance of the method (methods keep state between steps). One evaluation of the losses, one backward
    pass per task and one Adam step serve all five; the starts do not interact (a start's losses depend on its row
    only, and Adam works element by element), so this is five separate runs computed at once."""
    n = len(TOY_STARTS)
    x = torch.tensor(TOY_STARTS, dtype=torch.float64, requires_grad=True)
    methods = [make_method(name, 2, seed=0, **kwargs) for _ in range(n)]
    opt = torch.optim.Adam([{"params": [x], "lr": lr},
                            {"params": [p for m in methods for p in m.parameters()], "lr": lr}])
    traj = [[list(start)] for start in TOY_STARTS]
    stop_x: list[list[float] | None] = [None] * n  # where a start stopped early, and why
    stopped: list[str | None] = [None] * n
    for step in range(steps):
        active = [s for s in range(n) if stopped[s] is None]
        if not active:
            break
        opt.zero_grad()
        f = toy_losses(x, scale)
        for s, message in _step_directions(methods, f, x, active).items():
            stopped[s], stop_x[s] = f"step {step}: {message}", x.detach()[s].tolist()
        opt.step()
        if (step + 1) % record_every == 0:
            for s in range(n):
                if stopped[s] is None:
                    traj[s].append(x.detach()[s].tolist())
    return _final_runs(traj, stop_x, stopped, x.detach().tolist(), scale, stationary_tol)


def _step_directions(methods: Sequence[LossWeighting | GradientAggregator], f: torch.Tensor, x: torch.Tensor,
                     active: Sequence[int]) -> dict[int, str]:
    """Set ``x.grad`` (starts, 2) to each active start's update (zero rows for the others) and the gradients of
    the methods' own parameters; returns {start: error message} for the starts whose method failed (their
    rows stay zero, and they stop)."""
    failed: dict[int, str] = {}

    def attempt(s: int, compute):
        try:
            return compute()
        except (ValueError, RuntimeError) as exc:  # e.g. SI at a loss <= 0, Nash-MTL exactly on the front
            failed[s] = failure_message(exc)
            return None

    if isinstance(methods[0], LossWeighting):  # Σ_s combine_s(f_s): each row of x gets its own start's gradient
        objectives = [attempt(s, lambda s=s: methods[s].combine(f[s])) for s in active]
        objectives = [o for o in objectives if o is not None]
        if objectives:
            sum(objectives).backward()
        if x.grad is None:
            x.grad = torch.zeros_like(x)
    else:
        # per-task gradients of every start at once: row s of ∂(Σ_s f_sk)/∂x is ∇f_k at start s
        per_task = per_task_gradients(f.sum(0), [x], engine="reference", retain_graph=False).view(-1, *x.shape)
        grad = torch.zeros_like(x)
        for s in active:
            method = methods[s]
            g = per_task[:, s]  # (K, 2)
            reuse = method.reuse_weights()
            d = attempt(s, lambda: reuse.to(g.dtype) @ g if reuse is not None else
                        method.aggregate(g, f[s].detach()).direction.detach())
            if d is not None:
                grad[s] = d
        x.grad = grad
        for s in active:  # Nash-MTL's max-norm option
            limit = methods[s].clip_norm()
            norm = float(x.grad[s].norm())
            if limit is not None and norm > limit:
                x.grad[s].mul_(limit / norm)
    return failed


def toy_summary(toy: dict, methods: tuple[str, ...]) -> list[str]:
    """Sentences stating, from ``run_toy``'s results, which methods ended on the Pareto front from every start,
    from some, and from none, each split into loss weightings and gradient methods (so the chapter's text
    follows the runs); with nudged verdicts, a last sentence names the verdicts a nudge of the start changes."""
    reached = {m: sum(r["on_front"] for r in toy[m]) for m in methods}
    n = {m: len(toy[m]) for m in methods}
    out = []
    for label, test in (("from every start", lambda m: reached[m] == n[m]),
                        ("from some starts", lambda m: 0 < reached[m] < n[m]),
                        ("from no start", lambda m: reached[m] == 0)):
        groups = []
        for kind, members in (("loss weightings", [m for m in methods if m in LOSS_WEIGHTINGS]),
                              ("gradient methods", [m for m in methods if m not in LOSS_WEIGHTINGS])):
            hit = [f"{m} ({reached[m]}/{n[m]})" for m in members if test(m)]
            if hit:
                groups.append(f"{kind}: {', '.join(hit)}")
        out.append(f"Ended on the Pareto front {label}: " + ("; ".join(groups) if groups else "none") + ".")
    nudges = {r["nudge"] for m in methods for r in toy[m] if "nudge" in r}
    if nudges:
        fragile = [f"{m} from {', '.join(str(s) for s in fragile_starts(toy[m]))}" for m in methods
                   if fragile_starts(toy[m])]
        out.append(f"Verdicts that a nudge of the start by ±{', '.join(f'{v:g}' for v in sorted(nudges))} changes "
                   f"(decided by rounding, not by the method): {'; '.join(fragile) if fragile else 'none'}.")
    return out


def update_directions(grads: torch.Tensor | Sequence[Sequence[float]],
                      methods: tuple[str, ...] = ("LS", "MGDA", "PCGrad", "CAGrad", "IMTL-G", "Nash-MTL"),
                      method_kwargs: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, torch.Tensor]:
    """Fig. 2: the update direction (d,) each method returns for the gradients ``grads`` (K, d) (float64). Loss
    weightings return Σ_k w_k g_k with their weights at equal unit losses; gradient methods their aggregate.
    ``method_kwargs[name]`` go to :func:`mtlnotes.weighting.make_method`."""
    g = torch.as_tensor(grads, dtype=torch.float64)
    method_kwargs = method_kwargs or {}
    out = {}
    for name in methods:
        method = make_method(name, g.shape[0], seed=0, **method_kwargs.get(name, {}))
        losses = torch.ones(g.shape[0], dtype=torch.float64)
        if isinstance(method, LossWeighting):
            out[name] = method.weights(losses).to(g.dtype) @ g
        else:
            out[name] = method.aggregate(g, losses).direction.detach()
    return out
