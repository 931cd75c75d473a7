"""Lesson 05: one query's attention over its keys, for dense, window, shifted-window and deformable attention.

Queries = keys = the feature map itself (no projections), so the pictures show only what each kind
of attention lets a query see. Every rule comes from the library: the windows, the shift and the
mask from :mod:`dat_edu.windows`, the reference grid and the sampling from :mod:`dat_edu.sampling`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dat_edu.attention import stable_softmax
from dat_edu.sampling import normalized_to_pixel
from dat_edu.validate import pair
from dat_edu.windows import dat_shift, shifted_window_mask, window_partition

from .grids import base_grid, resample

__all__ = ["ATTENTION_KINDS", "AttentionResult", "attention_details", "attention_map"]

ATTENTION_KINDS = ("dense", "window", "shifted", "deformable")


@dataclass
class AttentionResult:
    """What :func:`attention_details` computed for one query.

    weights: (H, W) attention each input pixel receives (0 outside the query's keys).
    key_weights: (Nk,) softmax weights over the keys actually scored.
    key_pixels: (Nk, 2) pixel (y, x) of those keys (fractional for deformable keys).
    """

    weights: torch.Tensor
    key_weights: torch.Tensor
    key_pixels: torch.Tensor
    kind: str
    query: tuple[int, int]


def _window_keys(h: int, w: int, window: int, shift: int, query: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The keys of pixel ``query`` (row-major index) in (shifted) window attention, and their mask bias.

    The block's own steps, applied to pixel indices instead of features: roll by (-shift, -shift),
    cut into windows (:func:`dat_edu.windows.window_partition`), and read the query's row of
    :func:`dat_edu.windows.shifted_window_mask`. Returns the original pixel indices of the keys
    (ascending) and the bias each gets (0 or -100).
    """
    index = torch.arange(h * w).reshape(1, 1, h, w)
    if shift:
        index = torch.roll(index, shifts=(-shift, -shift), dims=(2, 3))
    tokens = window_partition(index, window)[..., 0]  # (nW, N): original pixel of every token
    win, t = (tokens == query).nonzero()[0].tolist()
    keys = tokens[win]  # (N,)
    bias = shifted_window_mask(h, w, window, shift)[win, t] if shift else torch.zeros(keys.shape)
    order = keys.argsort()  # original row-major order
    return keys[order], bias[order]


def attention_details(
    x: torch.Tensor,
    query: tuple[int, int],
    kind: str = "dense",
    *,
    window: int = 4,
    shift: int | None = None,
    positions: torch.Tensor | None = None,
    scale: float | None = None,
) -> AttentionResult:
    """One query pixel's softmax attention over its keys, with queries = keys = ``x`` (no projections).

    x: (C, H, W) feature map; query = (i, j) pixel; scores = q . k * scale, scale = C ** -0.5.
    kind:
      "dense": keys are all H*W pixels (ViT).
      "window": keys are the pixels of the query's window x window block (Swin W-MSA).
      "shifted": Swin SW-MSA: windows of the map rolled by -shift (default DAT's
        :func:`dat_edu.windows.dat_shift`, ceil(window / 2)); keys from a different region after the
        roll get -100 (the block's mask, :func:`dat_edu.windows.shifted_window_mask`).
      "deformable": keys are bilinear samples of x at ``positions`` (hk, wk, 2), normalized (y, x),
        align_corners=True as in the official block (default: the official reference grid over
        H x W). A sampled key mixes its 4 neighbouring pixels, so its weight is spread over them
        with the bilinear weights: the map shows the attention each *input pixel* receives.
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (C, H, W), got shape {tuple(x.shape)}: drop the batch dim")
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"kind must be one of {ATTENTION_KINDS}, got {kind!r}")
    c, h, w = x.shape
    i, j = (int(v) for v in pair(query, "query"))
    if not (0 <= i < h and 0 <= j < w):
        raise ValueError(f"query {(i, j)} is outside the {h}x{w} map: pick 0 <= i < {h}, 0 <= j < {w}")
    scale = c**-0.5 if scale is None else float(scale)
    x = x.float()
    tokens = x.reshape(c, h * w)  # (C, HW)
    q = x[:, i, j]  # (C,)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pix = torch.stack([ys, xs], -1).reshape(-1, 2).float()  # (HW, 2) pixel (y, x)

    if kind == "deformable":
        if positions is None:
            positions = base_grid(h, w, align_corners=False)  # official reference grid, stride 1
        if positions.dim() != 3 or positions.shape[-1] != 2:
            raise ValueError(f"positions must be (hk, wk, 2) in (y, x), got {tuple(positions.shape)}")
        # Sampling matrix S (Nk, HW): sampling the identity "image" gives every key's bilinear
        # weights on every pixel, so keys = tokens @ S.T and pixel weights = a @ S.
        eye = torch.eye(h * w).reshape(h * w, h, w)
        S = resample(eye, positions, align_corners=True).reshape(h * w, -1).T  # (Nk, HW)
        keys = tokens @ S.T  # (C, Nk)
        a = stable_softmax(q @ keys * scale, dim=0)  # (Nk,)
        weights = (a @ S).reshape(h, w)
        key_pixels = normalized_to_pixel(positions.reshape(-1, 2).float(), (h, w), align_corners=True)
        return AttentionResult(weights, a, key_pixels, kind, (i, j))

    scores = q @ tokens * scale  # (HW,)
    if kind == "dense":
        keys, bias = torch.arange(h * w), torch.zeros(h * w)
    else:
        s = 0 if kind == "window" else (dat_shift(window) if shift is None else int(shift))
        keys, bias = _window_keys(h, w, window, s, i * w + j)
    a = stable_softmax(scores[keys] + bias, dim=0)  # (Nk,)
    weights = torch.zeros(h * w)
    weights[keys] = a
    return AttentionResult(weights.reshape(h, w), a, pix[keys], kind, (i, j))


def attention_map(x: torch.Tensor, query: tuple[int, int], kind: str = "dense", **options) -> torch.Tensor:
    """(H, W) attention weights of pixel ``query`` over the keys: :func:`attention_details` ``.weights``
    (same keyword options: ``window``, ``shift``, ``positions``, ``scale``)."""
    return attention_details(x, query, kind, **options).weights
