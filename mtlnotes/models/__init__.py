"""Backbones and heads shared by the chapters: :mod:`~mtlnotes.models.backbones`, :mod:`~mtlnotes.models.multitask`
(hard sharing, single task) and :mod:`~mtlnotes.models.task_indexed` (a shared trunk with one head per task id, for
the task-selection chapter's offline suite and GLUE)."""

from mtlnotes.models.backbones import MLP, MultiLeNetEncoder, SimpleConvNet, conv_block
from mtlnotes.models.multitask import HardSharingNet, SingleTaskNet
from mtlnotes.models.task_indexed import GlueMultiTaskModel, SharedTrunkMLP

__all__ = ["MLP", "MultiLeNetEncoder", "SimpleConvNet", "conv_block", "HardSharingNet", "SingleTaskNet",
           "GlueMultiTaskModel", "SharedTrunkMLP"]
