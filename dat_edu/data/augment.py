"""Batch augmentation for data sets held in memory (or on the GPU) as one tensor.

Every function works on a whole batch at once (no per-image Python loop) and takes an explicit
``torch.Generator`` so that a training run, and a resumed run, draws the same random numbers.
Random numbers are drawn on the generator's device (CPU by default) and moved to the data's
device; they are a few numbers per image, so this costs nothing.

Typical order (what :func:`augment_batch` does): uint8 crop + flip -> :func:`normalize` to
float -> :func:`cutmix` with soft (mixed) targets.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from dat_edu.validate import check_nchw

__all__ = [
    "random_crop",
    "random_flip",
    "normalize",
    "denormalize",
    "one_hot",
    "cutmix",
    "augment_batch",
]


def random_crop(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad each side by ``padding`` and crop back to (H, W) at a random place per image.

    x: (B, C, H, W), any dtype. Returns the same shape and dtype. Two gathers, no loop.
    """
    check_nchw(x, "random_crop")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if padding == 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p), zeros
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    # two 1-D gathers (rows, then columns) are faster than one 4-D advanced index
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = (oy[:, None] + ar_h).view(b, 1, h, 1).expand(b, c, h, w + 2 * padding)
    out = padded.gather(2, rows)  # (B, C, H, W+2p)
    cols = (ox[:, None] + ar_w).view(b, 1, 1, w).expand(b, c, h, w)
    return out.gather(3, cols)  # (B, C, H, W)


def random_flip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image left-right with probability ``p``. x: (B, C, H, W)."""
    check_nchw(x, "random_flip")
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, C, H, W) in 0..255 -> float32 ``(x / 255 - mean) / std`` per channel.

    Float input is taken to be in [0, 1] already. ``mean``/``std`` have one entry per channel.
    """
    check_nchw(x, "normalize")
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ValueError(
            f"mean/std have {len(mean)}/{len(std)} entries but the images have {x.shape[1]} "
            "channels: pass the statistics of this data set"
        )
    xf = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
    return (xf - m) / s


def denormalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Inverse of :func:`normalize`: float (B, C, H, W) -> [0, 1] floats (clamped), for plotting."""
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
    return (x.float() * s + m).clamp(0, 1)


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 (B,) -> float32 (B, K) one-hot targets."""
    return F.one_hot(labels, num_classes).float()


def cutmix(
    x: torch.Tensor,
    targets: torch.Tensor,
    num_classes: int | None = None,
    alpha: float = 1.0,
    prob: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix (Yun et al. 2019) per image: paste a random box from a partner image of the batch.

    x: (B, C, H, W) float. targets: int64 labels (B,) (then pass ``num_classes``) or soft
    targets (B, K). Each image, with probability ``prob``, gets a box of area ``1 - lam`` with
    ``lam ~ Beta(alpha, alpha)`` from image ``perm[i]`` (one random permutation per batch);
    its target becomes ``lam_eff * t_i + (1 - lam_eff) * t_perm[i]`` where ``lam_eff`` is the
    area actually kept after clipping the box to the image. Returns (mixed x, soft targets (B, K)).
    """
    check_nchw(x, "cutmix")
    if targets.ndim == 1:
        if num_classes is None:
            raise ValueError("integer targets need num_classes (the number of classes) for CutMix")
        targets = one_hot(targets, num_classes)
    targets = targets.float().to(x.device)
    b, _, h, w = x.shape
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    perm = torch.randperm(b, generator=generator)
    apply = torch.rand(b, generator=generator) < prob
    # Beta through numpy, seeded from `generator`, so the draw is reproducible (torch's Beta
    # has no generator argument).
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=b)).float()
    cut = torch.sqrt(1.0 - lam)  # box side as a fraction of the image side
    ch, cw = (cut * h).round(), (cut * w).round()
    cy = torch.rand(b, generator=generator) * h
    cx = torch.rand(b, generator=generator) * w
    y0, y1 = (cy - ch / 2).round().clamp(0, h), (cy + ch / 2).round().clamp(0, h)
    x0, x1 = (cx - cw / 2).round().clamp(0, w), (cx + cw / 2).round().clamp(0, w)
    area = (y1 - y0) * (x1 - x0) * apply.float()
    lam_eff = 1.0 - area / (h * w)  # (B,)
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    box = (ys >= y0.view(-1, 1, 1)) & (ys < y1.view(-1, 1, 1)) & (xs >= x0.view(-1, 1, 1)) & (xs < x1.view(-1, 1, 1))
    box = (box & apply.view(-1, 1, 1)).to(x.device).unsqueeze(1)  # (B, 1, H, W)
    perm_d = perm.to(x.device)
    mixed = torch.where(box, x[perm_d], x)
    lam_d = lam_eff.to(x.device).unsqueeze(1)
    soft = lam_d * targets + (1 - lam_d) * targets[perm_d]
    return mixed, soft


def augment_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int,
    crop_padding: int = 4,
    flip: bool = True,
    cutmix_prob: float = 0.0,
    cutmix_alpha: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 batch -> (normalized float32 batch, targets).

    Targets are the int64 labels when CutMix is off (``cutmix_prob == 0``), else soft targets
    (B, K). Works on any device.
    """
    if crop_padding:
        x = random_crop(x, crop_padding, generator)
    if flip:
        x = random_flip(x, 0.5, generator)
    x = normalize(x, mean, std)
    if cutmix_prob > 0:
        return cutmix(x, y, num_classes, cutmix_alpha, cutmix_prob, generator)
    return x, y
