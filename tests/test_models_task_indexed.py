"""Task-indexed networks (mtlnotes.models.task_indexed): ``model(inputs, task)`` uses the shared part and task's
own head only; the GLUE model reads the first token (Glover & Hokamp, 2019, §4.2)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from mtlnotes.models.task_indexed import GlueMultiTaskModel, SharedTrunkMLP


def test_shared_trunk_mlp_routes_each_task_to_its_own_head():
    torch.manual_seed(0)
    model = SharedTrunkMLP((16, 8), (10, 2, 3))
    x = torch.rand(5, 1, 28, 28)
    outs = [model(x, k) for k in range(3)]
    assert [tuple(o.shape) for o in outs] == [(5, 10), (5, 2), (5, 3)]
    shared = torch.relu(model.trunk[1](x.flatten(1)))            # Flatten -> MLP 784-16-8 -> ReLU, by hand
    assert torch.equal(model.trunk(x), shared)
    torch.testing.assert_close(outs[1], shared @ model.heads[1].weight.T + model.heads[1].bias)
    with torch.no_grad():                                        # another task's head does not matter
        model.heads[2].weight.add_(1.0)
    assert torch.equal(model(x, 1), outs[1]) and not torch.equal(model(x, 2), outs[2])
    assert torch.equal(model(x.flatten(1), 0), outs[0])          # (B, 784) input is the same as (B, 1, 28, 28)


class _PerToken(nn.Module):
    """Each token's hidden vector is its embedding: last_hidden_state (B, L, 4)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)

    def forward(self, input_ids):
        return SimpleNamespace(last_hidden_state=self.emb(input_ids))


def test_glue_model_uses_the_first_tokens_hidden_vector():
    torch.manual_seed(0)
    enc = _PerToken()
    model = GlueMultiTaskModel(enc, 4, [2, 1])
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    out = model({"input_ids": ids}, 0)
    head = model.heads[0]
    torch.testing.assert_close(out, enc.emb.weight[[1, 4]] @ head.weight.T + head.bias)
    later = torch.tensor([[1, 9, 9], [4, 0, 0]])                 # same first tokens, other later tokens
    assert torch.equal(model({"input_ids": later}, 0), out)
    assert model({"input_ids": ids}, 1).shape == (2, 1)          # STS-B style regression head
