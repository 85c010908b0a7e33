"""Medical image segmentation with an auxiliary edge task: GLUNet (Wang & Quan, ICANN 2021) and its parts."""

from mtlnotes.segmentation.attention import CBAM, GAM, TABLE5_VARIANTS, ChannelAttention, ResBlock, SpatialAttention
from mtlnotes.segmentation.baselines import MODEL_NAMES, make_model
from mtlnotes.segmentation.edges import edge_targets
from mtlnotes.segmentation.glunet import LEDM, EdgeBlock, GLUNet
from mtlnotes.segmentation.loss import glunet_loss
from mtlnotes.segmentation.lovasz import lovasz_grad, lovasz_softmax
from mtlnotes.segmentation.metrics import METRIC_NAMES, SegmentationScores, segmentation_scores

__all__ = ["CBAM", "GAM", "TABLE5_VARIANTS", "ChannelAttention", "ResBlock", "SpatialAttention", "MODEL_NAMES",
           "make_model", "edge_targets", "LEDM", "EdgeBlock", "GLUNet", "glunet_loss", "lovasz_grad",
           "lovasz_softmax", "METRIC_NAMES", "SegmentationScores", "segmentation_scores"]
