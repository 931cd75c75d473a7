"""Where a trained model's deformable blocks look: reference points and sampling positions on the images.

The model returns positions normalized to [-1, 1], last dim (y, x), relative to the feature map the
block reads. They are drawn in image pixels with :func:`dat_edu.sampling.normalized_to_pixel`, with
the block's ``align_corners`` and ``stride`` = image size / feature-map size.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn

from dat_edu.data import DataSplit, denormalize, normalize
from dat_edu.deformable import DeformableAttention
from dat_edu.model import collect_positions, pick_deformable
from dat_edu.sampling import normalized_to_pixel

__all__ = ["plot_sampling_points", "collect_positions", "deformable_inputs"]


@contextmanager
def deformable_inputs(model: nn.Module) -> Iterator[list[tuple[int, int, bool]]]:
    """Record ``(H, W, align_corners)`` of every deformable block call inside the ``with`` block, in order.

    The hooks are removed when the block ends (even on an error).
    """
    records: list[tuple[int, int, bool]] = []

    def hook(mod: DeformableAttention, args: tuple) -> None:
        records.append((args[0].shape[-2], args[0].shape[-1], mod.align_corners))

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, DeformableAttention)]
    try:
        yield records
    finally:
        for h in handles:
            h.remove()


def _to_display(images: torch.Tensor, mean, std) -> tuple[torch.Tensor, np.ndarray]:
    """(model input float, displayable (B, H, W, C) in [0, 1])."""
    if images.dtype == torch.uint8:
        if mean is None or std is None:
            raise ValueError("uint8 images need mean= and std= (the data set statistics) to be normalized")
        x = normalize(images, mean, std)
        show = images.float() / 255
    else:
        x = images.float()
        if mean is not None and std is not None:
            show = denormalize(x, mean, std)
        else:  # unknown statistics: stretch each image to [0, 1]
            lo = x.amin((1, 2, 3), keepdim=True)
            hi = x.amax((1, 2, 3), keepdim=True)
            show = (x - lo) / (hi - lo).clamp_min(1e-8)
    return x, show.permute(0, 2, 3, 1).cpu().numpy()


def plot_sampling_points(
    model: nn.Module,
    images,
    *,
    block: int | None = None,
    groups: Sequence[int] | None = None,
    max_images: int = 4,
    mean=None,
    std=None,
    labels=None,
    classes: Sequence[str] | None = None,
    arrows: bool = True,
    boxes=None,
    radius: float | None = None,
    centres=None,
    title: str | None = None,
) -> plt.Figure:
    """Reference points (hollow circles) and learned sampling positions (red crosses) on images.

    model: returns ``(logits, positions, references)`` for ``return_positions=True``.
    images: float (B, C, H, W) already normalized (give ``mean``/``std`` to show true colours),
    uint8 (B, C, H, W) with ``mean``/``std``, or a DataSplit (its first ``max_images``).
    block: index into the model's per-block lists (default: the last deformable block).
    groups: which offset groups to draw (default: all; one colour per group).
    boxes: optional (B, 4) normalized (y0, x0, y1, x1) object boxes (shapes data) drawn as a frame.
    radius: draw only the points whose reference point lies closer than ``radius`` (normalized
    units) to the image's object centre, the points :func:`dat_edu.data.offset_alignment` averages
    over; ``centres`` (B, 2) normalized (y, x), from the DataSplit's ``centres_norm`` by default.
    Arrows go from each reference point to its sampling position.
    """
    if isinstance(images, DataSplit):
        split = images
        images = split.images[:max_images]
        mean, std = split.mean, split.std
        labels = split.labels[:max_images] if labels is None else labels
        classes = classes or split.classes
        if boxes is None and "boxes_norm" in split.extra:
            boxes = split.extra["boxes_norm"][:max_images]
        if centres is None and "centres_norm" in split.extra:
            centres = split.extra["centres_norm"][:max_images]
    if images.ndim != 4:
        raise ValueError(f"images must be a (B, C, H, W) batch, got {tuple(images.shape)}")
    images = images[:max_images]
    device = next(model.parameters()).device
    x, show = _to_display(images, mean, std)
    with deformable_inputs(model) as maps:
        blocks, pos_list, ref_list = collect_positions(model, x.to(device))
    which = pick_deformable(blocks, block)
    pos, ref = pos_list[which], ref_list[which]  # (B, g, Hk, Wk, 2), (y, x)
    if pos.ndim != 5 or pos.shape[-1] != 2:
        raise ValueError(f"positions must be (B, g, Hk, Wk, 2), got {tuple(pos.shape)}")
    if radius is not None and centres is None:
        raise ValueError("radius= needs the object centres: pass centres= (B, 2) or a shapes DataSplit")
    H, W = show.shape[1:3]
    if len(maps) == len(blocks):  # hooks saw every deformable call: exact feature-map mapping
        hf, wf, ac = maps[which]
    else:
        hf, wf, ac = H, W, False

    def to_pixels(p: torch.Tensor) -> torch.Tensor:  # (..., 2) normalized on the map -> image pixels
        return normalized_to_pixel(p, (hf, wf), ac, stride=(H / hf, W / wf)).reshape(-1, 2)

    g_all = range(pos.shape[1]) if groups is None else groups
    colors = plt.cm.autumn(np.linspace(0, 0.8, max(len(list(g_all)), 1)))
    n = show.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.8), squeeze=False)
    for i, ax in enumerate(axes[0]):
        img = show[i]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                  extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="nearest")
        for gi, g in enumerate(g_all):
            r_i, p_i = ref[i, g].reshape(-1, 2), pos[i, g].reshape(-1, 2)
            if radius is not None:  # only the points near the object
                near = (r_i - torch.as_tensor(centres)[i].to(r_i)).norm(dim=-1) < radius
                r_i, p_i = r_i[near], p_i[near]
            (ry, rx), (py, px) = to_pixels(r_i).T, to_pixels(p_i).T
            ax.scatter(rx, ry, s=28, facecolors="none", edgecolors="cyan", linewidths=1.0,
                       label="reference points" if gi == 0 else None, zorder=3)
            ax.scatter(px, py, s=30, marker="x", color=colors[gi], linewidths=1.4,
                       label=f"sampling positions (group {g})", zorder=4)
            if arrows:
                ax.quiver(rx, ry, px - rx, py - ry, angles="xy", scale_units="xy", scale=1, width=0.004,
                          color=colors[gi], alpha=0.6, zorder=2)
        if boxes is not None:
            # normalized box edges (y0, x0, y1, x1) -> pixel coordinates of those edges
            corners = normalized_to_pixel(torch.as_tensor(boxes)[i].float().view(2, 2), (H, W), False)
            (py0, px0), (py1, px1) = corners.tolist()
            ax.add_patch(plt.Rectangle((px0, py0), px1 - px0, py1 - py0, fill=False, ec="lime", lw=1.5,
                                       ls="--", label="object box"))
        ax.set_xlim(-0.5 - 0.1 * W, W - 0.5 + 0.1 * W)
        ax.set_ylim(H - 0.5 + 0.1 * H, -0.5 - 0.1 * H)
        name = ""
        if labels is not None:
            lab = int(torch.as_tensor(labels)[i])
            name = f"{classes[lab]}" if classes else f"class {lab}"
        ax.set_title(name or f"image {i}")
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    handles_, names_ = axes[0, 0].get_legend_handles_labels()
    ncol = min(len(names_), 3)
    rows = -(-len(names_) // ncol)
    fig.legend(handles_, names_, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    near_text = "" if radius is None else f", points within {radius:g} of the object centre"
    fig.suptitle(title or f"Deformable block {blocks[which]}: references (o) and sampling positions (x){near_text}")
    fig.tight_layout(rect=(0, 0.03 + 0.055 * rows, 1, 1))
    return fig
