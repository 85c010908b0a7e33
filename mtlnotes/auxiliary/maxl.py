"""MAXL (Liu, Davison & Johns, 2019) and its weight-aware variant WA-MAXL (Goldfeder, So & Lipson, §3–4).

Each training batch makes two updates:

1. the main network f_theta takes an SGD step on Eq. 2 (Eq. 7 for WA-MAXL) with the label network's
   masked-softmax label distributions as (soft, detached) auxiliary targets;
2. the label network g_phi takes a step on the *meta* objective: the primary loss of f after one
   differentiable SGD step ``theta' = theta - alpha * grad_theta L(theta, phi)``, minus ``entropy_weight``
   times the batch entropy of the generated labels (MAXL Eq. 5 and its regulariser; second-order:
   the gradient flows through grad_theta L, which is the bi-level optimisation RL-AUX avoids).

WA-MAXL: g also outputs w in [0, 1] per sample and the auxiliary loss weight is ``aux_weight * 2^(10w-5)``
(Eq. 8), learned through the same meta-gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from mtlnotes.auxiliary.losses import batch_entropy
from mtlnotes.auxiliary.networks import AuxNet, LabelNet
from mtlnotes.auxiliary.trainer import auxiliary_objective, train_step
from mtlnotes.auxiliary.weights import scale_weight

__all__ = ["MAXL"]


class MAXL:
    """Trains ``main`` and ``label_net`` together, one :meth:`step` per batch.

    ``main_optimizer`` updates f (its current learning rate is also the inner step alpha);
    ``label_optimizer`` updates g. ``entropy_weight`` is MAXL's 0.2.
    """

    def __init__(self, main: AuxNet, label_net: LabelNet, main_optimizer: torch.optim.Optimizer,
                 label_optimizer: torch.optim.Optimizer, aux_weight: float = 1.0, entropy_weight: float = 0.2,
                 focal_gamma: float = 2.0) -> None:
        if label_net.psi * main.n_primary != main.n_aux:
            raise ValueError(f"label network makes {label_net.psi * main.n_primary} auxiliary classes but the main "
                             f"network's auxiliary head has {main.n_aux}")
        self.main, self.label_net = main, label_net
        self.main_optimizer, self.label_optimizer = main_optimizer, label_optimizer
        self.aux_weight, self.entropy_weight, self.focal_gamma = aux_weight, entropy_weight, focal_gamma

    @property
    def weight_aware(self) -> bool:
        return self.label_net.weight_head is not None

    def _weights(self, w: torch.Tensor | None) -> torch.Tensor | float:
        return self.aux_weight if w is None else self.aux_weight * scale_weight(w)

    def labels(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | float]:
        """Generated (label distributions (B, K), per-sample weights (B,) or the scalar λ), without gradient."""
        with torch.no_grad():
            logp, w = self.label_net(x, y)
        return logp.exp(), self._weights(w)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """One MAXL iteration on the batch (x (B, ...), y (B,)); returns the losses and label entropy."""
        self.label_net.train()
        target, weight = self.labels(x, y)
        main_loss = train_step(self.main, self.main_optimizer, x, y, target, weight, self.focal_gamma)

        # meta step: primary loss after one differentiable SGD step of the main network
        alpha = self.main_optimizer.param_groups[0]["lr"]
        params = dict(self.main.named_parameters())
        buffers = {k: v.clone() for k, v in self.main.named_buffers()}  # keep the real BN statistics untouched
        logp, w = self.label_net(x, y)
        probs = logp.exp()
        p, a = functional_call(self.main, (params, buffers), (x,))
        inner = auxiliary_objective(p, a, y, probs, self._weights(w), self.focal_gamma)
        grads = torch.autograd.grad(inner, list(params.values()), create_graph=True, allow_unused=True)
        fast = {k: (v - alpha * g if g is not None else v) for (k, v), g in zip(params.items(), grads)}
        p_fast, _ = functional_call(self.main, (fast, buffers), (x,))
        primary_after = F.cross_entropy(p_fast, y)
        entropy = batch_entropy(probs)
        meta = primary_after - self.entropy_weight * entropy
        self.label_optimizer.zero_grad(set_to_none=True)
        meta.backward(inputs=list(self.label_net.parameters()))
        self.label_optimizer.step()
        self.main.zero_grad(set_to_none=True)
        out = {"main_loss": main_loss, "meta_primary_loss": float(primary_after.detach()),
               "label_entropy": float(entropy.detach())}
        if w is not None:
            out["mean_weight"] = float(self._weights(w.detach()).mean())
        return out
