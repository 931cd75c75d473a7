"""The course's opening picture (lesson 00): which keys a query uses in ViT, Swin, DCN and DAT.

A toy 16 x 16 token map with one query on an "object" and one on the background. The offsets of
the DCN and DAT panels are made up (seeded), not predicted: later lessons compute real ones.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, Rectangle

__all__ = ["plot_attention_patterns"]

OBJECT_XY, OBJECT_W, OBJECT_H = (11.0, 5.5), 7.0, 5.0  # the toy object, (x, y) in token units
QUERIES = {"tab:red": (11.5, 5.5), "tab:blue": (3.5, 12.5)}  # (x, y) token centres: object, background


def _draw_map(ax, grid: int, title: str) -> None:
    ax.add_patch(Ellipse(OBJECT_XY, OBJECT_W, OBJECT_H, color="tab:green", alpha=0.25))
    for t in range(grid + 1):  # faint token grid
        ax.axhline(t, color="0.85", lw=0.5)
        ax.axvline(t, color="0.85", lw=0.5)
    for color, (qx, qy) in QUERIES.items():
        ax.plot(qx, qy, marker="*", ms=16, color=color, mec="k", zorder=5)
    ax.set(xlim=(0, grid), ylim=(grid, 0), aspect="equal", title=title, xlabel="x (token)", ylabel="y (token)")


def _moves(ax, start: np.ndarray, end: np.ndarray, color: str, size: float) -> None:
    """Hollow circles at ``start``, arrows to filled dots at ``end`` ((N, 2) as (x, y))."""
    ax.scatter(start[:, 0], start[:, 1], s=size, facecolors="none", edgecolors="0.4", zorder=3)
    for (x0, y0), (x1, y1) in zip(start, end):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color=color, lw=0.9))
    ax.scatter(end[:, 0], end[:, 1], s=size, color=color, edgecolors="k" if size > 15 else "none", zorder=4)


def plot_attention_patterns(grid: int = 16, window: int = 4, keys: int = 4, seed: int = 0) -> plt.Figure:
    """Four panels on a ``grid`` x ``grid`` token map: (a) ViT, every key; (b) Swin, the query's
    ``window`` x ``window`` window; (c) DCN, 9 taps per query, each moved by its own offset; (d) DAT,
    a ``keys`` x ``keys`` reference grid moved towards the object and shared by both queries."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, 4, figsize=(17, 5.0))
    centres = np.arange(grid) + 0.5

    ax = axes[0]
    _draw_map(ax, grid, f"(a) ViT: all {grid * grid} keys\nfor every query")
    xx, yy = np.meshgrid(centres, centres)
    ax.scatter(xx, yy, s=6, color="purple", zorder=3)

    ax = axes[1]
    _draw_map(ax, grid, f"(b) Swin: {window * window} keys in the\nquery's fixed window")
    for t in range(0, grid + 1, window):
        ax.axhline(t, color="k", lw=1.2)
        ax.axvline(t, color="k", lw=1.2)
    for color, (qx, qy) in QUERIES.items():
        x0, y0 = window * int(qx // window), window * int(qy // window)
        ax.add_patch(Rectangle((x0, y0), window, window, color=color, alpha=0.25))
        wx, wy = np.meshgrid(x0 + np.arange(window) + 0.5, y0 + np.arange(window) + 0.5)
        ax.scatter(wx, wy, s=10, color=color, zorder=3)

    ax = axes[2]
    _draw_map(ax, grid, "(c) DCN: 9 moved taps,\ndifferent for each query")
    taps = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], dtype=float)
    for color, (qx, qy) in QUERIES.items():
        regular = np.array([qx, qy]) + taps
        _moves(ax, regular, regular + rng.normal(0.0, 0.7, size=regular.shape) + 0.6 * taps, color, 14)

    ax = axes[3]
    _draw_map(ax, grid, f"(d) DAT: {keys * keys} shared keys,\nmoved towards the object")
    step = grid // keys
    c = np.arange(step // 2, grid, step) + 0.0
    ref = np.stack(np.meshgrid(c, c), -1).reshape(-1, 2)
    pos = ref + 0.45 * (np.array(OBJECT_XY) - ref) + rng.normal(0.0, 0.3, size=ref.shape)
    _moves(ax, ref, pos, "tab:orange", 22)

    handles = [
        Line2D([], [], marker="*", ms=12, color="tab:red", mec="k", ls="", label="query on the object"),
        Line2D([], [], marker="*", ms=12, color="tab:blue", mec="k", ls="", label="query on the background"),
        Line2D([], [], marker="o", color="purple", ls="", label="attended key"),
        Line2D([], [], marker="o", mfc="none", mec="0.4", ls="", label="regular / reference position"),
        Line2D([], [], marker="o", color="tab:orange", mec="k", ls="", label="sampled (moved) key"),
        Line2D([], [], marker="o", color="tab:green", alpha=0.4, ms=12, ls="", label="object"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=6, frameon=False)
    fig.suptitle(f"Which keys does a query use? (toy {grid} x {grid} token map, hand-made offsets)")
    fig.tight_layout(rect=(0, 0.11, 1, 0.94))
    return fig
