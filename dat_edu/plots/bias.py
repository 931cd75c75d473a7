"""Figures of lesson 06: where the deformable position bias reads its table, and the bias over key positions.

The computations are :func:`dat_edu.position_bias.deformable_position_bias` and the lesson's own;
these functions only draw. Positions are normalized, last dim (y, x), as everywhere in dat_edu.
"""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import torch

from dat_edu.position_bias import deformable_position_bias

__all__ = ["plot_table_lookups", "plot_bias_maps"]


def plot_table_lookups(
    table: torch.Tensor, q_grid: torch.Tensor, pos: torch.Tensor, query: tuple[int, int], n_slide: int = 241
) -> plt.Figure:
    """Left: one head's (2H-1, 2W-1) table, its entries as dots, and where query ``query`` (a pixel)
    reads it for each key of ``pos`` ((Ns, 2)). Right: the bias that query gets from one key sliding
    along the query's own row, read bilinearly (the official lookup) and from the nearest entry."""
    H, W = q_grid.shape[:2]
    i, j = query
    q = q_grid[i, j]
    where = (0.5 * (q - pos) + 1) * torch.tensor([H - 1.0, W - 1.0])  # (Ns, 2) table (row, column)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.4))
    im = ax0.imshow(table.numpy(), cmap="coolwarm")
    er, ec = torch.meshgrid(torch.arange(2 * H - 1), torch.arange(2 * W - 1), indexing="ij")
    ax0.plot(ec.flatten(), er.flatten(), ".", color="0.3", markersize=3, label="table entries")
    ax0.plot(where[:, 1], where[:, 0], "kx", markersize=9, mew=2, label=f"lookups of query {query}")
    ax0.plot(W - 1, H - 1, "o", mfc="none", mec="k", markersize=12, label="centre entry (Δ = 0)")
    ax0.set(title="one head's table and where one query reads it", xlabel="table column", ylabel="table row")
    ax0.legend(loc="upper left", fontsize=8)
    fig.colorbar(im, ax=ax0, label="table value")

    xs = torch.linspace(-1.0, 1.0, n_slide)
    keys = torch.stack([q[0].expand(n_slide), xs], -1).view(1, 1, 1, n_slide, 2)  # the query's row
    bilinear = deformable_position_bias(table[None], q_grid, keys)[0, 0, i * W + j]  # (n_slide,)
    col = (0.5 * (q[1] - xs) + 1) * (W - 1)  # the table column each key position reads
    nearest = table[H - 1, col.round().long().clamp(0, 2 * W - 2)]
    key_px = (xs + 1) / 2 * (W - 1)  # where the official block samples such a key (align_corners=True)
    ax1.plot(key_px, bilinear, "-", color="tab:purple", label="bilinear lookup (DAT)")
    ax1.plot(key_px, nearest, "--", color="0.5", label="nearest table entry")
    on_entry = (col - col.round()).abs() < 0.5 * (col[0] - col[1]).abs()  # the slide positions closest to an entry
    ax1.plot(key_px[on_entry], bilinear[on_entry], "o", color="k", markersize=4, label="key reads one entry exactly")
    ax1.set(title=f"bias of query {query} from a key sliding along row {i}", xlabel="key x (pixels, as sampled)",
            ylabel="bias")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_bias_maps(
    maps: Mapping[str, torch.Tensor], query: tuple[int, int], size: tuple[int, int], extent: tuple[float, float, float, float]
) -> plt.Figure:
    """One panel per bias map: ``maps`` name -> (n, n) bias of one query over a dense grid of key
    positions, drawn in pixels over ``extent`` (left, right, bottom, top); pixel centres of the
    ``size`` = (H, W) map as dots, the query as a star."""
    H, W = size
    fig, axes = plt.subplots(1, len(maps), figsize=(5.3 * len(maps), 4.6), squeeze=False)
    cy, cx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    for ax, (name, b) in zip(axes[0], maps.items()):
        im = ax.imshow(b.numpy(), cmap="coolwarm", extent=extent)
        ax.plot(cx.flatten(), cy.flatten(), ".", color="k", markersize=3, label="pixel centres")
        ax.plot(query[1], query[0], "*", color="gold", mec="k", markersize=15, label=f"query {query}")
        ax.set(title=name, xlabel="key x (pixels)", ylabel="key y (pixels)")
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
        fig.colorbar(im, ax=ax, fraction=0.046, label="bias")
    fig.tight_layout()
    return fig
