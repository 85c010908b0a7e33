"""The Nash-MTL chapter's training runs (Navon et al., 2022, §6.2 QM9, §6.3 NYUv2, and MultiMNIST), moved out of the
chapter into :mod:`mtlnotes.weighting.benchmarks`: the settings they read, the method arguments, the shared
select-on-validation loop and the MultiMNIST checkpoint keys."""

import dataclasses
import inspect
import re

import pytest
import torch
from torch import nn

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.experiments import nash_mtl
from mtlnotes.weighting import benchmarks
from mtlnotes.weighting.benchmarks import BenchmarkConfig, method_kwargs, run_multimnist, train_paper_model


def test_the_chapter_config_has_every_setting_the_benchmark_runs_read():
    """The protocol lists every ``config.x`` the module reads, and the chapter's Config has them all."""
    wanted = {name for name, value in vars(BenchmarkConfig).items() if isinstance(value, property)}
    read = set(re.findall(r"(?<![.\w])config\.(\w+)", inspect.getsource(benchmarks)))
    assert read and read <= wanted <= {f.name for f in dataclasses.fields(nash_mtl.Config)}


def test_the_chapter_re_exports_the_moved_runs():
    for name in ("run_multimnist", "update_frequency_study", "run_qm9", "run_nyuv2"):
        assert getattr(nash_mtl, name) is getattr(benchmarks, name) and name in nash_mtl.__all__


def test_method_kwargs_pass_cagrad_c_and_nash_settings_only_to_their_methods():
    cfg = dataclasses.replace(nash_mtl.QUICK, cagrad_c=0.7, nash_max_norm=2.5, nash_update_every=4)
    assert method_kwargs("CAGrad", cfg) == {"c": 0.7}
    assert method_kwargs("Nash-MTL", cfg) == {"max_norm": 2.5, "update_every": 4}
    assert method_kwargs("LS", cfg) == {} and method_kwargs("MGDA", cfg) == {}


def test_train_paper_model_tests_the_weights_of_the_epoch_with_the_lowest_validation_score():
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    x, y = torch.randn(8, 2), torch.randn(8, 2)
    val_scores = iter([3.0, 1.0, 2.0])      # epoch 2 is best
    seen = []

    def evaluate(part: str) -> dict:
        if part == "val":
            seen.append(model.weight.detach().clone())
            return {"loss": next(val_scores)}
        return {"weight": model.weight.detach().clone()}

    def compute_losses(batch):
        xb, yb = batch
        out = model(xb)
        return torch.stack([((out[:, k] - yb[:, k]) ** 2).mean() for k in range(2)])

    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cfg = dataclasses.replace(nash_mtl.QUICK, paper_gradient_engine="reference")
    res = train_paper_model(cfg, "LS", 2, model, [model.weight, model.bias], [[], []], lambda epoch: [(x, y)],
                            compute_losses, evaluate, "loss", opt, None, 3, 0, scheduler_on_val=False)
    assert res["best_epoch"] == 2 and res["best_val"] == 1.0 and len(res["curve"]) == 3
    assert torch.equal(res["test"]["weight"], seen[1]) and not torch.equal(seen[1], seen[2])


def test_run_multimnist_checkpoint_keys_and_single_task_baselines(tmp_path):
    cfg = dataclasses.replace(nash_mtl.QUICK, seeds=(0,), methods=("LS",), mm_train=100, mm_val=50, mm_test=50,
                              mm_epochs=1, mm_batch=50)
    res = run_multimnist(cfg, store=CheckpointStore(tmp_path))
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == ["mm-LS-seed0", "mm-STL-0-seed0", "mm-STL-1-seed0"]
    assert set(res["runs"]) == {"LS", "STL-0", "STL-1"} and res["sizes"] == {"train": 100, "val": 50, "test": 50}
    stl = res["stl_test_acc"]
    acc = res["mean_test_acc"]["LS"]
    assert res["delta_m"]["LS"] == pytest.approx(-50 * sum((a - s) / s for a, s in zip(acc, stl)))
