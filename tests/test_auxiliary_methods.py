"""One auxiliary-task method × seed (mtlnotes.auxiliary.methods; RL-AUX, Goldfeder, So & Lipson, §5 and App. B):
the step learning-rate schedule, the augmentation choice, and model selection by validation (the test accuracy
reported is the one at the best validation epoch, not the last)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mtlnotes.auxiliary.methods import METHODS, MethodRun, TaskSplit, augmentation, lr_at, train_method
from mtlnotes.auxiliary.trainer import evaluate_primary, random_crop_flip

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread (tests/conftest.py)


@dataclasses.dataclass(frozen=True)
class Tiny:
    dataset: str = "fashion_mnist"
    psi: int = 2
    arch: str = "small"
    hidden: int = 8
    epochs: int = 4
    batch_size: int = 10
    eval_batch_size: int = 8
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step: int = 50
    lr_gamma: float = 0.5
    aux_weight: float = 1.0
    focal_gamma: float = 2.0
    augment: bool = False
    maxl_lr: float = 1e-3
    maxl_entropy: float = 0.2
    reward_entropy_coef: float = 1.0
    ppo_lr: float = 3e-4
    ppo_ent_coef: float = 0.01
    ppo_n_steps: int = 20
    ppo_batch_size: int = 10
    ppo_n_epochs: int = 1
    ppo_gamma: float = 0.99
    agent_features: int = 8


def _split(n: int, seed: int) -> TaskSplit:
    """Five primary classes told apart by brightness, two fine classes in each (psi = 2)."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 5
    x = torch.rand(n, 1, 28, 28, generator=gen) + 0.3 * y.view(-1, 1, 1, 1)
    return TaskSplit(x, y, 2 * y + (torch.arange(n) // 5) % 2, 5, 2)


SPLITS = (_split(40, 0), _split(20, 1), _split(20, 2))


def test_lr_at_halves_every_lr_step_epochs():
    cfg = Tiny(lr=0.01, lr_gamma=0.5, lr_step=50)
    assert [lr_at(cfg, e) for e in (0, 49, 50, 99, 120)] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025])


def test_an_epoch_trains_with_the_scheduled_learning_rate():
    cfg = Tiny(lr_step=1, lr_gamma=0.5)
    run = MethodRun("single", SPLITS[0], cfg, seed=0, aux_weight=1.0, device="cpu")
    run.epoch(2)
    assert [g["lr"] for g in run.opt.param_groups] == pytest.approx([0.05 * 0.25] * len(run.opt.param_groups))


def test_augmentation_flips_for_cifar_only_and_is_off_unless_asked():
    assert augmentation(Tiny()) is None
    x = torch.rand(6, 3, 8, 8)
    for dataset, flip in (("cifar100", True), ("svhn", False)):
        aug = augmentation(Tiny(augment=True, dataset=dataset))
        expect = random_crop_flip(x, torch.Generator().manual_seed(3), pad=4, flip=flip)
        assert torch.equal(aug(x, torch.Generator().manual_seed(3)), expect)


def test_reported_test_accuracy_is_at_the_best_validation_epoch():
    train, val, test = SPLITS
    r = train_method("human", train, val, test, Tiny(), seed=1)
    assert r["best_val_acc"] == max(r["val_acc"]) and r["best_epoch"] == r["val_acc"].index(max(r["val_acc"]))
    assert r["best_epoch"] < Tiny().epochs - 1 and r["test_acc"] != r["final_test_acc"]  # this seed: not the last
    run = MethodRun("human", train, Tiny(), seed=1, aux_weight=1.0, device="cpu")      # the same run, by hand
    for epoch in range(r["best_epoch"] + 1):
        run.epoch(epoch)
    assert evaluate_primary(run.main, test.images, test.y)[0] == r["test_acc"]


def test_every_method_is_known_and_others_are_refused():
    assert METHODS == ("single", "human", "maxl", "rl", "wa-maxl", "wa-rl")
    with pytest.raises(ValueError, match="unknown method 'auxilearn'"):
        MethodRun("auxilearn", SPLITS[0], Tiny(), seed=0, aux_weight=1.0, device="cpu")
