"""Figures of the lessons' widgets and experiments: sampling grids (03), key grids (04), one query's
attention (05), receptive fields (07).

The widgets of :mod:`dat_edu.widgets` draw with these functions; a lesson can also call them
directly with the values a learner would set on the sliders. Pass ``fig`` (a matplotlib
``Figure``) to draw into it, or leave it out for a new pyplot figure.
"""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.lines import Line2D

from dat_edu.sampling import normalized_to_pixel
from dat_edu.validate import check_divisible
from dat_edu.widgets.grids import resample, transform_grid, transform_points
from dat_edu.widgets.keys import KeyGrid, sampled_features
from dat_edu.widgets.probes import AttentionResult
from dat_edu.windows import dat_shift

__all__ = ["plot_sampling_grid", "plot_key_grid", "plot_attention", "draw_receptive_fields"]


def _new_figure(fig: Any, figsize: tuple[float, float]) -> Any:
    if fig is not None:
        return fig
    return plt.figure(figsize=figsize, layout="constrained")


def _rgb(image: torch.Tensor) -> Any:
    """(C, H, W) tensor -> numpy image for imshow (matplotlib warns when handed torch tensors)."""
    img = image.detach().float().clamp(0, 1)
    return img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()


def plot_sampling_grid(
    image: torch.Tensor,
    *,
    shift: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    angle_deg: float = 0.0,
    align_corners: bool = False,
    out_size: tuple[int, int] = (120, 102),
    n_points: tuple[int, int] = (9, 9),
    fig: Any = None,
) -> Any:
    """Left: the photo with the sampling grid (points + frame); right: what the grid reads."""
    H, W = image.shape[-2:]
    fig = _new_figure(fig, (10, 4.8))
    ax0, ax1 = fig.subplots(1, 2)
    kw = dict(shift=shift, scale=scale, angle_deg=angle_deg, align_corners=align_corners, image_size=(H, W))
    pts = normalized_to_pixel(transform_grid(*n_points, **kw), (H, W), align_corners).numpy()  # (h, w, 2) px (y, x)
    # frame: where the normalized corners (+-1, +-1) of the sampled region land
    corners = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    frame = normalized_to_pixel(transform_points(corners, shift, scale, angle_deg, image_size=(H, W)), (H, W), align_corners).numpy()
    ax0.imshow(_rgb(image))
    ax0.plot(frame[:, 1], frame[:, 0], "-", color="yellow", lw=2, label="sampled region")
    ax0.scatter(pts[..., 1].flatten(), pts[..., 0].flatten(), s=14, c="red", marker="o", label="grid points")
    ax0.scatter(pts[0, 0, 1], pts[0, 0, 0], s=80, c="cyan", marker="s", label="grid[0, 0]")
    ax0.set_xlim(-0.5 - 0.25 * W, W - 0.5 + 0.25 * W)
    ax0.set_ylim(H - 0.5 + 0.25 * H, -0.5 - 0.25 * H)
    ax0.set_title(f"grid over the photo (align_corners={align_corners})")
    ax0.set_xlabel("x (pixels)")
    ax0.set_ylabel("y (pixels)")
    ax0.legend(loc="lower right", fontsize=8)
    out = resample(image, transform_grid(*out_size, **kw), align_corners=align_corners)
    ax1.imshow(_rgb(out))  # _rgb returns numpy: matplotlib warns on torch tensors
    ax1.set_title(f"resampled {out_size[0]}x{out_size[1]} (zeros outside)")
    ax1.set_xlabel("output column")
    ax1.set_ylabel("output row")
    fig.suptitle(f"shift (dy, dx)=({shift[0]:.2f}, {shift[1]:.2f}), scale={scale:.2f}, angle={angle_deg:.0f} deg")
    return fig


def plot_key_grid(
    feature_map: torch.Tensor,
    key_grid: KeyGrid,
    *,
    group: int = 0,
    n_groups: int | None = None,
    fig: Any = None,
) -> Any:
    """Reference points vs sampled positions of one group over its channel(s), and the features they carry.

    Group ``group`` owns channels [group * Cg, (group + 1) * Cg) of the map (Cg = C / n_groups);
    the plots show the mean over those channels.
    """
    C, H, W = feature_map.shape
    n_groups = C if n_groups is None else n_groups
    check_divisible(C, "channels", n_groups, "groups", "each offset group reads the same number of channels")
    cg = C // n_groups
    fmap = feature_map[group * cg : (group + 1) * cg]  # this group's channels
    fig = _new_figure(fig, (13, 4.2))
    ax0, ax1, ax2 = fig.subplots(1, 3)
    # numpy everywhere below: matplotlib warns (DeprecationWarning) when handed torch tensors
    ref = normalized_to_pixel(key_grid.reference, (H, W), align_corners=True).reshape(-1, 2).numpy()
    pos = normalized_to_pixel(key_grid.pos, (H, W), align_corners=True).reshape(-1, 2).numpy()
    im = ax0.imshow(fmap.mean(0).numpy(), cmap="gray", vmin=0, vmax=1)
    ax0.quiver(ref[:, 1], ref[:, 0], pos[:, 1] - ref[:, 1], pos[:, 0] - ref[:, 0], angles="xy",
               scale_units="xy", scale=1, color="orange", width=0.005)
    size = 40 if len(ref) <= 100 else 14  # smaller markers for dense (stride 1) key grids
    ax0.scatter(ref[:, 1], ref[:, 0], s=size, facecolors="none", edgecolors="cyan", marker="o", label="reference points")
    ax0.scatter(pos[:, 1], pos[:, 0], s=size, c="red", marker="x", label="sampled positions")
    ax0.set_xlim(-1.5, W + 0.5)
    ax0.set_ylim(H + 0.5, -1.5)
    chans = f"channel {group * cg}" if cg == 1 else f"channels {group * cg}..{(group + 1) * cg - 1}"
    ax0.set_title(f"group {group} samples its {chans}")
    ax0.set_xlabel("x (pixels)")
    ax0.set_ylabel("y (pixels)")
    ax0.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)  # below: keep the map clear
    fig.colorbar(im, ax=ax0, fraction=0.046, label="feature value")
    at_ref = sampled_features(fmap, key_grid.reference).mean(0).numpy()
    at_pos = sampled_features(fmap, key_grid.pos).mean(0).numpy()
    for ax, vals, title in ((ax1, at_ref, "features at reference points"), (ax2, at_pos, "features at sampled positions")):
        im = ax.imshow(vals, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.set_xlabel("key column")
        ax.set_ylabel("key row")
        fig.colorbar(im, ax=ax, fraction=0.046, label="feature value")
    by, bx = (float(b) for b in key_grid.bound)
    fig.suptitle(f"key grid {tuple(key_grid.pos.shape[:2])}, bound |Δ| < ({by:.3f}, {bx:.3f}) normalized")
    return fig


def plot_attention(
    image: torch.Tensor,
    result: AttentionResult,
    *,
    window: int = 4,
    shift: int | None = None,
    fig: Any = None,
) -> Any:
    """Left: the (small) image with the query (star) and its keys; right: the attention map with colour bar."""
    H, W = result.weights.shape
    fig = _new_figure(fig, (10, 4.6))
    ax0, ax1 = fig.subplots(1, 2)
    i, j = result.query
    ax0.imshow(_rgb(image))
    kp = result.key_pixels.numpy()
    if result.kind == "deformable":
        ax0.scatter(kp[:, 1], kp[:, 0], s=18, c="cyan", marker="x", label="sampled keys")
    else:
        ax0.scatter(kp[:, 1], kp[:, 0], s=14, facecolors="none", edgecolors="cyan", marker="o", label="keys")
    ax0.scatter([j], [i], s=220, c="yellow", marker="*", edgecolors="black", label="query")
    ax0.set_title(f"query {result.query} and its {len(kp)} keys")
    ax0.set_xlabel("x (pixels)")
    ax0.set_ylabel("y (pixels)")
    ax0.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)  # below the image
    im = ax1.imshow(result.weights.numpy(), cmap="viridis")
    ax1.scatter([j], [i], s=220, c="yellow", marker="*", edgecolors="black", label="query")
    if result.kind in ("window", "shifted"):
        s = 0 if result.kind == "window" else (dat_shift(window) if shift is None else shift)
        # window borders in original coordinates: rolled borders k * window sit at k * window + s
        for b in range(s % window, H + 1, window):
            ax1.axhline(b - 0.5, color="white", lw=0.8)
        for b in range(s % window, W + 1, window):
            ax1.axvline(b - 0.5, color="white", lw=0.8)
    ax1.set_xlim(-0.5, W - 0.5)
    ax1.set_ylim(H - 0.5, -0.5)
    ax1.set_title(f"{result.kind} attention of the query (sum={float(result.weights.sum()):.3f})")
    ax1.set_xlabel("key x (pixels)")
    ax1.set_ylabel("key y (pixels)")
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8)
    fig.colorbar(im, ax=ax1, fraction=0.046, label="attention weight")
    return fig


def draw_receptive_fields(
    fields: dict[str, torch.Tensor],
    queries: Sequence[tuple[int, int]],
    points: dict[str, torch.Tensor] | None = None,
    gamma: float = 0.5,
    colors: Sequence[str] = ("red", "deepskyblue", "lime", "orange"),
):
    """Draw receptive fields: one row per query, one column per operator, one shared colour bar.

    fields: name -> (Q, H, W) from :func:`receptive_fields`. points: optional name -> pixel
    positions (y, x) to mark with crosses, (P, 2) shared by all queries (DAT's sampled keys) or
    (Q, P, 2) one set per query (DCN's taps). ``gamma`` < 1
    brightens small values (the colour bar shows RF**gamma). Returns the figure (call plt.show()).
    """
    names = list(fields)
    nq = len(queries)
    fig, axes = plt.subplots(nq, len(names), figsize=(3.1 * len(names), 3.0 * nq + 0.6), squeeze=False)
    im = None
    for col, name in enumerate(names):
        for row, (qi, qj) in enumerate(queries):
            ax = axes[row][col]
            im = ax.imshow(fields[name][row].clamp(min=0) ** gamma, cmap="magma", vmin=0, vmax=1)
            ax.plot(qj, qi, marker="*", markersize=16, color=colors[row % len(colors)],
                    markeredgecolor="white", linestyle="none")
            if points is not None and points.get(name) is not None:
                p = points[name]
                p = p[row] if p.dim() == 3 else p  # per-query points (Q, P, 2) or shared (P, 2)
                ax.plot(p[:, 1], p[:, 0], "x", color="cyan", markersize=6, linestyle="none")
            ax.set_title(f"{name}\nquery {row + 1} at ({qi}, {qj})", fontsize=9)
            if row == nq - 1:
                ax.set_xlabel("x (column)")
            if col == 0:
                ax.set_ylabel("y (row)")
    handles = [
        Line2D([], [], marker="*", color=colors[r % len(colors)], markeredgecolor="black",
               linestyle="none", markersize=12, label=f"query {r + 1}")
        for r in range(nq)
    ]
    if points:
        handles.append(Line2D([], [], marker="x", color="darkcyan", linestyle="none",
                              markersize=8, label="sampling points"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.colorbar(im, ax=axes, shrink=0.8, label=f"normalized |gradient| ** {gamma}")
    return fig
