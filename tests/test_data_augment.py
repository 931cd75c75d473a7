"""Batch augmentation: crop, flip, CutMix, normalization; vectorized and seeded."""

from __future__ import annotations

import pytest
import torch

from dat_edu.data import CIFAR10_MEAN, CIFAR10_STD, load_dataset
from dat_edu.data.augment import augment_batch, cutmix, denormalize, normalize, random_crop, random_flip


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_random_crop_is_a_shift_with_zero_padding():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    out = random_crop(x, padding=2, generator=gen(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):  # each output equals some window of the padded image
        found = any(
            torch.equal(out[i], padded[i, :, dy : dy + 6, dx : dx + 6]) for dy in range(5) for dx in range(5)
        )
        assert found
    assert torch.equal(random_crop(x, 0), x)


def test_random_crop_uint8_and_offsets_vary():
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = random_crop(x, 4, gen(0))
    assert out.dtype == torch.uint8
    assert (out == x).all(dim=(1, 2, 3)).float().mean() < 0.2  # most images moved


def test_flip_flips_about_half():
    x = torch.randn(200, 1, 2, 3)
    out = random_flip(x, 0.5, gen(0))
    flipped = (out == x.flip(-1)).all(dim=(1, 2, 3))
    same = (out == x).all(dim=(1, 2, 3))
    assert (flipped | same).all()
    assert 60 < int(flipped.sum()) < 140


def test_seeded_and_reproducible():
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (16,))
    kw = dict(mean=CIFAR10_MEAN, std=CIFAR10_STD, num_classes=10, cutmix_prob=0.5)
    a = augment_batch(x, y, generator=gen(5), **kw)
    b = augment_batch(x, y, generator=gen(5), **kw)
    c = augment_batch(x, y, generator=gen(6), **kw)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_normalize_uses_correct_cifar_statistics():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = normalize(x, CIFAR10_MEAN, CIFAR10_STD)
    expected = torch.tensor([(1 - 0.4914) / 0.2470, (1 - 0.4822) / 0.2435, (1 - 0.4465) / 0.2616])
    assert torch.allclose(out[0, :, 0, 0], expected)
    assert torch.allclose(denormalize(out, CIFAR10_MEAN, CIFAR10_STD), torch.ones(1, 3, 2, 2), atol=1e-6)
    with pytest.raises(ValueError, match="channels"):
        normalize(torch.zeros(1, 1, 2, 2, dtype=torch.uint8), CIFAR10_MEAN, CIFAR10_STD)


def test_cutmix_targets_match_pasted_area():
    b, k = 32, 5
    # image i is constant i: the fraction of pixels equal to i is the kept area
    x = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 1, 16, 16).clone()
    y = torch.arange(b) % k
    mixed, soft = cutmix(x, y, num_classes=k, alpha=1.0, prob=1.0, generator=gen(0))
    assert soft.shape == (b, k)
    assert torch.allclose(soft.sum(1), torch.ones(b))
    kept = (mixed == x).float().mean(dim=(1, 2, 3))
    for i in range(b):
        partner = int(mixed[i].flatten()[(mixed[i].flatten() != i).nonzero()[0]]) if kept[i] < 1 else i
        expect = torch.zeros(k)
        expect[y[i]] += kept[i]
        expect[y[partner]] += 1 - kept[i]
        assert torch.allclose(soft[i], expect, atol=1e-6), i
    assert (kept < 1).any()


def test_cutmix_prob_zero_is_identity_and_needs_num_classes():
    x = torch.randn(4, 3, 8, 8)
    y = torch.tensor([0, 1, 2, 3])
    m, s = cutmix(x, y, 4, prob=0.0, generator=gen(0))
    assert torch.equal(m, x) and torch.equal(s, torch.eye(4))
    with pytest.raises(ValueError, match="num_classes"):
        cutmix(x, y)


def test_augment_bad_shape():
    with pytest.raises(ValueError, match="B, C, H, W"):
        random_crop(torch.zeros(3, 8, 8))


def test_synthetic_and_subset():
    b = load_dataset("synthetic", train_size=20, test_size=10)
    assert b.train.images.shape == (20, 3, 32, 32) and b.num_classes == 10 and b.in_chans == 3
    assert b.train.normalized(0, 4).dtype == torch.float32
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("imagenet")
