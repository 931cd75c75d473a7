"""The offset network: where should each key be sampled?

DAT starts from a uniform grid of Hk x Wk reference points and lets the queries move them. Per
offset group, a small conv net looks at the group's query channels and predicts a 2-D offset
for every reference point (official name ``conv_offset``):

    q_group (N, Cg, H, W)
      -> dwconv: depthwise Conv2d(Cg, Cg, k, stride, padding k//2, groups=Cg, bias=True)
      -> norm:   LayerNorm over channels (LayerNorm2d)
      -> act:    GELU
      -> proj:   1x1 Conv2d(Cg, 2, bias=False)
      -> offset (N, 2, Hk, Wk), channel 0 = Δy, channel 1 = Δx (normalized units)

The stride of the depthwise conv sets the key grid: Hk = floor((H + 2*(k//2) - k) / stride) + 1,
which is ceil(H / stride) for odd k (see :func:`key_grid_size`).

:func:`bound_offsets` squashes the raw offsets with tanh and scales them to at most
``factor / Hk`` (rows) and ``factor / Wk`` (columns) in normalized units. One key cell is
``2 / Hk`` wide in normalized units, so the bound is ``factor / 2`` key cells; with DAT v1's
factor 2 and stride 1 that is one cell, about ±0.93 px at H = 14 under the official sampling.
"""

from __future__ import annotations

import torch
from torch import nn

from dat_edu.conv import conv_output_size
from dat_edu.norm import LayerNorm2d
from dat_edu.validate import check_nchw

__all__ = ["OffsetNetwork", "bound_offsets", "key_grid_size"]


def key_grid_size(h: int, w: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """(Hk, Wk) of the key grid produced by the offset network's conv on an h x w query map.

    Conv arithmetic with padding k//2: ``floor((h + 2*(k//2) - k) / stride) + 1`` per axis.
    """
    return (
        conv_output_size(h, kernel_size, stride, kernel_size // 2),
        conv_output_size(w, kernel_size, stride, kernel_size // 2),
    )


class OffsetNetwork(nn.Module):
    """Predict raw (unbounded) offsets for one offset group: (N, Cg, H, W) -> (N, 2, Hk, Wk).

    Args:
        channels: Cg, the channels of one offset group (C / g).
        kernel_size: k of the depthwise conv (official: 9, 7, 5, 3 for stages 1-4).
        stride: stride of the depthwise conv; the key grid is about H/stride x W/stride.

    Output channel 0 is Δy and channel 1 is Δx, in normalized [-1, 1] units (before bounding).
    Submodules ``dwconv``, ``norm``, ``act``, ``proj`` correspond to the official
    ``conv_offset.0``, ``conv_offset.1``, ``conv_offset.2`` (no parameters), ``conv_offset.3``.
    """

    def __init__(self, channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be positive, got {channels}")
        if kernel_size < 1 or stride < 1:
            raise ValueError(
                f"kernel_size and stride must be positive, got kernel_size={kernel_size}, "
                f"stride={stride}"
            )
        self.channels = channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.dwconv = nn.Conv2d(
            channels, channels, kernel_size, stride=stride, padding=kernel_size // 2,
            groups=channels, bias=True,
        )
        self.norm = LayerNorm2d(channels)
        self.act = nn.GELU()
        self.proj = nn.Conv2d(channels, 2, kernel_size=1, bias=False)

    def forward(self, q_group: torch.Tensor) -> torch.Tensor:
        check_nchw(q_group, "OffsetNetwork", self.channels,
                   hint="split the query into groups first: (B * groups, C / groups, H, W)")
        x = self.dwconv(q_group)  # (N, Cg, Hk, Wk): local spatial context, strided
        x = self.act(self.norm(x))  # (N, Cg, Hk, Wk)
        return self.proj(x)  # (N, 2, Hk, Wk): (Δy, Δx)


def bound_offsets(offset: torch.Tensor, factor: float) -> torch.Tensor:
    """Bound raw offsets: ``tanh(offset) * factor * (1/Hk, 1/Wk)`` per channel.

    Args:
        offset: (N, 2, Hk, Wk) raw offsets, channel 0 = Δy, 1 = Δx. Hk, Wk are read from it.
        factor: the official ``offset_range_factor`` (2 in DAT v1); must be > 0.

    Returns:
        (N, 2, Hk, Wk) with ``|Δy| < factor / Hk`` and ``|Δx| < factor / Wk`` (normalized units).
    """
    if offset.dim() != 4 or offset.shape[1] != 2:
        raise ValueError(
            f"offset must be (N, 2, Hk, Wk) with channels (Δy, Δx), got shape {tuple(offset.shape)}"
        )
    if factor <= 0:
        raise ValueError(
            f"factor must be > 0 to bound offsets, got {factor}; the negative (v1 tanh(offset+ref)) "
            "and unbounded modes are handled by DeformableAttention"
        )
    hk, wk = offset.shape[2], offset.shape[3]
    scale = torch.tensor([1.0 / hk, 1.0 / wk], dtype=offset.dtype, device=offset.device)
    return torch.tanh(offset) * factor * scale.view(1, 2, 1, 1)  # per channel: y by Hk, x by Wk
