"""Relative position biases: Swin's discrete table, DAT's deformable lookup, and a continuous MLP.

Attention scores get a learned bias that depends on *where* the key sits relative to the query.

* **Swin (discrete).** With queries and keys on the same w x w grid, every displacement
  (Δy, Δx) is an integer in [-(w-1), w-1]; a table with (2w-1)^2 entries per head holds one bias
  for each. :func:`relative_position_index` gives the table row for every (query, key) pair.

* **DAT (deformable).** Keys sit at fractional positions, so the table of shape
  (nh, 2H-1, 2W-1) is *interpolated* bilinearly at the displacement. :func:`deformable_position_bias`
  offers two modes:

  - ``corrected=False`` (official DAT v1): sample the table with ``grid_sample`` at
    ``0.5 * (q_grid - pos)`` with ``align_corners=True``. The table index it reads is
    ``(H-1) + Δ·(H-1)/H`` for a pixel displacement Δ (query and keys on the centre grid): the
    displacement is shrunk by (H-1)/H, so integer displacements do **not** land on table entries
    (quirk: at H = 14 a displacement of 13 pixels reads entry 13 + 13·13/14 = 25.07 instead of 26).
  - ``corrected=True``: convert both positions to pixels (``align_corners=False`` convention, the
    one the centre grid belongs to), take Δ = q_pix - k_pix and read table entry
    ``(H-1+Δy, W-1+Δx)`` exactly; keys on pixel centres reproduce the discrete Swin lookup.

* **Continuous (SwinV2 / lucidrains).** :class:`ContinuousPositionBias` replaces the table by a
  small MLP evaluated on ``sign(Δ)·log(1+|Δ|)`` of the normalized displacement, so it works for any
  position and any resolution.

Conventions: positions are normalized to [-1, 1], last dim (y, x). Heads are grouped: with g
offset groups and nh heads, group i owns heads [i·nh/g, (i+1)·nh/g) and only its own keys.
Output of every bias here: (B, nh, H·W, Ns) with Ns = Hk·Wk, queries in row-major (y, x) order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from dat_edu.sampling import normalized_to_pixel, pixel_to_normalized, yx_to_xy
from dat_edu.validate import check_divisible

__all__ = [
    "relative_position_index",
    "deformable_position_bias",
    "signed_log",
    "ContinuousPositionBias",
]


def relative_position_index(window: int) -> torch.Tensor:
    """Swin's index into a ((2w-1)^2, nh) bias table for every pair of tokens in a w x w window.

    Returns a (w*w, w*w) long tensor: entry [i, j] = (Δy + w - 1) * (2w - 1) + (Δx + w - 1) with
    (Δy, Δx) = position(i) - position(j), tokens numbered row-major.
    """
    if window < 1:
        raise ValueError(f"window must be positive, got {window}")
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    coords = torch.stack((ys.flatten(), xs.flatten()))  # (2, w*w) as (y, x)
    rel = coords[:, :, None] - coords[:, None, :]  # (2, w*w, w*w): query minus key
    rel = rel + (window - 1)  # shift to [0, 2w-2]
    return rel[0] * (2 * window - 1) + rel[1]  # (w*w, w*w)


def _check_bias_inputs(table: torch.Tensor | None, q_grid: torch.Tensor, pos: torch.Tensor,
                       heads: int) -> None:
    if q_grid.dim() != 3 or q_grid.shape[-1] != 2:
        raise ValueError(f"q_grid must be (H, W, 2) in (y, x), got shape {tuple(q_grid.shape)}")
    if pos.dim() != 5 or pos.shape[-1] != 2:
        raise ValueError(
            f"pos must be (B, groups, Hk, Wk, 2) in (y, x), got shape {tuple(pos.shape)}"
        )
    check_divisible(heads, "heads", pos.shape[1], "offset groups (pos.shape[1])", "each group owns whole heads")
    if table is not None:
        h, w = q_grid.shape[:2]
        if table.dim() != 3 or table.shape[1:] != (2 * h - 1, 2 * w - 1):
            raise ValueError(
                f"table must be (heads, {2 * h - 1}, {2 * w - 1}) for a {h}x{w} query map, got "
                f"shape {tuple(table.shape)}"
            )


def deformable_position_bias(
    table: torch.Tensor, q_grid: torch.Tensor, pos: torch.Tensor, corrected: bool = False
) -> torch.Tensor:
    """Interpolate a relative position table at query-key displacements (DAT's deformable bias).

    Args:
        table: (nh, 2H-1, 2W-1) learned bias; entry [h, H-1+Δy, W-1+Δx] is meant for a key
            Δ = (Δy, Δx) pixels above-left of the query.
        q_grid: (H, W, 2) normalized query positions, (y, x); the official centre grid
            (:func:`dat_edu.sampling.reference_grid`).
        pos: (B, g, Hk, Wk, 2) normalized key positions, (y, x), one set per offset group.
        corrected: False = official v1 lookup (displacement scaled by (H-1)/H, see module doc);
            True = exact pixel-displacement lookup under the align_corners=False convention.

    Returns:
        (B, nh, H*W, Hk*Wk) bias; heads [i*hg, (i+1)*hg) use group i's keys (hg = nh / g).
    """
    heads = table.shape[0] if table.dim() >= 1 else 0
    _check_bias_inputs(table, q_grid, pos, heads)
    h, w = q_grid.shape[:2]
    b, g = pos.shape[:2]

    q = rearrange(q_grid, "h w c -> 1 (h w) 1 c")  # (1, HW, 1, 2)
    k = rearrange(pos, "b g hk wk c -> (b g) 1 (hk wk) c")  # (B*g, 1, Ns, 2)
    if not corrected:
        # Official: half the normalized displacement, read with align_corners=True.
        disp = 0.5 * (q - k)  # (B*g, HW, Ns, 2), (y, x)
    else:
        # Pixel displacement under the centre-grid (align_corners=False) convention ...
        dy = normalized_to_pixel(q[..., 0], h, False) - normalized_to_pixel(k[..., 0], h, False)
        dx = normalized_to_pixel(q[..., 1], w, False) - normalized_to_pixel(k[..., 1], w, False)
        # ... then the table coordinate (H-1+Δy, W-1+Δx), normalized for align_corners=True.
        uy = pixel_to_normalized(dy + (h - 1), 2 * h - 1, True)  # = Δy / (H-1)
        ux = pixel_to_normalized(dx + (w - 1), 2 * w - 1, True)  # = Δx / (W-1)
        disp = torch.stack((uy, ux), dim=-1)  # (B*g, HW, Ns, 2), (y, x)

    # Each group reads its own heads: (nh, ...) -> (B*g, hg, 2H-1, 2W-1).
    tbl = rearrange(table.expand(b, *table.shape), "b (g hg) y x -> (b g) hg y x", g=g)
    bias = F.grid_sample(
        tbl, yx_to_xy(disp), mode="bilinear", padding_mode="zeros", align_corners=True
    )  # (B*g, hg, HW, Ns); grid_sample wants (x, y), hence the swap
    return rearrange(bias, "(b g) hg i j -> b (g hg) i j", b=b)


def signed_log(d: torch.Tensor) -> torch.Tensor:
    """``sign(d) * log(1 + |d|)``, written so the gradient at d = 0 is 1 (not sign(0) = 0).

    Compresses large displacements while staying linear near 0 (SwinV2's log-spaced coordinates).
    """
    # Clamp so the unselected branch of torch.where never sees log1p of a value <= -1.
    return torch.where(d < 0, -torch.log1p(-d.clamp(max=0)), torch.log1p(d.clamp(min=0)))


class ContinuousPositionBias(nn.Module):
    """Position bias from a small MLP on log-spaced query-key displacements (SwinV2 style).

    bias[b, head, i, j] = MLP(signed_log(q_i - k_j))[head], displacement in normalized (y, x)
    units (range (-2, 2)). Group i's keys are fed to the MLP and only heads [i*hg, (i+1)*hg) of
    the output are kept (computed directly from the matching rows of ``fc2``).

    Args:
        heads: nh, number of attention heads (MLP outputs).
        groups: optional number of offset groups; when given, forward checks ``pos.shape[1]``.
        hidden: hidden width. Default 32: large enough for a smooth bias over a few dozen
            positions, small enough that the (B, g, HW, Ns, hidden) activation fits on a laptop
            (SwinV2 uses 512, lucidrains dim // 4).

    Submodules: ``fc1`` (Linear 2 -> hidden), ``act`` (ReLU, as SwinV2 and lucidrains),
    ``fc2`` (Linear hidden -> heads).
    Memory note: the hidden activation has B*g*HW*Ns*hidden elements; fine on CIFAR-size maps.
    """

    def __init__(self, heads: int, groups: int | None = None, hidden: int = 32) -> None:
        super().__init__()
        if heads < 1 or hidden < 1:
            raise ValueError(f"heads and hidden must be positive, got {heads} and {hidden}")
        if groups is not None:
            check_divisible(heads, "heads", groups, "offset groups", "each group owns whole heads")
        self.heads = heads
        self.groups = groups
        self.hidden = hidden
        self.fc1 = nn.Linear(2, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, heads)

    def forward(self, q_grid: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """q_grid (H, W, 2), pos (B, g, Hk, Wk, 2), both (y, x) normalized -> (B, nh, H*W, Hk*Wk)."""
        _check_bias_inputs(None, q_grid, pos, self.heads)
        g = pos.shape[1]
        if self.groups is not None and g != self.groups:
            raise ValueError(f"built for {self.groups} offset groups but pos has {g} (dim 1)")
        q = rearrange(q_grid, "h w c -> 1 1 (h w) 1 c")  # (1, 1, HW, 1, 2)
        k = rearrange(pos, "b g hk wk c -> b g 1 (hk wk) c")  # (B, g, 1, Ns, 2)
        feat = signed_log(q - k)  # (B, g, HW, Ns, 2)
        hid = self.act(self.fc1(feat))  # (B, g, HW, Ns, hidden)
        # Only group i's heads are needed from group i's keys: split fc2 by group.
        weight = rearrange(self.fc2.weight, "(g hg) d -> g hg d", g=g)  # (g, hg, hidden)
        bias = rearrange(self.fc2.bias, "(g hg) -> 1 g hg 1 1", g=g)
        out = torch.einsum("bgijd,ghd->bghij", hid, weight) + bias  # (B, g, hg, HW, Ns)
        return rearrange(out, "b g hg i j -> b (g hg) i j")

    def extra_repr(self) -> str:
        return f"heads={self.heads}, groups={self.groups}, hidden={self.hidden}"
