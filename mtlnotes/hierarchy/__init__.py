"""Hierarchical classification with multiple label structures: MMF (Li, Zhou, Zhou & Wang, ICANN 2021).

* :mod:`~mtlnotes.hierarchy.structures` — three-level label structures (§3.1).
* :mod:`~mtlnotes.hierarchy.affinity` — the affinity-based structure H_A (§3.3, Eqs. 1–2).
* :mod:`~mtlnotes.hierarchy.metrics` — Acc, F_Ha, TIE_a, LCA_a for M structures (§3.4, Eqs. 3–6).
* :mod:`~mtlnotes.hierarchy.backbones`, :mod:`~mtlnotes.hierarchy.model`, :mod:`~mtlnotes.hierarchy.train` —
  five-stage backbones, the MMF model and its loss (Eq. 7), training.
* :mod:`~mtlnotes.hierarchy.topdown` — Greedy and N-Best-Path baselines with kernel SVMs (§4.3).
* :mod:`~mtlnotes.hierarchy.tasks` — the datasets of §4.1 and their semantic structures (H_S, H_T, H_M).
* :mod:`~mtlnotes.hierarchy.protocol` — the protocol of §4: Tables 2–3 row names, training and evaluating one
  backbone's models, summaries over seeds.
"""

from mtlnotes.hierarchy.affinity import (ClassStatistics, affinity_matrix, affinity_structure, class_distances,
                                         class_statistics, spectral_superclasses)
from mtlnotes.hierarchy.backbones import (FiveStageBackbone, ResNet50Stages, SmallFiveStageCNN, VGG16Stages,
                                          make_backbone)
from mtlnotes.hierarchy.metrics import hierarchical_metrics, hierarchical_precision_recall, lca_height, tie_distance
from mtlnotes.hierarchy.model import MMFNet, SuperclassBranch, mmf_loss
from mtlnotes.hierarchy.structures import LabelStructure, structure_from_groups, structure_from_labels
from mtlnotes.hierarchy.topdown import TopDownSVM
from mtlnotes.hierarchy.train import TrainSettings, extract_features, predict_classes, train_mmf

__all__ = [
    "ClassStatistics", "affinity_matrix", "affinity_structure", "class_distances", "class_statistics",
    "spectral_superclasses", "FiveStageBackbone", "ResNet50Stages", "SmallFiveStageCNN", "VGG16Stages",
    "make_backbone", "hierarchical_metrics", "hierarchical_precision_recall", "lca_height", "tie_distance", "MMFNet",
    "SuperclassBranch", "mmf_loss", "LabelStructure", "structure_from_groups", "structure_from_labels", "TopDownSVM",
    "TrainSettings", "extract_features", "predict_classes", "train_mmf",
]
