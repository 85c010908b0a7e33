"""The one training loop: best-on-validation selection, checkpoint/resume (with state the loop does not own),
scheduler and per-epoch hooks."""

from __future__ import annotations

import pytest
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.fit import fit

pytestmark = pytest.mark.usefixtures("one_thread")


def _problem(init_seed=0):
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, generator=gen), torch.randn(16, generator=gen)
    torch.manual_seed(init_seed)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)

    def step(idx):
        loss = ((model(x[idx]).squeeze(1) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    def batches(epoch):
        return list(torch.randperm(16, generator=torch.Generator().manual_seed(epoch)).split(4))

    def val_loss():
        return ((model(x).squeeze(1) - y) ** 2).mean().item()
    return model, opt, step, batches, val_loss


def test_the_best_epoch_is_kept_and_restored():
    model, opt, step, batches, val_loss = _problem()
    scores = iter([0.5, 0.9, 0.7])
    result = fit(model, opt, step, batches, epochs=3, evaluate=lambda: next(scores))
    assert result.best_epoch == 1 and result.best_score == 0.9 and result.scores == [0.5, 0.9, 0.7]
    lower = fit(*_problem()[:4], epochs=3, evaluate=iter([0.5, 0.9, 0.7]).__next__, maximize=False)
    assert lower.best_epoch == 0


def test_an_interrupted_run_resumes_to_the_same_weights_and_extra_state(tmp_path):
    model, opt, step, batches, val_loss = _problem()
    counter = {"n": 0}

    def count_step(idx):
        counter["n"] += 1
        return step(idx)
    full = fit(model, opt, count_step, batches, epochs=4, evaluate=val_loss, maximize=False, restore_best=False)
    weights, n_full = [p.detach().clone() for p in model.parameters()], counter["n"]

    store = CheckpointStore(tmp_path)
    model, opt, step, batches, val_loss = _problem()
    counter = {"n": 0}
    state = (lambda: dict(counter), lambda saved: counter.update(saved))
    fit(model, opt, count_step, batches, epochs=2, evaluate=val_loss, maximize=False, checkpoint=store, key="k",
        restore_best=False, extra_state=state)
    model, opt, step, batches, val_loss = _problem(init_seed=1)  # fresh objects: everything must come from the store
    counter = {"n": -100}
    state = (lambda: dict(counter), lambda saved: counter.update(saved))
    resumed = fit(model, opt, count_step, batches, epochs=4, evaluate=val_loss, maximize=False, checkpoint=store,
                  key="k", restore_best=False, extra_state=state)
    assert counter["n"] == n_full
    assert resumed.scores == pytest.approx(full.scores) and resumed.best_epoch == full.best_epoch
    for a, b in zip(weights, model.parameters()):
        torch.testing.assert_close(a, b.detach())


def test_on_epoch_end_sees_each_record_after_the_evaluation():
    seen = []
    model, opt, step, batches, val_loss = _problem()
    fit(model, opt, step, batches, epochs=2, evaluate=val_loss, on_epoch_end=lambda e, r: seen.append((e, r["score"])))
    assert [e for e, _ in seen] == [0, 1] and all(s is not None for _, s in seen)


def test_negative_epochs_and_nan_scores_are_refused():
    with pytest.raises(ValueError, match="epochs must be >= 0"):
        fit(*_problem()[:4], epochs=-1)
    with pytest.raises(FloatingPointError, match="NaN"):
        fit(*_problem()[:4], epochs=1, evaluate=lambda: float("nan"))


def test_stop_ends_training_before_the_next_epoch():
    model, opt, step, batches, val_loss = _problem()
    result = fit(model, opt, step, batches, epochs=5, evaluate=val_loss, stop=lambda r: len(r.history) >= 2)
    assert len(result.history) == 2
    assert fit(*_problem()[:4], epochs=3, stop=lambda r: True).history == []
