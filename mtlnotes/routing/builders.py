"""Build the architectures compared by Rosenbaum et al. (2018, §4, Figures 4–8, Tables 3–4) by name, all on
the same SimpleConvNet trunk (4 × [3×3 conv, 32 filters, BN, ReLU, max-pool]) and 3 fully connected layers."""

from __future__ import annotations

from dataclasses import dataclass

from mtlnotes.models import SimpleConvNet
from mtlnotes.routing.agents import (DispatchedRouter, QMLPRouter, ReinforceRouter, StaticRouter, TabularQRouter,
                                     WPLRouter)
from mtlnotes.routing.layers import RoutedFC
from mtlnotes.routing.network import RoutingNetwork, SoftNetwork
from mtlnotes.routing.soft import CrossStitchFC, SoftMixtureFC, SoftRoutingFC
from mtlnotes.routing.wpl import DEFAULT_SCALING

__all__ = ["ARCHITECTURES", "RouterSettings", "build_network"]

ARCHITECTURES = {
    # name: what it is (paper name)
    "routing-all-fc": "tabular WPL, one agent per task (MARL:WPL)",
    "routing-all-fc-recursive": "WPL, hidden→hidden blocks pooled and revisited, with PASS",
    "routing-all-fc-dispatched": "REINFORCE agents chosen by a REINFORCE dispatcher",
    "routing-all-fc-single-agent": "one REINFORCE agent with MLP approximators",
    "reinforce-approx": "REINFORCE, one agent per task, MLP approximators",
    "qlearning-approx": "Q-learning, one agent per task, MLP approximators",
    "qlearning-table": "tabular Q-learning, one agent per task",
    "soft-mixture-all-fc": "simplified soft mixture: static softmax weights per layer, shared by all tasks",
    "soft-routing-all-fc": "soft routing (Table 4): per-task, per-depth MLP attention over the routed blocks",
    "cross-stitch-all-fc": "cross-stitch units between fc columns (Misra et al., 2016)",
    "task-specific-1-fc": "shared fc layers, one last layer per task",
    "task-specific-all-fc": "one set of fc layers per task",
}


@dataclass(frozen=True)
class RouterSettings:
    """Router hyper-parameters: WPL / tabular-Q step size, approximator SGD learning rate, ε of the Q-learners,
    WPL sign convention (see :mod:`mtlnotes.routing.wpl`), and the snapshot interval of WPL policies."""

    wpl_lr: float = 0.01
    q_lr: float = 0.1
    mlp_lr: float = 0.01
    epsilon: float = 0.1
    gamma: float = 1.0
    scaling: str = DEFAULT_SCALING
    record_every: int | None = None


def build_network(name: str, n_tasks: int, in_shape: tuple[int, int, int], n_classes: int, hidden: int = 128,
                  settings: RouterSettings = RouterSettings(), n_blocks: int | None = None):
    """The network called ``name`` (a key of :data:`ARCHITECTURES`) for ``n_tasks`` tasks of ``n_classes``
    classes on inputs of shape ``in_shape`` (C, H, W). Routed layers get ``n_blocks`` blocks each (default:
    one per task, §4). Returns a :class:`RoutingNetwork` or :class:`SoftNetwork`."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}")
    if n_tasks < 1:
        raise ValueError(f"need at least one task, got {n_tasks}")
    k = n_tasks if n_blocks is None else n_blocks
    trunk = SimpleConvNet(in_shape[0])
    feat = trunk.out_features(in_shape)
    if name in ("cross-stitch-all-fc", "soft-mixture-all-fc"):
        cls = CrossStitchFC if name.startswith("cross") else SoftMixtureFC
        return SoftNetwork(trunk, cls(feat, hidden, n_classes, n_tasks))
    if name == "soft-routing-all-fc":
        return SoftNetwork(trunk, SoftRoutingFC(feat, hidden, n_classes, k, n_tasks))
    if name == "task-specific-1-fc":
        fc = RoutedFC(feat, hidden, n_classes, [1, 1, n_tasks])
        return RoutingNetwork(trunk, fc, StaticRouter(fc.n_actions, n_tasks, [0, 0, "task"]))
    if name == "task-specific-all-fc":
        fc = RoutedFC(feat, hidden, n_classes, n_tasks)
        return RoutingNetwork(trunk, fc, StaticRouter(fc.n_actions, n_tasks, ["task"] * 3))
    fc = RoutedFC(feat, hidden, n_classes, k, recursive=name == "routing-all-fc-recursive")
    s = settings
    in_dims = [feat if fc.decisions[d].pool == 0 else hidden for d in range(len(fc.decisions))]
    if name in ("routing-all-fc", "routing-all-fc-recursive"):
        router = WPLRouter(fc.n_actions, n_tasks, s.wpl_lr, s.scaling, s.record_every)
    elif name == "qlearning-table":
        router = TabularQRouter(fc.n_actions, n_tasks, s.q_lr, s.epsilon, s.gamma)
    elif name == "reinforce-approx":
        router = ReinforceRouter(fc.n_actions, in_dims, n_tasks, lr=s.mlp_lr)
    elif name == "routing-all-fc-single-agent":
        router = ReinforceRouter(fc.n_actions, in_dims, n_tasks, n_agents=1, lr=s.mlp_lr)
    elif name == "qlearning-approx":
        router = QMLPRouter(fc.n_actions, in_dims, n_tasks, lr=s.mlp_lr, epsilon=s.epsilon, gamma=s.gamma)
    else:  # routing-all-fc-dispatched
        router = DispatchedRouter(fc.n_actions, in_dims, n_tasks, lr=s.mlp_lr)
    return RoutingNetwork(trunk, fc, router)
