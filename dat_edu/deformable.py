"""Deformable multi-head attention, the "D" block of DAT (Xia et al., CVPR 2022).

Every pixel of the H x W map is a query, as in global attention. The keys and values, however, are
not taken from the pixels themselves: a small offset network looks at the queries and moves a grid
of Hk x Wk *reference points* p to new positions p + Δp; the input map is read there with bilinear
interpolation, and keys and values are computed from those samples. In the paper's notation:

    q = W_q x,   Δp = θ_offset(q),   x̃ = φ(x; p + Δp),   k̃ = W_k x̃,   ṽ = W_v x̃,
    z = softmax(q k̃ᵀ / √d + φ(B̂; R)) ṽ,   y = W_o z

where φ(·; ·) is bilinear sampling and φ(B̂; R) is the relative position bias, read from a learned
table B̂ at the (fractional) query-key displacements R.

Groups. The C channels are split into g groups; each group gets its own offset field (the offset
network is shared by the groups but fed the group's own query channels), and samples its own
channels of x. Heads are grouped the same way: group i owns channels [i*C/g, (i+1)*C/g) and hence
heads [i*nh/g, (i+1)*nh/g).

Coordinates. Positions are normalized to [-1, 1] and stored last-dim (y, x) as in the official
code: pos[..., 0] = y, pos[..., 1] = x. Reference point i of Hk is ((i + 0.5) / Hk) * 2 - 1, the
centre of the i-th of Hk equal cells (dat_edu.sampling.reference_grid).

Two coordinate modes:
  coords="official" (default) reproduces the released DAT v1 code (``DAttentionBaseline``) number
    for number. It samples with ``align_corners=True`` although the reference points use the
    align_corners=False centre formula, so a zero offset does *not* read pixel i but the point
    (i + 0.5)(H - 1)/H between pixels (0.464, 1.393, ..., 12.536 at H = 14). The position bias is
    read from the table with the same align_corners=True convention.
  coords="corrected" samples with ``align_corners=False``: zero offsets (stride 1) read exactly the
    pixels, and strided reference points sit exactly at the centres of their s x s cells. The table
    bias is looked up at the true pixel displacement (``deformable_position_bias(corrected=True)``).

Offset range (``offset_range_factor``):
  > 0 (official, 2 in every released config): Δp = tanh(raw) * factor * (1/Hk, 1/Wk), i.e. at most
      factor/2 key cells, about ±0.9 px at stride 1: every key stays a jitter of its grid point.
  None (DAT++ style): Δp = raw, unbounded; pos = clamp(p + Δp, -1, 1).
  < 0 (the v1 code's other branch): pos = tanh(p + raw).
  0 is rejected: the v1 code would add unbounded offsets without any clamp.

Parameters (official names, so an official state dict maps 1:1): ``proj_q``, ``proj_k``, ``proj_v``,
``proj_out`` (1x1 Conv2d(C, C) with bias), ``conv_offset`` (dat_edu.offsets.OffsetNetwork),
``rpe_table`` ((nh, 2H-1, 2W-1), truncated normal std 0.01) for position_bias="table", ``cpb``
(dat_edu.position_bias.ContinuousPositionBias) for position_bias="continuous".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from dat_edu.attention import check_heads
from dat_edu.offsets import OffsetNetwork, bound_offsets, key_grid_size
from dat_edu.position_bias import ContinuousPositionBias, deformable_position_bias
from dat_edu.sampling import reference_grid, sample_features
from dat_edu.validate import check_divisible, check_nchw, pair

__all__ = ["DeformableAttention", "OFFSET_KERNEL_SIZES"]

# The official code picks the offset network's depthwise kernel by stage: 9, 7, 5, 3 for stages 0-3
# (feature maps 56, 28, 14, 7 at 224x224 input), so that the kernel covers a similar share of the map.
OFFSET_KERNEL_SIZES = (9, 7, 5, 3)

_POSITION_BIAS_CHOICES = ("table", "continuous", None)
_COORDS_CHOICES = ("official", "corrected")


class DeformableAttention(nn.Module):
    """Deformable multi-head attention on an NCHW map: (B, C, H, W) -> (B, C, H, W).

    Args:
        dim: C, channels of input and output.
        num_heads: nh; head channels hc = C / nh (32 in every official config).
        num_groups: g, offset groups; nh and C must both be divisible by g.
        q_size: (H, W) of the query map the block is built for; sizes the ``rpe_table``.
            Only position_bias="table" ties the block to this size.
        stride: key stride s: the offset network runs with stride s, so there are
            Hk x Wk = ceil(H/s) x ceil(W/s) sampled keys per group (official configs: 1).
        offset_range_factor: see the module docstring (2.0 official; None unbounded; < 0 tanh).
        kernel_size: depthwise kernel of the offset network (odd). None: ``OFFSET_KERNEL_SIZES
            [stage_idx]`` when ``stage_idx`` is given (the official rule), else 3.
        position_bias: "table" (official deformable relative position bias), "continuous"
            (an MLP of log-spaced displacements, works at any input size) or None (no bias).
        use_offsets: False is the official ``no_off`` ablation: keys are sampled at the reference
            points (no offset network is built, so ``conv_offset`` is None).
        coords: "official" or "corrected", see the module docstring.
        attn_drop, proj_drop: dropout probabilities on the attention weights and on the output.
        stage_idx: optional stage index 0-3, only used to pick the default kernel_size.

    forward(x, return_positions=False) -> y, or (y, pos, ref) with pos, ref of shape
    (B, g, Hk, Wk, 2), normalized to [-1, 1], last dim (y, x).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        num_groups: int,
        q_size: int | tuple[int, int],
        stride: int = 1,
        offset_range_factor: float | None = 2.0,
        kernel_size: int | None = None,
        position_bias: str | None = "table",
        use_offsets: bool = True,
        coords: str = "official",
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        *,
        stage_idx: int | None = None,
    ) -> None:
        super().__init__()
        # ---- validate the configuration before building anything -------------------------------
        check_heads(dim, num_heads)
        check_divisible(dim, "dim", num_groups, "num_groups", "every offset group samples the same number of channels")
        check_divisible(num_heads, "num_heads", num_groups, "num_groups", "each group must own whole heads")
        H, W = (int(s) for s in pair(q_size, "q_size"))
        if H < 1 or W < 1:
            raise ValueError(f"q_size must be positive, got {(H, W)}")
        if stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride}")
        if offset_range_factor is not None and offset_range_factor == 0:
            raise ValueError(
                "offset_range_factor=0 is not supported: use a positive factor (bounded offsets, "
                "official 2.0), None (unbounded, positions clamped to [-1, 1]) or a negative "
                "value (v1's tanh(offset + reference))"
            )
        if position_bias not in _POSITION_BIAS_CHOICES:
            raise ValueError(f"position_bias must be one of {_POSITION_BIAS_CHOICES}, got {position_bias!r}")
        if coords not in _COORDS_CHOICES:
            raise ValueError(f"coords must be one of {_COORDS_CHOICES}, got {coords!r}")
        if kernel_size is None:
            if stage_idx is None:
                kernel_size = 3
            elif 0 <= stage_idx < len(OFFSET_KERNEL_SIZES):
                kernel_size = OFFSET_KERNEL_SIZES[stage_idx]
            else:
                raise ValueError(
                    f"stage_idx must be in 0..{len(OFFSET_KERNEL_SIZES) - 1} to pick a default "
                    f"kernel size, got {stage_idx}; or pass kernel_size directly (in DAT: offset_kernel_sizes)"
                )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be a positive odd number (padding k//2 keeps the key grid "
                f"centred), got {kernel_size}"
            )

        self.dim = dim
        self.num_heads = num_heads
        self.num_groups = num_groups
        self.head_dim = dim // num_heads  # hc
        self.group_dim = dim // num_groups  # Cg
        self.scale = self.head_dim**-0.5  # 1/√d
        self.q_size = (H, W)
        self.stride = stride
        self.offset_range_factor = offset_range_factor
        self.kernel_size = kernel_size
        self.position_bias = position_bias
        self.use_offsets = use_offsets
        self.coords = coords

        # ---- parameters (official names) -----------------------------------------------------
        self.proj_q = nn.Conv2d(dim, dim, kernel_size=1)
        self.proj_k = nn.Conv2d(dim, dim, kernel_size=1)
        self.proj_v = nn.Conv2d(dim, dim, kernel_size=1)
        self.proj_out = nn.Conv2d(dim, dim, kernel_size=1)
        # θ_offset: shared by the groups, applied to each group's Cg query channels.
        self.conv_offset = OffsetNetwork(self.group_dim, kernel_size, stride) if use_offsets else None
        # B̂: one (2H-1) x (2W-1) table per head covers every displacement between two points of
        # an H x W map (from -(H-1) to H-1 pixels along y).
        if position_bias == "table":
            self.rpe_table = nn.Parameter(torch.zeros(num_heads, 2 * H - 1, 2 * W - 1))
            nn.init.trunc_normal_(self.rpe_table, std=0.01)
        else:
            self.register_parameter("rpe_table", None)
        self.cpb = ContinuousPositionBias(num_heads, num_groups) if position_bias == "continuous" else None
        self.attn_drop = attn_drop  # a probability, as in the other attention classes
        self.proj_drop = nn.Dropout(proj_drop)

    letter = "D"  # the block letter of DAT's stage_spec

    # ------------------------------------------------------------------------------------------
    @property
    def align_corners(self) -> bool:
        """The grid_sample convention used to read x (official: True, corrected: False)."""
        return self.coords == "official"

    def key_grid_size(self, h: int, w: int) -> tuple[int, int]:
        """(Hk, Wk) for an h x w input: the output size of the offset conv (kernel k, padding k//2, stride s)."""
        return key_grid_size(h, w, self.kernel_size, self.stride)

    def _check_input(self, x: torch.Tensor) -> None:
        check_nchw(x, "DeformableAttention", self.dim)
        _, _, h, w = x.shape
        if self.position_bias == "table" and (h, w) != self.q_size:
            H, W = self.q_size
            raise ValueError(
                f"input map is {h}x{w} but the block was built for q_size={self.q_size}: its position "
                f"table rpe_table has shape {tuple(self.rpe_table.shape)} = (heads, 2*{H}-1, 2*{W}-1) "
                f"for that size only. Rebuild the block with q_size=({h}, {w}), or use "
                "position_bias='continuous' (or None), which work at any size"
            )

    # ------------------------------------------------------------------------------------------
    def sampling_positions(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Δp = θ_offset(q) and the sampling positions p + Δp.

        q: (B, C, H, W) queries. Returns (pos, ref), each (B*g, Hk, Wk, 2), normalized, (y, x);
        ``ref`` is the fixed grid p of key-cell centres, ``pos`` where the keys are read.
        """
        B, _, H, W = q.shape
        g = self.num_groups
        Hk, Wk = self.key_grid_size(H, W)
        p = reference_grid(Hk, Wk, dtype=q.dtype, device=q.device)  # (Hk, Wk, 2), (y, x)
        ref = p.expand(B * g, Hk, Wk, 2)  # (B*g, Hk, Wk, 2)
        if not self.use_offsets:  # no_off ablation: read x at the reference points
            return ref, ref

        q_groups = rearrange(q, "b (g c) h w -> (b g) c h w", g=g)  # (B*g, Cg, H, W)
        offset = self.conv_offset(q_groups)  # (B*g, 2, Hk, Wk), channel 0 = Δy, 1 = Δx
        return self.offset_positions(offset, ref), ref

    def offset_positions(self, offset: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """p + Δp by the ``offset_range_factor`` rule: raw offsets (B*g, 2, Hk, Wk), reference
        points (B*g, Hk, Wk, 2) -> sampling positions (B*g, Hk, Wk, 2), normalized, (y, x)."""
        factor = self.offset_range_factor
        if factor is not None and factor > 0:
            # at most factor/Hk in normalized units = factor/2 key cells
            offset = bound_offsets(offset, factor)
        offset = rearrange(offset, "n p h w -> n h w p")  # (B*g, Hk, Wk, 2), (y, x)
        if factor is None:  # DAT++: unbounded offsets, keep the positions inside the map
            return (ref + offset).clamp(-1.0, 1.0)
        if factor > 0:
            return ref + offset
        return torch.tanh(ref + offset)  # v1's negative-factor branch: squash the sum into (-1, 1)

    def sample_keys(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x̃ = φ(x; pos): bilinear samples of the input, each group at its own positions.

        x: (B, C, H, W); pos: (B*g, Hk, Wk, 2), (y, x). Returns (B, C, Hk, Wk).
        """
        g = self.num_groups
        x_groups = rearrange(x, "b (g c) h w -> (b g) c h w", g=g)  # (B*g, Cg, H, W)
        sampled = sample_features(x_groups, pos, align_corners=self.align_corners)  # (B*g, Cg, Hk, Wk)
        return rearrange(sampled, "(b g) c h w -> b (g c) h w", g=g)  # (B, C, Hk, Wk)

    def relative_position_bias(self, pos: torch.Tensor, h: int, w: int) -> torch.Tensor | None:
        """φ(B̂; R): the bias added to the attention logits, (B, nh, H*W, Hk*Wk), or None.

        pos: (B*g, Hk, Wk, 2). R is the displacement from each query's grid point to each key's
        sampling position; q_grid uses the same centre formula as the reference points.
        """
        if self.position_bias is None:
            return None
        q_grid = reference_grid(h, w, dtype=pos.dtype, device=pos.device)  # (H, W, 2), (y, x)
        if self.position_bias == "table":
            return deformable_position_bias(
                self.rpe_table, q_grid, self.by_group(pos), corrected=self.coords == "corrected"
            )
        return self.cpb(q_grid, self.by_group(pos))

    def by_group(self, pos: torch.Tensor) -> torch.Tensor:
        """(B*g, Hk, Wk, 2) -> (B, g, Hk, Wk, 2): the layout of the position biases and of return_positions."""
        return rearrange(pos, "(b g) hk wk p -> b g hk wk p", g=self.num_groups)

    # ------------------------------------------------------------------------------------------
    def forward(
        self, x: torch.Tensor, return_positions: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self._check_input(x)
        B, C, H, W = x.shape
        nh = self.num_heads

        q = self.proj_q(x)  # q = W_q x                                   (B, C, H, W)
        pos, ref = self.sampling_positions(q)  # p + Δp, Δp = θ_offset(q)   (B*g, Hk, Wk, 2)
        x_sampled = self.sample_keys(x, pos)  # x̃ = φ(x; p + Δp)            (B, C, Hk, Wk)
        k = self.proj_k(x_sampled)  # k̃ = W_k x̃                             (B, C, Hk, Wk)
        v = self.proj_v(x_sampled)  # ṽ = W_v x̃                             (B, C, Hk, Wk)

        # split channels into heads: channel = head * hc + c, as in the official reshape
        q = rearrange(q, "b (h c) y x -> b h (y x) c", h=nh)  # (B, nh, HW, hc)
        k = rearrange(k, "b (h c) y x -> b h (y x) c", h=nh)  # (B, nh, Ns, hc)
        v = rearrange(v, "b (h c) y x -> b h (y x) c", h=nh)  # (B, nh, Ns, hc)

        attn = torch.einsum("bhmc,bhnc->bhmn", q, k) * self.scale  # q k̃ᵀ/√d  (B, nh, HW, Ns)
        bias = self.relative_position_bias(pos, H, W)  # φ(B̂; R)           (B, nh, HW, Ns)
        if bias is not None:
            attn = attn + bias
        attn = F.dropout(attn.softmax(dim=-1), self.attn_drop, self.training)  # over the Ns keys
        z = torch.einsum("bhmn,bhnc->bhmc", attn, v)  # (B, nh, HW, hc)
        z = rearrange(z, "b h (y x) c -> b (h c) y x", y=H, x=W)  # (B, C, H, W)
        y = self.proj_drop(self.proj_out(z))  # y = W_o z                  (B, C, H, W)

        if not return_positions:
            return y
        return y, self.by_group(pos), self.by_group(ref)  # (B, g, Hk, Wk, 2) each

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, num_groups={self.num_groups}, "
            f"q_size={self.q_size}, stride={self.stride}, offset_range_factor={self.offset_range_factor}, "
            f"kernel_size={self.kernel_size}, position_bias={self.position_bias!r}, "
            f"use_offsets={self.use_offsets}, coords={self.coords!r}"
        )
