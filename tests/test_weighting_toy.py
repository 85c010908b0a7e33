"""The illustrative examples of Navon et al. (2022): the §6.1 toy problem and Fig. 2's update directions
(:mod:`mtlnotes.weighting.toy`)."""

import math

import pytest
import torch

from mtlnotes.weighting import METHODS, LossWeighting, make_method
from mtlnotes.weighting.toy import FIG2_GRADS, LOSS_WEIGHTINGS, TOY_STARTS, run_toy, toy_losses, update_directions


def test_toy_losses_at_the_bottoms_of_the_quadratic_bowls():
    # below the x1 axis only the bowls count (up = 0, down = tanh(−x2/2)): q1 = ((7 − x1)² + 0.1 (−x2 − 8)²)/10 − 20
    # is −20 at (7, −8), where q2 = (14²)/10 − 20 = −0.4; mirrored at (−7, −8)
    down = math.tanh(4.0)
    f = toy_losses(torch.tensor([[7.0, -8.0], [-7.0, -8.0]], dtype=torch.float64), scale=0.1)
    torch.testing.assert_close(f, torch.tensor([[0.1 * -20 * down, -0.4 * down], [0.1 * -0.4 * down, -20 * down]],
                                               dtype=torch.float64))


def test_toy_losses_vanish_at_the_origin():
    # x2 = 0: both blending weights tanh(±x2/2) clamped at 0 are 0
    assert toy_losses(torch.zeros(2, dtype=torch.float64)).tolist() == [0.0, 0.0]


def test_loss_weightings_are_exactly_the_methods_that_only_reweight_losses():
    assert set(LOSS_WEIGHTINGS) == {m for m in METHODS if isinstance(make_method(m, 2), LossWeighting)}


def test_run_toy_records_every_n_steps_and_judges_the_front_by_the_tolerance():
    out = run_toy(("LS", "MGDA"), steps=20, lr=0.05, record_every=5, stationary_tol=1e-3)
    assert set(out) == {"LS", "MGDA"}
    for runs in out.values():
        assert [r["start"] for r in runs] == [list(s) for s in TOY_STARTS]
        for r in runs:
            assert len(r["trajectory"]) == 1 + 20 // 5 and r["trajectory"][-1] == r["final_x"]
            final = toy_losses(torch.tensor(r["final_x"], dtype=torch.float64))
            assert r["final_losses"] == final.tolist()
            assert r["on_front"] == (r["hull_min_norm"] <= 1e-3) and r["stopped"] is None
    everywhere = run_toy(("LS",), steps=20, lr=0.05, record_every=5, stationary_tol=math.inf)
    assert all(r["on_front"] for r in everywhere["LS"])


def test_update_directions_pass_method_kwargs_cagrad_without_conflict_term_is_the_mean_gradient():
    g = torch.tensor(FIG2_GRADS, dtype=torch.float64)
    d = update_directions(g, ("LS", "CAGrad"), {"CAGrad": {"c": 0.0}})
    torch.testing.assert_close(d["LS"], g.sum(0))  # LS: unit weights at equal losses
    torch.testing.assert_close(d["CAGrad"], g.mean(0))  # c = 0: CAGrad's d = g_0, the average gradient
    assert not torch.allclose(update_directions(g, ("CAGrad",), {"CAGrad": {"c": 0.4}})["CAGrad"], g.mean(0))


def test_update_directions_rejects_unknown_methods():
    with pytest.raises(ValueError, match="unknown method 'Adam'"):
        update_directions(torch.eye(2), ("Adam",))


def _one_start_by_hand(name: str, start, steps: int, lr: float) -> list[float]:
    """The toy from one start, written out plainly: the method's update from the per-task gradients (or the
    gradient of its combined loss), clipped to its max norm, then Adam."""
    from mtlnotes.gradients import per_task_gradients

    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    method = make_method(name, 2, seed=0)
    opt = torch.optim.Adam([{"params": [x], "lr": lr}, {"params": method.parameters(), "lr": lr}])
    for _ in range(steps):
        opt.zero_grad()
        f = toy_losses(x)
        if isinstance(method, LossWeighting):
            method.combine(f).backward()
        else:
            g = per_task_gradients(f, [x], engine="reference", retain_graph=False)
            x.grad = method.aggregate(g, f.detach()).direction.detach().clone()
            if method.clip_norm() is not None and float(x.grad.norm()) > method.clip_norm():
                x.grad.mul_(method.clip_norm() / float(x.grad.norm()))
        opt.step()
    return x.detach().tolist()


@pytest.mark.parametrize("name", ["UW", "RLW", "PCGrad", "Nash-MTL"])
def test_run_toy_runs_the_five_starts_at_once_exactly_as_five_separate_runs(name):
    # the starts share one (5, 2) parameter, one backward per task and one Adam step, but each keeps its own method
    # instance (UW: its own log-variances; RLW, PCGrad: their own random draws; Nash-MTL: its own warm start)
    out = run_toy((name,), steps=30, lr=0.05, record_every=30, engine="reference")[name]
    for start, run in zip(TOY_STARTS, out):
        assert run["final_x"] == _one_start_by_hand(name, start, 30, 0.05)


def test_run_toy_stops_only_the_start_whose_method_fails():
    # SI takes log of the losses: it fails at starts where a loss is <= 0 (the origin: both losses are 0) and
    # stops there, before any step, while the other starts run on
    out = run_toy(("SI",), steps=5, lr=0.05, record_every=1)["SI"]
    at_origin = out[TOY_STARTS.index((0.0, 0.0))]
    assert at_origin["stopped"].startswith("step 0: ValueError") and at_origin["final_x"] == [0.0, 0.0]
    assert at_origin["trajectory"] == [[0.0, 0.0]]
    others = [r for r in out if r["start"] != [0.0, 0.0]]
    assert any(r["stopped"] is None and len(r["trajectory"]) == 6 for r in others)
