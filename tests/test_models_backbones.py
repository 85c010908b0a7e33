"""The book's one VGG16: RL-AUX's trunk and MMF's five-stage backbone are the same network."""

from __future__ import annotations

import torch

from mtlnotes.auxiliary.networks import vgg16_trunk
from mtlnotes.hierarchy.backbones import VGG16Stages
from mtlnotes.models.backbones import VGG16_STAGES, vgg16_stages


def test_vgg16_has_configuration_d_with_batchnorm():
    convs = [m for stage in vgg16_stages(3) for m in stage if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [w for block in VGG16_STAGES for w in block]
    assert len(convs) == 13 and all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)


def test_rl_aux_trunk_and_mmf_backbone_are_one_network():
    torch.manual_seed(0)
    trunk = vgg16_trunk(3).eval()
    torch.manual_seed(0)
    stages = VGG16Stages(3).eval()
    assert [p.shape for p in trunk.parameters()] == [p.shape for p in stages.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(trunk.parameters(), stages.parameters()))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(trunk(x), stages(x)[-1].mean(dim=(2, 3)))
