"""Routing networks (Rosenbaum, Klinger & Riemer, ICLR 2018): routed layers, router agents (WPL, Q-learning,
REINFORCE, dispatched), rewards, the soft baselines (cross-stitch, soft mixture) and joint training.

The experiments' pieces are imported from their modules: :mod:`mtlnotes.routing.training` (Algorithm 2 over
epochs, policy snapshots, step cost), :mod:`mtlnotes.routing.data` (MNIST-MTL, CIFAR-MTL, MIN-MTL, and a validation
split of MNIST-MTL) and :mod:`mtlnotes.routing.sweep` (the router's step size and ρ chosen on validation data)."""

from mtlnotes.routing.agents import (DispatchedRouter, QMLPRouter, ReinforceRouter, Router, StaticRouter,
                                     TabularQRouter, Trace, WPLRouter, epsilon_greedy, q_learning_update)
from mtlnotes.routing.builders import ARCHITECTURES, RouterSettings, build_network
from mtlnotes.routing.layers import PASS, Decision, RoutedFC, fc_block, grouped_apply
from mtlnotes.routing.network import RoutingNetwork, SoftNetwork, predict_tasks, train_step
from mtlnotes.routing.projection import simplex_projection
from mtlnotes.routing.rewards import CollaborationReward, discounted_returns, final_reward
from mtlnotes.routing.soft import ColumnFC, CrossStitchFC, SoftMixtureFC
from mtlnotes.routing.wpl import DEFAULT_SCALING, SCALINGS, wpl_update

__all__ = [
    "Router", "Trace", "WPLRouter", "TabularQRouter", "ReinforceRouter", "QMLPRouter", "DispatchedRouter",
    "StaticRouter", "epsilon_greedy", "q_learning_update", "ARCHITECTURES", "RouterSettings", "build_network",
    "PASS", "Decision", "RoutedFC", "fc_block", "grouped_apply", "RoutingNetwork", "SoftNetwork", "predict_tasks",
    "train_step", "simplex_projection", "CollaborationReward", "discounted_returns", "final_reward", "ColumnFC",
    "CrossStitchFC", "SoftMixtureFC", "DEFAULT_SCALING", "SCALINGS", "wpl_update",
]
