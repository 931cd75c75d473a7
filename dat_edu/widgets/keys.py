"""Lesson 04: offsets set by hand on a key grid, bounded exactly as the deformable block bounds them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dat_edu.offsets import bound_offsets
from dat_edu.validate import pair

from .grids import base_grid, resample

__all__ = ["KeyGrid", "offset_key_grid", "sampled_features"]


@dataclass
class KeyGrid:
    """Key positions of one offset group; all (hk, wk, 2), normalized, (y, x).

    reference: the uniform reference points (official centre formula).
    raw: what the offset network would output, before tanh (Δy, Δx).
    offset: tanh(raw) * range_factor * (1/hk, 1/wk), so |offset_y| < range_factor / hk.
    pos: reference + offset, the points the block samples.
    bound: (2,) the largest possible |offset| per axis, range_factor * (1/hk, 1/wk).
    """

    reference: torch.Tensor
    raw: torch.Tensor
    offset: torch.Tensor
    pos: torch.Tensor
    bound: torch.Tensor


def offset_key_grid(
    hk: int,
    wk: int,
    global_shift: tuple[float, float] = (0.0, 0.0),
    jitter: float = 0.0,
    seed: int = 0,
    range_factor: float = 2.0,
    group: int = 0,
    n_groups: int = 1,
) -> KeyGrid:
    """Hand-made offsets on an hk x wk key grid, bounded as in the DAT block.

    raw offsets (Δy, Δx) = ``global_shift`` + ``jitter`` * N(0, 1), in the units the offset
    network outputs (before tanh). The random field is drawn per group from ``seed`` and
    ``group`` only, so every group has its own offsets (all heads of a group share them), and
    changing ``n_groups`` does not change group 0. Then offset = tanh(raw) * range_factor / (hk, wk)
    and pos = reference + offset, exactly steps 3-4 of the block.
    """
    if hk < 1 or wk < 1:
        raise ValueError(f"key grid must be at least 1x1, got {hk}x{wk}")
    if n_groups < 1 or not 0 <= group < n_groups:
        raise ValueError(f"group must be in [0, {n_groups - 1}] for n_groups={n_groups}, got {group}")
    dy, dx = (float(v) for v in pair(global_shift, "global_shift"))
    reference = base_grid(hk, wk, align_corners=False)  # (hk, wk, 2), official centre formula
    gen = torch.Generator().manual_seed(int(seed) * 1000 + int(group))  # one field per group
    noise = torch.randn(hk, wk, 2, generator=gen)
    raw = torch.tensor([dy, dx]) + float(jitter) * noise  # (hk, wk, 2), (Δy, Δx)
    # the block's bound (it also rejects factors <= 0, as the block does), on the network's layout
    offset = bound_offsets(raw.permute(2, 0, 1)[None], range_factor)[0].permute(1, 2, 0)  # (hk, wk, 2)
    bound = float(range_factor) * torch.tensor([1.0 / hk, 1.0 / wk])  # per channel, normalized
    return KeyGrid(reference=reference, raw=raw, offset=offset, pos=reference + offset, bound=bound)


def sampled_features(feature_map: torch.Tensor, pos: torch.Tensor, align_corners: bool = True) -> torch.Tensor:
    """The features at key positions: (C, H, W) map, (hk, wk, 2) (y, x) positions -> (C, hk, wk).

    Bilinear, zeros outside, ``align_corners=True`` by default as in the official block.
    """
    return resample(feature_map, pos, align_corners=align_corners)
