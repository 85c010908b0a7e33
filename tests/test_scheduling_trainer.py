"""The policy-driven multi-task training loop (mtlnotes.scheduling.trainer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.scheduling import Exp3SPolicy, FixedPolicy, TaskSampler, train_with_policy


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(4, 8)
        self.heads = nn.ModuleList([nn.Linear(8, 2), nn.Linear(8, 3)])

    def forward(self, x, k):
        return self.heads[k](torch.relu(self.trunk(x)))


def _data():
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(64, 4, generator=g), torch.randn(20, 4, generator=g)]
    ys = [(xs[0][:, 0] > 0).long(), (xs[1][:, 1] > 0).long() + (xs[1][:, 2] > 0.5).long()]
    return xs, ys


def _train(policy, steps=200, seed=0):
    torch.manual_seed(0)
    xs, ys = _data()
    model = _Toy()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def evals():
        with torch.no_grad():
            return [F.cross_entropy(model(xs[k], k), ys[k]).item() for k in range(2)]

    before = evals()
    res = train_with_policy(model, opt, policy, lambda k, i: (xs[k][i], ys[k][i]),
                            lambda k, o, y: F.cross_entropy(o, y), [64, 20], steps, 8, seed, evals, 50)
    return res, before


def test_fixed_policy_log_counts_and_learning():
    res, before = _train(FixedPolicy([0.25, 0.75]))
    assert len(res.log) == 200 and res.counts.sum() == 200
    np.testing.assert_allclose(res.log.behavior_probs, np.where(res.log.actions == 0, 0.25, 0.75))
    assert 0.15 < res.counts[0] / 200 < 0.35
    assert [s for s, _ in res.evals] == [50, 100, 150, 200]
    assert all(a < b for a, b in zip(res.evals[-1][1], before))     # both task losses fell
    assert np.all((res.log.rewards >= 0) & (res.log.rewards <= 1))
    again, _ = _train(FixedPolicy([0.25, 0.75]))
    np.testing.assert_array_equal(res.log.actions, again.log.actions)
    np.testing.assert_array_equal(res.log.rewards, again.log.rewards)


def test_exp3s_is_updated_and_logs_its_probabilities():
    pol = Exp3SPolicy(2, eta=0.01, eps=0.05)
    res, _ = _train(pol)
    assert pol.t == 201 and not np.allclose(pol.omega, 0)
    assert np.all(res.log.behavior_probs >= 0.025 - 1e-12)


def test_task_sampler_covers_each_epoch():
    s = TaskSampler([10, 3], 4, torch.Generator().manual_seed(0))
    first = torch.cat([s.next(0), s.next(0)])
    assert first.unique().numel() == 8
    assert s.next(1).numel() == 3                                      # batch capped by the task size
    with pytest.raises(ValueError, match="positive task sizes"):
        TaskSampler([0], 4, torch.Generator())
    with pytest.raises(ValueError, match="2 task sizes for a policy over 3 tasks"):
        train_with_policy(_Toy(), None, FixedPolicy([1 / 3] * 3), None, None, [1, 2], 1, 1, 0)


def test_prediction_gain_is_measured_in_eval_mode(monkeypatch):
    """With dropout and a zero learning rate the parameters never move, so the prediction gain must be exactly 0
    at every step; measured in train mode, dropout alone would make it nonzero."""
    import mtlnotes.scheduling.trainer as trainer
    seen = []
    real = trainer.prediction_gain
    monkeypatch.setattr(trainer, "prediction_gain", lambda b, a: seen.append((b, a)) or real(b, a))
    torch.manual_seed(0)
    xs, ys = _data()
    model = _DropoutToy()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    train_with_policy(model, opt, Exp3SPolicy(2, eta=0.01, eps=0.05), lambda k, i: (xs[k][i], ys[k][i]),
                      lambda k, o, y: F.cross_entropy(o, y), [64, 20], 30, 8, 0)
    assert len(seen) == 30 and all(b == a for b, a in seen)
    assert model.training  # the loop's train mode is restored after each measurement


class _DropoutToy(_Toy):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)

    def forward(self, x, k):
        return self.heads[k](self.drop(torch.relu(self.trunk(x))))
