"""The one crop-and-flip augmentation: a shifted window of the zero-padded image, flipped for about half the
images, drawn from the generator exactly like a per-image loop."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mtlnotes.data.augment import random_crop_flip


def test_random_crop_flip_is_a_shifted_window():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    out = random_crop_flip(x, torch.Generator().manual_seed(0), pad=2, flip=False)
    padded = F.pad(x, (2, 2, 2, 2))
    for b in range(2):
        assert any(torch.equal(out[b], padded[b, :, i:i + 6, j:j + 6]) for i in range(5) for j in range(5))


def test_random_crop_flip_equals_a_per_image_loop_with_the_same_draws():
    """Offsets dy, dx, then the flips, drawn in that order: the vectorised gather equals slicing image by image."""
    x = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    out = random_crop_flip(x, torch.Generator().manual_seed(7), pad=4)
    gen = torch.Generator().manual_seed(7)
    dy, dx = torch.randint(0, 9, (5,), generator=gen), torch.randint(0, 9, (5,), generator=gen)
    flip = torch.rand(5, generator=gen) < 0.5
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(5):
        crop = padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8]
        assert torch.equal(out[i], crop.flip(-1) if flip[i] else crop)


def test_the_chapters_use_the_one_augmentation():
    from mtlnotes.auxiliary import random_crop_flip as rl_aux_name
    from mtlnotes.hierarchy.train import augment_batch
    x = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    assert rl_aux_name is random_crop_flip
    assert torch.equal(augment_batch(x, torch.Generator().manual_seed(3)),
                       random_crop_flip(x, torch.Generator().manual_seed(3)))
