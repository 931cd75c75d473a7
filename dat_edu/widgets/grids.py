"""Lesson 03: sampling grids moved, scaled and rotated by hand, and what they read.

Positions are normalized to [-1, 1] and stored last-dim (y, x), as everywhere in dat_edu;
:func:`dat_edu.sampling.sample_features` does the one (y, x) -> (x, y) swap for ``F.grid_sample``.
"""

from __future__ import annotations

import math

import torch

from dat_edu.sampling import aligned_grid, reference_grid, sample_features
from dat_edu.validate import pair

__all__ = ["base_grid", "transform_grid", "transform_points", "resample"]


def base_grid(h: int, w: int, *, align_corners: bool = False) -> torch.Tensor:
    """Identity sampling grid (h, w, 2) in normalized (y, x).

    align_corners=False: pixel centres ((i + 0.5) / h) * 2 - 1 (the official reference formula);
    align_corners=True: i / (h - 1) * 2 - 1 (0 when h == 1). Either way, resampling an h x w
    image with its own base grid and the same ``align_corners`` returns the image unchanged.
    """
    return aligned_grid(h, w) if align_corners else reference_grid(h, w)


def transform_grid(
    h: int,
    w: int,
    shift: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    angle_deg: float = 0.0,
    *,
    align_corners: bool = False,
    image_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """A moved, scaled and rotated sampling grid: (h, w, 2), normalized, (y, x).

    Each base-grid point p (see :func:`base_grid`) goes to ``shift + R(angle) @ (scale * p)``:
    scale about the image centre, rotate about it, then move by ``shift = (dy, dx)`` in
    normalized units (dx = 1 moves the grid by half the image width).
    ``angle_deg > 0`` turns the grid counter-clockwise *on screen* (y points down). The rotation
    is done in pixel-proportional units so it stays a rigid rotation on a non-square image;
    ``image_size=(H, W)`` is the image it will sample (default: same aspect as the grid).
    """
    g = base_grid(h, w, align_corners=align_corners)
    return transform_points(g, shift, scale, angle_deg, image_size=(h, w) if image_size is None else image_size)


def transform_points(
    points_yx: torch.Tensor,
    shift: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    angle_deg: float = 0.0,
    *,
    image_size: tuple[int, int],
) -> torch.Tensor:
    """Apply ``shift + R(angle) @ (scale * p)`` to normalized (y, x) points (..., 2); see transform_grid."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}: use a small positive value to zoom in")
    dy, dx = (float(v) for v in pair(shift, "shift"))
    ih, iw = pair(image_size, "image_size")
    # normalized -> pixel-proportional (a normalized unit is H/2 px in y but W/2 px in x)
    y, x = points_yx[..., 0] * scale * ih, points_yx[..., 1] * scale * iw
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    # counter-clockwise on screen with y down: (x, y) -> (c x + s y, -s x + c y)
    xr, yr = c * x + s * y, -s * x + c * y
    return torch.stack([yr / ih + dy, xr / iw + dx], dim=-1)  # (..., 2), (y, x)


def resample(
    image: torch.Tensor,
    grid_yx: torch.Tensor,
    align_corners: bool,
) -> torch.Tensor:
    """Bilinearly sample ``image`` (C, H, W) at ``grid_yx`` (h, w, 2), normalized (y, x) -> (C, h, w).

    Points outside [-1, 1] read zeros (``padding_mode="zeros"``), like the DAT block.
    Uses :func:`dat_edu.sampling.sample_features` (``F.grid_sample``).
    """
    if image.dim() != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}: drop the batch dim")
    if grid_yx.dim() != 3 or grid_yx.shape[-1] != 2:
        raise ValueError(f"grid_yx must be (h, w, 2) in (y, x), got shape {tuple(grid_yx.shape)}")
    # dat_edu.sampling.sample_features swaps (y, x) -> (x, y) for grid_sample in one named place
    return sample_features(image[None], grid_yx[None].to(image.dtype), align_corners=align_corners)[0]  # (C, h, w)
