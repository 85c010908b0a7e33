"""One auxiliary-task method trained with one seed: the unit of RL-AUX's experiments (Goldfeder, So & Lipson, 2022,
"Generating Auxiliary Tasks with Reinforcement Learning", §5 and Appendix B), with MAXL (Liu, Davison & Johns,
2019) and the weight-aware variants.

Methods (all train the same two-headed main network on Eq. 2, or Eq. 7 for the weight-aware ones):
``single`` (primary task only), ``human`` (the human fine labels as auxiliary task), ``maxl`` / ``wa-maxl``
(label network trained by the second-order meta update), ``rl`` / ``wa-rl`` (PPO agent labelling one image per
step, alternating train-agent and train-main epochs, Appendix B). Model selection by validation accuracy, never
by test: :func:`train_method` reports the test accuracy at the best validation epoch, and can resume from a
:class:`~mtlnotes.checkpoint.CheckpointStore` epoch by epoch.

``config`` is any object with the fields of :class:`TrainConfig` (the RL-AUX chapter's ``Config``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from mtlnotes.auxiliary.maxl import MAXL
from mtlnotes.auxiliary.networks import AuxNet, LabelNet
from mtlnotes.auxiliary.trainer import (evaluate_primary, make_optimizer, precision_recall_f1, random_crop_flip,
                                        train_step)
from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.fit import fit
from mtlnotes.repro import seed_everything, torch_generator
from mtlnotes.training import minibatches

__all__ = ["METHODS", "POLICY_PROBE", "TaskSplit", "TrainConfig", "augmentation", "lr_at", "MethodRun", "train_method"]

#: The methods of Fig. 4 and Fig. 6.
METHODS = ("single", "human", "maxl", "rl", "wa-maxl", "wa-rl")

#: training images (the first ones) on which an RL method's policy is probed after every epoch
POLICY_PROBE = 1000


@dataclass(frozen=True)
class TaskSplit:
    """images (N, C, H, W); y (N,) primary labels; aux (N,) human auxiliary labels in [0, psi*C) or None."""

    images: torch.Tensor
    y: torch.Tensor
    aux: torch.Tensor | None
    n_primary: int = field(compare=False)
    psi: int = field(compare=False)

    def __len__(self) -> int:
        return int(self.y.shape[0])


class TrainConfig(Protocol):
    """The settings training reads (the RL-AUX chapter's ``Config`` has them all, with the paper's values)."""

    @property
    def dataset(self) -> str: ...                            # decides the flip of the augmentation
    @property
    def psi(self) -> int: ...                                # hierarchy factor ψ
    @property
    def arch(self) -> str: ...                               # "small" CNN or "vgg16" (App. C.1)
    @property
    def hidden(self) -> int: ...                             # head width
    @property
    def epochs(self) -> int: ...                             # main-network epochs
    @property
    def batch_size(self) -> int: ...                         # B_T (App. B)
    @property
    def eval_batch_size(self) -> int: ...                    # B_R (App. B)
    @property
    def lr(self) -> float: ...                               # primary learning rate, SGD
    @property
    def momentum(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def lr_step(self) -> int: ...                            # scheduler step epochs
    @property
    def lr_gamma(self) -> float: ...                         # scheduler gamma
    @property
    def aux_weight(self) -> float: ...                       # λ of Eq. 2 / Eq. 7 (default of train_method)
    @property
    def focal_gamma(self) -> float: ...                      # focal loss on auxiliary labels
    @property
    def augment(self) -> bool: ...
    @property
    def maxl_lr(self) -> float: ...                          # label-network SGD learning rate
    @property
    def maxl_entropy(self) -> float: ...                     # MAXL's entropy weight
    @property
    def reward_entropy_coef(self) -> float: ...              # weight of Eq. 3's entropy in the reward (Eq. 4)
    @property
    def ppo_lr(self) -> float: ...
    @property
    def ppo_ent_coef(self) -> float: ...
    @property
    def ppo_n_steps(self) -> int: ...                        # rollout length; must divide the training set size
    @property
    def ppo_batch_size(self) -> int: ...
    @property
    def ppo_n_epochs(self) -> int: ...
    @property
    def ppo_gamma(self) -> float: ...
    @property
    def agent_features(self) -> int: ...                     # feature extractor dimension (App. B / C.2)


def augmentation(config: TrainConfig) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    """The training-image transformation of App. B ("standard transformations"): random crop with 4 pixels of
    padding, plus a horizontal flip for CIFAR; None when ``config.augment`` is off."""
    if not config.augment:
        return None
    flip = config.dataset in ("cifar10", "cifar100")
    return lambda x, gen: random_crop_flip(x, gen, pad=4, flip=flip)


def lr_at(config: TrainConfig, epoch: int) -> float:
    """The primary learning rate at ``epoch`` (0-based): ``lr · lr_gamma^⌊epoch / lr_step⌋`` (App. B's step
    scheduler)."""
    return config.lr * config.lr_gamma ** (epoch // config.lr_step)


class MethodRun:
    """One method × seed: builds the networks, trains epoch by epoch, saves/loads its state for resumption."""

    def __init__(self, method: str, train: TaskSplit, config: TrainConfig, seed: int, aux_weight: float,
                 device: str | torch.device) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        if method == "human" and train.aux is None:
            raise ValueError(f"the {config.dataset} task has no human auxiliary labels; drop 'human' from methods")
        self.method, self.train, self.config, self.device = method, train, config, torch.device(device)
        self.aux_weight = aux_weight
        seed_everything(seed)
        in_shape = tuple(train.images.shape[1:])
        k = train.n_primary * config.psi
        self.main = AuxNet(config.arch, in_shape, train.n_primary, k, config.hidden).to(self.device)
        self.opt, _ = make_optimizer(self.main, config.lr, config.momentum, config.weight_decay)
        self.gen = torch_generator(seed)
        self.maxl = self.env = self.rl = None
        if method in ("maxl", "wa-maxl"):
            label_net = LabelNet(config.arch, in_shape, train.n_primary, config.psi, config.hidden,
                                 weight_aware=method == "wa-maxl").to(self.device)
            label_opt = torch.optim.SGD(label_net.parameters(), lr=config.maxl_lr, weight_decay=config.weight_decay)
            self.maxl = MAXL(self.main, label_net, self.opt, label_opt, aux_weight, config.maxl_entropy,
                             config.focal_gamma)
        elif method in ("rl", "wa-rl"):
            from mtlnotes.auxiliary.agent import RLAuxTrainer, make_agent
            from mtlnotes.auxiliary.env import AuxTaskEnv
            self.env = AuxTaskEnv(self.main, train.images, train.y, config.psi, batch_size=config.batch_size,
                                  eval_batch_size=config.eval_batch_size, aux_weight=aux_weight,
                                  focal_gamma=config.focal_gamma, weight_aware=method == "wa-rl",
                                  entropy_coef=config.reward_entropy_coef, optimizer=self.opt,
                                  augment=augmentation(config), device=self.device, seed=seed)
            agent = make_agent(self.env, config.arch, config.agent_features, config.ppo_lr, config.ppo_ent_coef,
                               config.ppo_n_steps, config.ppo_batch_size, config.ppo_n_epochs, config.ppo_gamma,
                               seed=seed, device=self.device)
            self.rl = RLAuxTrainer(self.env, agent)
        self.aug = augmentation(config)

    def epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch (for RL: one train-agent epoch, then one train-main epoch); returns timings."""
        lr = lr_at(self.config, epoch)
        if self.rl is not None:
            from mtlnotes.auxiliary.agent import policy_concentration
            self.env.set_lr(lr)
            a = self.rl.agent_epoch()
            m = self.rl.main_epoch()
            probe = slice(0, min(POLICY_PROBE, len(self.train)))
            return {"seconds": a["seconds"] + m["seconds"], "agent_seconds": a["seconds"],
                    "main_seconds": m["seconds"], "mean_reward": a["mean_reward"],
                    **policy_concentration(self.rl.agent, self.train.images[probe], self.train.y[probe])}
        for group in self.opt.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        tr = self.train
        for idx in minibatches(len(tr), self.config.batch_size, self.gen):
            x = tr.images[idx]
            if self.aug is not None:
                x = self.aug(x, self.gen)
            x, y = x.to(self.device), tr.y[idx].to(self.device)
            if self.maxl is not None:
                self.maxl.step(x, y)
            else:
                target = tr.aux[idx].to(self.device) if self.method == "human" else None
                train_step(self.main, self.opt, x, y, target, self.aux_weight, self.config.focal_gamma)
        return {"seconds": time.perf_counter() - t0}

    def state(self) -> dict:
        s = {"main": self.main.state_dict(), "opt": self.opt.state_dict(), "gen": self.gen.get_state()}
        if self.maxl is not None:
            s.update(label=self.maxl.label_net.state_dict(), label_opt=self.maxl.label_optimizer.state_dict())
        if self.rl is not None:
            s.update(canonical=self.env._canonical, env_gen=self.env._gen.get_state(),
                     policy=self.rl.agent.policy.state_dict(), policy_opt=self.rl.agent.policy.optimizer.state_dict())
        return copy.deepcopy(s)

    def load(self, s: dict) -> None:
        self.main.load_state_dict(s["main"])
        self.opt.load_state_dict(s["opt"])
        self.gen.set_state(s["gen"])
        if self.maxl is not None:
            self.maxl.label_net.load_state_dict(s["label"])
            self.maxl.label_optimizer.load_state_dict(s["label_opt"])
        if self.rl is not None:
            self.env._canonical = s["canonical"]
            self.env._gen.set_state(s["env_gen"])
            self.rl.agent.policy.load_state_dict(s["policy"])
            self.rl.agent.policy.optimizer.load_state_dict(s["policy_opt"])


def train_method(method: str, train: TaskSplit, val: TaskSplit, test: TaskSplit, config: TrainConfig, seed: int,
                 aux_weight: float | None = None, device: str | torch.device = "cpu",
                 store: CheckpointStore | None = None, key: str = "") -> dict:
    """Train one method with one seed on :func:`mtlnotes.fit.fit` (one "batch" per epoch: the method's whole epoch,
    for RL a train-agent plus a train-main epoch); returns validation curve, test accuracy, loss and macro
    precision/recall/F1 at the best validation epoch, final test accuracy and per-epoch wall times (plain data).
    With ``store`` and ``key`` the run is saved after every epoch and resumes where it stopped."""
    aux_weight = config.aux_weight if aux_weight is None else aux_weight
    run_ = MethodRun(method, train, config, seed, aux_weight, device)
    history: dict[str, list] = {k: [] for k in ("val_acc", "epoch_seconds", "agent_seconds", "main_seconds",
                                                "mean_reward", "policy_top_prob", "weight_top_prob")}
    final: dict[str, float] = {}

    def step(epoch: int) -> None:
        t = run_.epoch(epoch)
        history["epoch_seconds"].append(t["seconds"])
        for k in ("agent_seconds", "main_seconds", "mean_reward", "policy_top_prob", "weight_top_prob"):
            if k in t:
                history[k].append(t[k])

    def validate() -> float:
        history["val_acc"].append(evaluate_primary(run_.main, val.images, val.y, device=run_.device)[0])
        return history["val_acc"][-1]

    def after(epoch: int, record: dict) -> None:
        if epoch == config.epochs - 1:  # the last epoch's weights, before fit restores the best ones
            final["test_acc"] = evaluate_primary(run_.main, test.images, test.y, device=run_.device)[0]

    def get_state() -> dict:
        return {"run": run_.state(), "history": history, "final": final}

    def set_state(saved: dict) -> None:
        run_.load(saved["run"])
        history.update(saved["history"])
        final.update(saved["final"])

    result = fit(run_.main, None, step, lambda epoch: [epoch], config.epochs, evaluate=validate,
                 checkpoint=store if key else None, key=key or "fit", desc=f"{method} seed {seed}",
                 on_epoch_end=after, extra_state=(get_state, set_state))
    test_acc, test_loss = evaluate_primary(run_.main, test.images, test.y, device=run_.device)
    prf = precision_recall_f1(run_.main, test.images, test.y, device=run_.device)
    out = {"method": method, "seed": seed, "aux_weight": aux_weight, "test_acc": test_acc, "test_loss": test_loss,
           "final_test_acc": final["test_acc"], "best_epoch": result.best_epoch, "best_val_acc": result.best_score,
           **{f"test_{k}": v for k, v in prf.items()}, **history}
    return {k: v for k, v in out.items() if v != []}
