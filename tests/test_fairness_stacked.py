"""The fast population program (sparse first layer, many runs stacked) computes the paper's dense networks.

Specification: on each dataset's real encoding, with the same weights and inputs, the forward pass, the
gradients and Adam steps of :class:`StackedPopulations` equal those of the dense reference
:class:`MLPPopulation` run by run (float64, tight tolerances), for both first-layer modes; and
:func:`run_moel_many` reproduces :func:`run_moel` run by run, and resumes from a saved state.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlnotes.fairness.moel import MOELSettings, TabularData, first_layer_mode, run_moel, run_moel_many
from mtlnotes.fairness.population import MLPPopulation, glorot_uniform
from mtlnotes.fairness.sparse import OneHotInputs
from mtlnotes.fairness.stacked import StackedPopulations

DATASETS = {"german": 64, "compas": 128, "adult": 256}


@pytest.fixture(scope="module")
def splits():
    from mtlnotes.data.cache import DataError
    from mtlnotes.data.fairness_data import load_fairness_dataset, split_622

    out = {}
    for name in DATASETS:
        try:
            out[name] = split_622(load_fairness_dataset(name, download=False), 2021)
        except DataError as exc:
            pytest.skip(f"{name} data not available: {exc}")
    return out


def _population(n_runs: int, d: int, h: int, seed: int = 0, dtype=torch.float64) -> list[MLPPopulation]:
    pops = []
    for r in range(n_runs):
        g = torch.Generator().manual_seed(seed + r)
        p = 3
        pops.append(MLPPopulation({
            "W1": glorot_uniform((p, d, h), d, h, g, dtype=dtype),
            "b1": 0.1 * torch.randn(p, 1, h, generator=g, dtype=dtype),
            "W2": glorot_uniform((p, h, 1), h, 1, g, dtype=dtype),
            "b2": 0.1 * torch.randn(p, 1, 1, generator=g, dtype=dtype),
        }))
    return pops


def test_one_hot_inputs_hand_case_with_padding_round_trips():
    x = torch.tensor([[1.0, 0.0, 2.5, 1.0],
                      [0.0, 0.0, -1.0, 1.0],
                      [0.0, 0.0, 0.0, 0.0]])
    oh = OneHotInputs.from_dense(x)
    assert oh.binary_columns.tolist() == [0, 1, 3] and oh.numeric_columns.tolist() == [2]
    assert oh.index.tolist() == [[0, 2], [2, 0], [0, 0]]  # positions within the binary columns, padded with 0
    assert oh.weight.tolist() == [[1, 1], [1, 0], [0, 0]]
    assert torch.equal(oh.to_dense(), x)


def test_one_hot_inputs_reject_bad_input():
    with pytest.raises(TypeError, match="expected a torch.Tensor, got numpy.ndarray"):
        OneHotInputs.from_dense(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="given as 0/1 columns but hold other values"):
        OneHotInputs.from_dense(torch.tensor([[0.5, 1.0]]), binary_columns=torch.tensor([0]))


@pytest.mark.parametrize("name", list(DATASETS))
def test_real_encoding_round_trips_and_mode_rule(splits, name):
    x = splits[name].train.x
    oh = OneHotInputs.from_dense(x)
    assert torch.equal(oh.to_dense(), x)
    assert first_layer_mode(x) == ("gather" if name == "compas" else "dense")


@pytest.mark.parametrize("mode", ["gather", "dense"])
@pytest.mark.parametrize("name", list(DATASETS))
def test_fast_program_equals_dense_networks_on_real_encoding(splits, name, mode):
    """Forward pass, gradients and two Adam steps agree with the dense reference, run by run (float64)."""
    part = splits[name].train
    x, y = part.x[:120].double(), part.y[:120].double()
    oh = OneHotInputs.from_dense(x)
    dense = x if mode == "dense" else None
    pops = _population(2, x.shape[1], 8)
    stacked = StackedPopulations.stack(pops)

    # forward
    probs = stacked.predict_proba(oh, dense=dense)
    for r, pop in enumerate(pops):
        torch.testing.assert_close(probs[r], pop.predict_proba(x), rtol=1e-12, atol=1e-12)

    # gradients of the summed per-model mean losses
    grads = stacked.gradients(oh, y, dense=dense)
    for r, pop in enumerate(pops):
        leaves = {k: v.clone().requires_grad_(True) for k, v in pop.params.items()}
        logits = pop.logits(x, leaves)
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y.expand_as(logits), reduction="none").mean(1).sum().backward()
        for k in leaves:
            torch.testing.assert_close(grads[k][r], leaves[k].grad, rtol=1e-10, atol=1e-13)

    # Adam: two minibatches of 60 in each run's own order
    stacked.partial_train(oh, y, 0.01, 60, 1, [torch.Generator().manual_seed(10 + r) for r in range(2)], dense=dense)
    for r, pop in enumerate(pops):
        pop.partial_train(x, y, 0.01, 60, 1, torch.Generator().manual_seed(10 + r))
        for k in pop.params:
            torch.testing.assert_close(stacked.params[k][r], pop.params[k], rtol=1e-9, atol=1e-11)


def _tab(part) -> TabularData:
    return TabularData(part.x, part.y, part.groups)


@pytest.mark.parametrize("mode", ["gather", "dense"])
def test_run_moel_many_reproduces_run_moel_run_by_run(splits, mode):
    s = splits["german"]
    settings = MOELSettings(n_hidden=16, lr=1e-3, pop_size=10, generations=3, record_every=1)
    runs = [("F_EIG", 0), ("F_E", 1), ("F_EG", 2)]
    many = run_moel_many(runs, settings, _tab(s.train), _tab(s.validation), _tab(s.test), first_layer=mode)
    for (variant, seed), got in zip(runs, many):
        ref = run_moel(variant, settings, _tab(s.train), _tab(s.validation), _tab(s.test), seed)
        assert got["generations"] == ref["generations"]
        for a, b in zip(got["val"] + [got["final_test"]], ref["val"] + [ref["final_test"]]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_run_moel_many_resumes_from_a_saved_state(splits):
    s = splits["german"]
    settings = MOELSettings(n_hidden=8, lr=1e-3, pop_size=6, generations=4, record_every=1)
    runs = [("F_EIG", 0), ("F_EI", 1)]
    whole = run_moel_many(runs, settings, _tab(s.train), _tab(s.validation), _tab(s.test))
    saved = []
    run_moel_many(runs, settings, _tab(s.train), _tab(s.validation), _tab(s.test), on_state=saved.append,
                  state_every=2)
    resumed = run_moel_many(runs, settings, _tab(s.train), _tab(s.validation), _tab(s.test), state=saved[0])
    for a, b in zip(whole, resumed):
        np.testing.assert_array_equal(a["final_test"], b["final_test"])
        assert a["generations"] == b["generations"]
    with pytest.raises(ValueError, match="belongs to other runs"):
        run_moel_many(runs[::-1], settings, _tab(s.train), _tab(s.validation), _tab(s.test), state=saved[0])
