"""Backbones and heads shared by the chapters."""

from mtlnotes.models.backbones import MLP, MultiLeNetEncoder, SimpleConvNet, conv_block
from mtlnotes.models.multitask import HardSharingNet, SingleTaskNet

__all__ = ["MLP", "MultiLeNetEncoder", "SimpleConvNet", "conv_block", "HardSharingNet", "SingleTaskNet"]
