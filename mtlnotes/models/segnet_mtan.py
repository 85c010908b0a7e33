"""SegNet-based MTAN (Liu et al., 2019, "End-to-End Multi-Task Learning with Attention", §3 and Fig. 2), the NYUv2
network of the Nash-MTL experiments (Navon et al., 2022, §6.3, which use MTAN's official ``SegNetMTAN``).

Shared network: a SegNet encoder–decoder (VGG-style 3×3 conv–BN–ReLU blocks, filters 64-128-256-512-512, max-pooling
with indices in the encoder, max-unpooling in the decoder). Task-specific: per task, soft attention modules
(1×1 conv–BN–ReLU, 1×1 conv–BN–sigmoid) that mask the shared features at every encoder and decoder stage, and a
prediction layer (3×3 conv, 1×1 conv). The attended-feature convolutions between stages (``encoder_block_att``,
``decoder_block_att``) are shared by the tasks, as in the official code. Outputs: segmentation log-probabilities
(B, C, H, W), depth (B, 1, H, W), unit surface normals (B, 3, H, W). H and W must be divisible by 32.

``filters`` can be shrunk for tests; the paper uses the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SegNetMTAN", "NYUV2_TASKS"]

NYUV2_TASKS = ("segmentation", "depth", "normal")
_OUT_CHANNELS = {"depth": 1, "normal": 3}


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=False))


def _att(c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_mid, 1), nn.BatchNorm2d(c_mid), nn.ReLU(inplace=False),
                         nn.Conv2d(c_mid, c_out, 1), nn.BatchNorm2d(c_out), nn.Sigmoid())


def _pred(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1), nn.Conv2d(c_in, c_out, 1))


class SegNetMTAN(nn.Module):
    """MTAN on SegNet (module docstring). ``tasks``: a subset of :data:`NYUV2_TASKS` (one task gives the
    single-task baseline with the same architecture); ``forward(x)`` returns one output per task, in order."""

    def __init__(self, tasks: Sequence[str] = NYUV2_TASKS, n_classes: int = 13,
                 filters: Sequence[int] = (64, 128, 256, 512, 512)) -> None:
        super().__init__()
        tasks = tuple(tasks)
        if not tasks or any(t not in NYUV2_TASKS for t in tasks) or len(set(tasks)) != len(tasks):
            raise ValueError(f"tasks must be distinct names from {NYUV2_TASKS}, got {tasks}")
        if len(filters) != 5:
            raise ValueError(f"need 5 filter sizes (one per SegNet stage), got {len(filters)}")
        f = list(filters)
        self.tasks, self.n_classes = tasks, n_classes
        # shared SegNet
        self.encoder_block = nn.ModuleList([_conv(3, f[0])] + [_conv(f[i], f[i + 1]) for i in range(4)])
        self.decoder_block = nn.ModuleList([_conv(f[0], f[0])] + [_conv(f[i + 1], f[i]) for i in range(4)])
        self.conv_block_enc = nn.ModuleList([_conv(f[0], f[0])] + [
            _conv(f[i + 1], f[i + 1]) if i == 0 else nn.Sequential(_conv(f[i + 1], f[i + 1]), _conv(f[i + 1], f[i + 1]))
            for i in range(4)])
        self.conv_block_dec = nn.ModuleList([_conv(f[0], f[0])] + [
            _conv(f[i], f[i]) if i == 0 else nn.Sequential(_conv(f[i], f[i]), _conv(f[i], f[i])) for i in range(4)])
        self.encoder_block_att = nn.ModuleList([_conv(f[0], f[1])] + [
            _conv(f[i + 1], f[i + 2]) if i < 3 else _conv(f[i + 1], f[i + 1]) for i in range(4)])
        self.decoder_block_att = nn.ModuleList([_conv(f[0], f[0])] + [_conv(f[i + 1], f[i]) for i in range(4)])
        # task-specific attention and prediction
        self.encoder_att = nn.ModuleList([nn.ModuleList([_att(f[0], f[0], f[0])] + [
            _att(2 * f[j + 1], f[j + 1], f[j + 1]) for j in range(4)]) for _ in tasks])
        self.decoder_att = nn.ModuleList([nn.ModuleList([_att(2 * f[0], f[0], f[0])] + [
            _att(f[j + 1] + f[j], f[j], f[j]) for j in range(4)]) for _ in tasks])
        self.pred = nn.ModuleList([_pred(f[0], n_classes if t == "segmentation" else _OUT_CHANNELS[t]) for t in tasks])

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def task_parameters(self, k: int | None = None) -> list[nn.Parameter]:
        """Parameters of task ``k`` (attention modules and prediction layer); all tasks' when ``k`` is None."""
        ks = range(self.n_tasks) if k is None else [k]
        return [p for i in ks for m in (self.encoder_att[i], self.decoder_att[i], self.pred[i]) for p in m.parameters()]

    def shared_parameters(self) -> list[nn.Parameter]:
        own = {id(p) for p in self.task_parameters()}
        return [p for p in self.parameters() if id(p) not in own]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"height and width must be multiples of 32 (5 poolings), got {tuple(x.shape[-2:])}")
        enc, pooled, indices = [], [], []
        h = x
        for i in range(5):
            a = self.encoder_block[i](h)
            b = self.conv_block_enc[i](a)
            h, idx = F.max_pool2d(b, 2, 2, return_indices=True)
            enc.append((a, b))
            pooled.append(h)
            indices.append(idx)
        dec, ups = [], []
        for i in range(5):
            up = F.max_unpool2d(h, indices[-i - 1], 2, 2)
            a = self.decoder_block[-i - 1](up)
            h = self.conv_block_dec[-i - 1](a)
            ups.append(up)
            dec.append(h)
        outs = []
        for t, task in enumerate(self.tasks):
            att = None
            for j in range(5):
                inp = enc[j][0] if j == 0 else torch.cat([enc[j][0], att], dim=1)
                att = F.max_pool2d(self.encoder_block_att[j](self.encoder_att[t][j](inp) * enc[j][1]), 2, 2)
            for j in range(5):
                att = self.decoder_block_att[-j - 1](F.interpolate(att, scale_factor=2, mode="bilinear",
                                                                   align_corners=True))
                att = self.decoder_att[t][-j - 1](torch.cat([ups[j], att], dim=1)) * dec[j]
            out = self.pred[t](att)
            if task == "segmentation":
                out = F.log_softmax(out, dim=1)
            elif task == "normal":
                out = out / out.norm(p=2, dim=1, keepdim=True).clamp(min=1e-12)
            outs.append(out)
        return outs
