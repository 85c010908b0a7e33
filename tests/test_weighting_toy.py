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
