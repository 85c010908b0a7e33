"""The batched toy engine (:mod:`mtlnotes.weighting.toy_batched`) computes the reference engine's runs: the same
losses and gradients as autograd, torch's Adam, each method's update, the same stops."""

import numpy as np
import pytest
import torch

from mtlnotes.gradients import per_task_gradients
from mtlnotes.weighting import METHODS
from mtlnotes.weighting.toy import TOY_STARTS, fragile_starts, run_toy, toy_losses, toy_summary
from mtlnotes.weighting.toy_batched import NumpyAdam, toy_losses_and_gradients


def test_losses_and_gradients_equal_autograd_including_the_kinks():
    rng = np.random.default_rng(0)
    # random points, the starts, the origin (on the kinks of both blends: x₂ = 0) and the log's floor (|a₁| < 5e-6)
    x = np.concatenate([rng.uniform(-10, 10, size=(300, 2)), np.array(TOY_STARTS),
                        [[0.0, 0.0], [-7.0, 0.0], [-7.0 + 2e-6, 0.0], [3.0, -1e-300]]])
    f, j = toy_losses_and_gradients(x, 0.1)
    xt = torch.tensor(x, requires_grad=True)
    ft = toy_losses(xt, 0.1)
    jt = per_task_gradients(ft.sum(0), [xt], engine="reference", retain_graph=False).view(2, *x.shape)
    assert np.allclose(f, ft.detach().numpy(), rtol=1e-13, atol=1e-13)
    assert np.allclose(j, jt.permute(1, 0, 2).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numpy_adam_takes_torchs_steps(dtype):
    rng = np.random.default_rng(1)
    start = rng.normal(size=(5, 2))
    grads = rng.normal(size=(40, 5, 2)) * np.logspace(-6, 2, 40)[:, None, None]
    p = torch.tensor(start, dtype=dtype, requires_grad=True)
    opt = torch.optim.Adam([p], lr=1e-2)
    ours = NumpyAdam(start.astype(np.float32 if dtype == torch.float32 else np.float64), lr=1e-2)
    for g in grads:
        p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        ours.step(g)
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    assert np.allclose(ours.param, p.detach().numpy(), rtol=tol, atol=tol)


# The start (0, 0) is left out of the trajectory comparison: there a gradient component is zero in exact arithmetic,
# the two engines round it to different tiny numbers, and Adam turns any nonzero value into a full step of size lr.
_COMPARED = [s for s, start in enumerate(TOY_STARTS) if start != (0.0, 0.0)]


@pytest.mark.parametrize("name", METHODS)
def test_batched_runs_follow_the_reference_engine(name):
    kwargs = {"CAGrad": {"c": 0.4}, "Nash-MTL": {"max_norm": 1.0}}.get(name, {})
    steps, lr = 20, 0.05
    ours = run_toy((name,), steps=steps, lr=lr, record_every=5, method_kwargs={name: kwargs})[name]
    ref = run_toy((name,), steps=steps, lr=lr, record_every=5, method_kwargs={name: kwargs},
                  engine="reference")[name]
    tol = 1e-6 if name == "UW" else 1e-9  # UW: float32 log-variances, exp() rounded by two libraries
    for s in _COMPARED:
        assert ours[s]["stopped"] == ref[s]["stopped"]
        assert len(ours[s]["trajectory"]) == len(ref[s]["trajectory"])
        assert np.allclose(ours[s]["trajectory"], ref[s]["trajectory"], rtol=0, atol=tol)


@pytest.mark.parametrize("name", ["SI", "Nash-MTL"])
def test_batched_runs_stop_where_and_why_the_reference_runs_stop(name):
    # SI fails where a loss is <= 0; Nash-MTL where no bargaining solution exists (on the front): the message is the
    # method object's own (rows a closed form leaves undefined go to it)
    ours = run_toy((name,), steps=400, lr=0.05, record_every=50)[name]
    ref = run_toy((name,), steps=400, lr=0.05, record_every=50, engine="reference")[name]
    assert [r["stopped"] for r in ours] == [r["stopped"] for r in ref]
    assert sum(r["stopped"] is not None for r in ours) >= 3
    for s in _COMPARED:
        if ours[s]["stopped"] is not None:
            assert np.allclose(ours[s]["final_x"], ref[s]["final_x"], rtol=0, atol=1e-9)


def test_nudged_starts_record_their_verdicts_and_fragile_starts_reads_them():
    out = run_toy(("MGDA",), steps=30, lr=0.05, record_every=10, nudge=1e-12)["MGDA"]
    assert all(len(r["nudged_on_front"]) == 2 and r["nudge"] == 1e-12 for r in out)
    runs = [{"start": [0.0, 0.0], "on_front": True, "nudge": 1e-12, "nudged_on_front": [True, False]},
            {"start": [1.0, 2.0], "on_front": False, "nudge": 1e-12, "nudged_on_front": [False, False]}]
    assert fragile_starts(runs) == [(0.0, 0.0)]
    assert fragile_starts([{"start": [0.0, 0.0], "on_front": True}]) == []  # no nudged runs: nothing to say
    assert toy_summary({"LS": runs}, ("LS",))[-1] == ("Verdicts that a nudge of the start by ±1e-12 changes "
                                                      "(decided by rounding, not by the method): LS from (0.0, 0.0).")


def test_engine_and_nudge_are_checked():
    with pytest.raises(ValueError, match="engine must be 'batched' or 'reference'"):
        run_toy(("LS",), steps=1, engine="autograd")
    with pytest.raises(ValueError, match="nudge needs engine='batched'"):
        run_toy(("LS",), steps=1, engine="reference", nudge=1e-12)
