"""The backbones shared by chapters: the one VGG16 of RL-AUX and MMF, and the SimpleConvNet blocks of routing."""

from __future__ import annotations

import torch

from mtlnotes.auxiliary.networks import vgg16_trunk
from mtlnotes.hierarchy.backbones import VGG16Stages
from mtlnotes.models.backbones import VGG16_STAGES, SimpleConvNet, conv_block, vgg16_stages


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


def _relu_then_pool(block: torch.nn.Sequential) -> torch.nn.Sequential:
    """The textbook order conv → BN → ReLU → max-pool, sharing ``block``'s conv and BN."""
    return torch.nn.Sequential(block[0], block[1], torch.nn.ReLU(), torch.nn.MaxPool2d(2))


def test_conv_block_pools_before_the_relu_with_identical_outputs_and_gradients():
    torch.manual_seed(0)
    net = SimpleConvNet(1)
    reference = torch.nn.Sequential(*[_relu_then_pool(b) for b in net.blocks])
    assert [type(m) for m in net.blocks[0]] == [torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.MaxPool2d,
                                                 torch.nn.ReLU]
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    weights = torch.randn(16, 32, generator=torch.Generator().manual_seed(2))
    outputs, grads = [], []
    for model in (net.blocks, reference):
        model.zero_grad()
        out = model(x).flatten(1)
        (out * weights).sum().backward()
        outputs.append(out.detach())
        grads.append([p.grad.clone() for p in net.parameters()])
    assert torch.equal(outputs[0], outputs[1])                       # bit for bit, not merely close
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    assert (outputs[0] == 0).any() and (outputs[0] > 0).any()        # the ReLU was active both ways


def test_conv_block_keeps_the_state_dict_keys_of_the_textbook_order():
    assert list(conv_block(1, 4).state_dict()) == list(_relu_then_pool(conv_block(1, 4)).state_dict())
    assert [type(m) for m in conv_block(1, 4, pool=False)] == [torch.nn.Conv2d, torch.nn.BatchNorm2d,
                                                                torch.nn.ReLU]
