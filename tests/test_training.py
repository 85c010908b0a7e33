"""Training helpers: the replayable per-epoch shuffles that let ``fit`` resume a continuous-stream loop."""

from __future__ import annotations

import pytest
import torch

from mtlnotes.training import EpochShuffles, minibatches


def _as_lists(batches):
    return [b.tolist() for b in batches]


def test_epoch_shuffles_give_what_a_loop_over_minibatches_draws():
    gen = torch.Generator().manual_seed(3)
    loop = [_as_lists(minibatches(7, 3, gen)) for _ in range(4)]
    shuffles = EpochShuffles(7, 3, torch.Generator().manual_seed(3))
    assert [_as_lists(shuffles(epoch)) for epoch in range(4)] == loop
    assert [len(b) for b in loop[0]] == [3, 3, 1] and sorted(sum(loop[0], [])) == list(range(7))


def test_epoch_shuffles_started_late_replay_the_skipped_epochs():
    whole = EpochShuffles(10, 4, torch.Generator().manual_seed(0))
    expected = [_as_lists(whole(epoch)) for epoch in range(3)]
    late = EpochShuffles(10, 4, torch.Generator().manual_seed(0))
    assert _as_lists(late(2)) == expected[2]
    with pytest.raises(ValueError, match="epoch 1 was already drawn"):
        late(1)


def test_epoch_shuffles_reject_bad_sizes():
    with pytest.raises(ValueError, match="batch_size >= 1"):
        EpochShuffles(5, 0, torch.Generator())
