"""The RL-AUX environment (Goldfeder, So & Lipson, §3 "Reinforcement Learning Approach" and §4).

The main network's training loop is wrapped in a :class:`gymnasium.Env`:

* observation: one training image and its primary label (``{"image": (C, H, W) float32, "primary": int}``);
  the label lets the policy respect the hierarchy of Eqs. 5–6;
* action: the image's auxiliary sub-class ``a in [0, psi)`` (auxiliary class ``psi*y + a``, the support of
  Eq. 6) and, for WA-RL, a weight bin in [0, 21) mapped by Eq. 8;
* after every B_T labelled images the main network takes one SGD step on Eq. 2 (Eq. 7 for WA-RL) and, in
  train-agent mode, the reward is Eq. 4: minus the primary loss on a random evaluation batch of B_R training
  images plus ``entropy_coef`` times the entropy of the batch-mean auxiliary label distribution (Eq. 3);
  all other steps give reward 0;
* an episode is one epoch (every training image labelled once).

Modes (§4 "Training Modes"): ``"agent"``: the main network learns during the epoch but is reverted to the
canonical model at its end; ``"main"``: no reward is computed and the model reached at the end of the epoch
becomes the new canonical model. :meth:`AuxTaskEnv.train_main_epoch` runs a main-mode epoch with batched
(deterministic) labels, which is what stepping with those labels does, without the per-image round trips.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

from mtlnotes.auxiliary.losses import batch_entropy, expand_sublabels
from mtlnotes.auxiliary.networks import AuxNet
from mtlnotes.auxiliary.trainer import train_step
from mtlnotes.auxiliary.weights import N_WEIGHT_BINS, weight_from_bin

__all__ = ["AuxTaskEnv", "LabelFn", "ProbFn"]

#: ``(images (B, C, H, W), primary (B,)) -> (sub-class (B,), weight bin (B,) or None)``
LabelFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
#: ``(images, primary) -> sub-class probabilities (B, psi)`` of the current policy (for Eq. 3)
ProbFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class AuxTaskEnv(gym.Env):
    """Gymnasium environment whose episodes train the main network for one epoch (RL-AUX §4).

    images (N, C, H, W) float32, labels (N,) int64 primary labels in [0, n_primary). ``augment(x, gen)``
    (optional) transforms each training batch. ``policy_probs`` (set after the agent exists) gives Eq. 3's
    entropy from the policy's probabilities on the evaluation batch; without it the entropy is that of the
    labels just assigned to the training batch. ``last_rewards`` collects every reward given (clear it yourself).
    """

    metadata = {"render_modes": []}

    def __init__(self, main: AuxNet, images: torch.Tensor, labels: torch.Tensor, psi: int, *,
                 batch_size: int = 100, eval_batch_size: int = 256, aux_weight: float = 1.0,
                 focal_gamma: float = 2.0, weight_aware: bool = False, entropy_coef: float = 1.0,
                 optimizer: torch.optim.Optimizer | None = None, lr: float = 0.01,
                 augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                 device: str | torch.device = "cpu", seed: int = 0) -> None:
        super().__init__()
        if images.ndim != 4 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"need images (N, C, H, W) and labels (N,), got {tuple(images.shape)} and "
                             f"{tuple(labels.shape)}")
        if len(labels) == 0:
            raise ValueError("the environment needs at least one training image")
        if main.n_aux != psi * main.n_primary:
            raise ValueError(f"main network has {main.n_aux} auxiliary outputs, expected psi*C = {psi * main.n_primary}")
        if int(labels.min()) < 0 or int(labels.max()) >= main.n_primary:
            raise ValueError(f"primary labels must lie in [0, {main.n_primary})")
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"batch sizes must be >= 1, got B_T={batch_size}, B_R={eval_batch_size}")
        self.main, self.psi, self.n_primary = main, psi, main.n_primary
        self.images, self.labels = images.float().contiguous(), labels.long()
        self._np_images = self.images.numpy()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.aux_weight, self.focal_gamma, self.entropy_coef = aux_weight, focal_gamma, entropy_coef
        self.weight_aware, self.augment = weight_aware, augment
        self.device = torch.device(device)
        self.optimizer = optimizer or torch.optim.SGD(main.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        self.policy_probs: ProbFn | None = None
        self.mode = "agent"
        c, h, w = images.shape[1:]
        self.observation_space = spaces.Dict({
            "image": spaces.Box(float(images.min()), float(images.max()), (c, h, w), np.float32),
            "primary": spaces.Discrete(self.n_primary)})
        self.action_space = spaces.MultiDiscrete([psi, N_WEIGHT_BINS]) if weight_aware else spaces.Discrete(psi)
        self._gen = torch.Generator().manual_seed(seed)
        self._canonical = self._snapshot()
        self._order = torch.arange(len(labels))
        self._pos = len(labels)  # no episode yet
        self._sub = torch.zeros(len(labels), dtype=torch.long)
        self._wbin = torch.zeros(len(labels), dtype=torch.long)
        self.last_rewards: list[float] = []

    # ---- canonical model ---------------------------------------------------------------------------------
    def _snapshot(self) -> dict:
        return {"model": copy.deepcopy(self.main.state_dict()), "optim": copy.deepcopy(self.optimizer.state_dict())}

    def restore_canonical(self) -> None:
        """Load the canonical main network (and its optimiser state): the revert of train-agent mode."""
        self.main.load_state_dict(self._canonical["model"])
        self.optimizer.load_state_dict(copy.deepcopy(self._canonical["optim"]))

    def commit_canonical(self) -> None:
        """Make the current main network the canonical one (the end of a train-main epoch)."""
        self._canonical = self._snapshot()

    def set_lr(self, lr: float) -> None:
        """Set the main network's learning rate, in the live optimiser and the canonical state (scheduler step)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        for group in self._canonical["optim"]["param_groups"]:
            group["lr"] = lr

    def set_mode(self, mode: str) -> None:
        if mode not in ("agent", "main"):
            raise ValueError(f"mode must be 'agent' (train the RL agent) or 'main' (train the main network), got {mode!r}")
        self.mode = mode

    # ---- gymnasium API -----------------------------------------------------------------------------------
    def _obs(self, i: int) -> dict:
        j = int(self._order[min(i, len(self._order) - 1)])
        return {"image": self._np_images[j].copy(), "primary": np.int64(self.labels[j])}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._gen.manual_seed(seed)
        self.restore_canonical()
        self._order = torch.randperm(len(self.labels), generator=self._gen)
        self._pos = 0
        return self._obs(0), {}

    def step(self, action):
        if self._pos >= len(self.labels):
            raise RuntimeError("episode is over: call reset() before step()")
        action = np.asarray(action).reshape(-1)
        sub = int(action[0])
        if not 0 <= sub < self.psi:
            raise ValueError(f"auxiliary sub-class {sub} out of range for psi = {self.psi}")
        self._sub[self._pos] = sub
        if self.weight_aware:
            wbin = int(action[1])
            if not 0 <= wbin < N_WEIGHT_BINS:
                raise ValueError(f"weight bin {wbin} out of range for {N_WEIGHT_BINS} bins")
            self._wbin[self._pos] = wbin
        self._pos += 1
        reward, info = 0.0, {}
        n = len(self.labels)
        if self._pos % self.batch_size == 0 or self._pos == n:
            start = (self._pos - 1) // self.batch_size * self.batch_size
            sl = slice(start, self._pos)
            info["main_loss"] = self._train_batch(self._order[sl], self._sub[sl],
                                                  self._wbin[sl] if self.weight_aware else None)
            if self.mode == "agent":
                reward, loss, ent = self.reward(self._order[sl], self._sub[sl])
                info.update(eval_primary_loss=loss, label_entropy=ent)
                self.last_rewards.append(reward)
        terminated = self._pos == n
        if terminated:
            if self.mode == "agent":
                self.restore_canonical()
            else:
                self.commit_canonical()
        return self._obs(self._pos), reward, terminated, False, info

    # ---- training and reward -----------------------------------------------------------------------------
    def _train_batch(self, idx: torch.Tensor, sub: torch.Tensor, wbin: torch.Tensor | None) -> float:
        """One SGD step of Eq. 2 (Eq. 7 with per-sample weights when weight-aware) on the labelled batch."""
        x, y = self.images[idx], self.labels[idx]
        if self.augment is not None:
            x = self.augment(x, self._gen)
        target = expand_sublabels(sub, y, self.psi)
        weight = self.aux_weight if wbin is None else self.aux_weight * weight_from_bin(wbin).to(self.device)
        return train_step(self.main, self.optimizer, x.to(self.device), y.to(self.device), target.to(self.device),
                          weight, self.focal_gamma)

    @torch.no_grad()
    def reward(self, train_idx: torch.Tensor, train_sub: torch.Tensor) -> tuple[float, float, float]:
        """Eq. 4 on a fresh random evaluation batch of B_R training images -> (reward, primary loss, entropy)."""
        ev = torch.randint(0, len(self.labels), (self.eval_batch_size,), generator=self._gen)
        x, y = self.images[ev].to(self.device), self.labels[ev].to(self.device)
        was = self.main.training
        self.main.eval()
        loss = float(F.cross_entropy(self.main(x)[0], y))
        self.main.train(was)
        k = self.psi * self.n_primary
        if self.policy_probs is not None:
            sub_probs = self.policy_probs(x, y).to(self.device)  # (B_R, psi)
            probs = torch.zeros(len(y), self.n_primary, self.psi, device=self.device)
            probs[torch.arange(len(y)), y] = sub_probs
            probs = probs.view(len(y), k)
        else:
            ty = self.labels[train_idx]
            probs = F.one_hot(expand_sublabels(train_sub, ty, self.psi), k).float()
        ent = float(batch_entropy(probs))
        return -loss + self.entropy_coef * ent, loss, ent

    def train_main_epoch(self, label_fn: LabelFn, label_batch: int = 1000) -> float:
        """A whole train-main-mode epoch: label every image with ``label_fn`` (e.g. the agent's deterministic
        policy), train on the shuffled batches, and make the result canonical. Returns the mean batch loss."""
        self.reset()
        n = len(self.labels)
        for s in range(0, n, label_batch):
            idx = self._order[s:s + label_batch]
            sub, wbin = label_fn(self.images[idx], self.labels[idx])
            self._sub[s:s + len(idx)] = sub.to(torch.long).cpu()
            if self.weight_aware:
                if wbin is None:
                    raise ValueError("a weight-aware environment needs weight bins from label_fn")
                self._wbin[s:s + len(idx)] = wbin.to(torch.long).cpu()
        losses = []
        for s in range(0, n, self.batch_size):
            sl = slice(s, min(s + self.batch_size, n))
            losses.append(self._train_batch(self._order[sl], self._sub[sl], self._wbin[sl] if self.weight_aware else None))
        self._pos = n
        self.commit_canonical()
        return float(np.mean(losses))
