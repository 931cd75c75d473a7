"""Gradient receptive fields: which input pixels can change one output pixel?

The DAT paper's Figure 1 compares four ways for a pixel (a *query*) to gather information:

* ViT, dense attention: every query sees the whole map;
* Swin, window attention: a query sees only its own window (the same for all queries in it);
* DCN, deformable convolution: each query sees its own 3x3 taps, each moved by a learned offset;
* DAT, deformable attention: all queries share the same few keys, sampled at learned positions.

This module measures that instead of drawing it. For an operator ``fn`` and an input ``x``,
the receptive field of output pixel (i, j) is

    RF(y, x) = sum over channels c of | d (sum over batch and channels of out[:, :, i, j]) / d x[:, c, y, x] |

normalized so that its maximum is 1. Pixels with RF = 0 cannot influence the query at all (for this
input); pixels with a large RF influence it most. Because it is measured with autograd it also
counts indirect paths, e.g. through the offset network of DCN and DAT.

Besides :func:`gradient_receptive_field` the module holds tiny reference operators (built with
:func:`reference_operators`), including :class:`DeformableConv2d`, a deformable convolution written
with :func:`dat_edu.sampling.sample_features` (no torchvision). The figure is
:func:`dat_edu.plots.draw_receptive_fields`.

Coordinates: queries are given as (row, column) = (i, j) pixel indices of the output map.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from einops import rearrange
from torch import nn

from dat_edu.attention import MultiHeadSelfAttention
from dat_edu.deformable import DeformableAttention
from dat_edu.sampling import pixel_to_normalized, sample_features
from dat_edu.validate import check_nchw
from dat_edu.windows import WindowAttention

__all__ = [
    "gradient_receptive_field",
    "receptive_fields",
    "DeformableConv2d",
    "DetachedPositions",
    "reference_operators",
]


def gradient_receptive_field(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    query: tuple[int, int] = (0, 0),
    normalize: bool = True,
) -> torch.Tensor:
    """Receptive field of one output pixel, measured with autograd.

    Args:
        fn: maps an NCHW input (B, C, H, W) to an NCHW output (B, C', H', W'); a tuple output
            (e.g. ``(y, pos, ref)``) uses its first element.
        x: the input (B, C, H, W); it is not modified (a detached copy is differentiated).
        query: (i, j), row and column of the output pixel.
        normalize: divide by the maximum so that the result lies in [0, 1] (unchanged if all 0).

    Returns:
        (H, W) tensor: |d out[:, :, i, j].sum() / d x| summed over batch and channels.
    """
    check_nchw(x, "gradient_receptive_field (x)")
    if len(query) != 2:
        raise ValueError(f"query must be a pair (row, column), got {query!r}")
    i, j = (int(v) for v in query)
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = fn(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        check_nchw(out, "gradient_receptive_field (the output of fn)")
        h_out, w_out = out.shape[-2:]
        if not (0 <= i < h_out and 0 <= j < w_out):
            raise ValueError(
                f"query {(i, j)} lies outside the {h_out}x{w_out} output map: "
                f"pick a row in 0..{h_out - 1} and a column in 0..{w_out - 1}"
            )
        (grad,) = torch.autograd.grad(out[:, :, i, j].sum(), x)
    field = grad.abs().sum(dim=(0, 1))  # (H, W)
    if normalize:
        peak = field.max()
        if peak > 0:
            field = field / peak
    return field.detach()


def receptive_fields(
    operators: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    x: torch.Tensor,
    queries: Sequence[tuple[int, int]],
) -> dict[str, torch.Tensor]:
    """:func:`gradient_receptive_field` for every operator and query: name -> (len(queries), H, W)."""
    return {
        name: torch.stack([gradient_receptive_field(fn, x, q) for q in queries])
        for name, fn in operators.items()
    }


class DeformableConv2d(nn.Module):
    """A k x k deformable convolution (DCN v1, Dai et al. 2017), written with bilinear sampling.

    A plain convolution reads, for output pixel p, the k*k input pixels p + t for the fixed taps
    t in {-r..r}^2 (r = k // 2). A deformable convolution reads them at p + t + Δp_t instead,
    where the offsets Δp_t (one (Δy, Δx) pair per tap and per output pixel, in pixels) come from
    an ordinary convolution of the input, ``offset_conv`` (2*k*k output channels, ordered
    (tap, [Δy, Δx])). Fractional positions are read with bilinear interpolation
    (:func:`dat_edu.sampling.sample_features`, align_corners=True so that pixel p sits at
    normalized p / (size - 1) * 2 - 1), zero outside the map like the zero padding of a conv.

    ``offset_conv`` starts at zero, so a fresh module equals ``F.conv2d(x, weight, bias,
    padding=k // 2)``; ``offset_scale`` multiplies the predicted offsets. ``detach_offsets=True``
    stops gradients through the offsets (the result is unchanged): a gradient receptive field then
    shows only where the values are read, not the neighbourhood the offset conv looks at.

    forward(x (B, C_in, H, W), return_positions=False) -> (B, C_out, H, W), or ``(out, pos, ref)``
    as for :class:`dat_edu.deformable.DeformableAttention`: the sampling positions p + t + Δp_t and
    the fixed taps p + t, (B, k*k, H, W, 2) (one set per tap, as the D block has one per group),
    normalized under ``align_corners=True`` (the convention it samples with), last dim (y, x).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        bias: bool = True,
        offset_scale: float = 1.0,
        detach_offsets: bool = False,
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.offset_scale = offset_scale
        self.detach_offsets = detach_offsets
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's default init
        taps = kernel_size * kernel_size
        self.offset_conv = nn.Conv2d(in_ch, 2 * taps, kernel_size, padding=kernel_size // 2)
        nn.init.zeros_(self.offset_conv.weight)
        nn.init.zeros_(self.offset_conv.bias)
        r = kernel_size // 2
        dy, dx = torch.meshgrid(torch.arange(-r, r + 1), torch.arange(-r, r + 1), indexing="ij")
        # fixed tap displacements (k*k, 2), (y, x), row-major like the conv weight's (kh, kw)
        self.register_buffer("taps", torch.stack([dy, dx], -1).reshape(taps, 2).float(), persistent=False)

    def sampling_positions(self, x: torch.Tensor, with_offsets: bool = True) -> torch.Tensor:
        """p + t + Δp_t in pixels: (B, k*k, H, W, 2), last dim (y, x); the fixed taps p + t without offsets."""
        B, _, H, W = x.shape
        ys, xs = torch.meshgrid(
            torch.arange(H, dtype=x.dtype, device=x.device),
            torch.arange(W, dtype=x.dtype, device=x.device),
            indexing="ij",
        )
        base = torch.stack([ys, xs], -1)  # (H, W, 2), pixel p, (y, x)
        taps = self.taps.to(x.dtype)[:, None, None, :]  # (T, 1, 1, 2)
        if not with_offsets:
            return (base + taps).expand(B, -1, -1, -1, -1)  # (B, T, H, W, 2)
        offsets = self.offset_conv(x) * self.offset_scale  # (B, 2*k*k, H, W)
        if self.detach_offsets:
            offsets = offsets.detach()
        offsets = rearrange(offsets, "b (t p) h w -> b t h w p", p=2)  # (B, T, H, W, 2), (Δy, Δx)
        return base + taps + offsets  # (B, T, H, W, 2)

    def forward(
        self, x: torch.Tensor, return_positions: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        check_nchw(x, "DeformableConv2d", self.in_ch)
        B, C, H, W = x.shape
        if H < 2 or W < 2:
            raise ValueError(f"the map must be at least 2x2 to sample between pixels, got {H}x{W}")
        T = self.kernel_size**2
        pix = self.sampling_positions(x)  # (B, T, H, W, 2) pixels, (y, x)
        pos = pixel_to_normalized(pix, (H, W), True)  # align_corners=True: pixel centres at -1 .. 1
        tall = rearrange(pos, "b t h w p -> b (t h) w p")  # one tall grid: (B, T*H, W, 2)
        samples = sample_features(x, tall, align_corners=True)  # (B, C, T*H, W)
        samples = rearrange(samples, "b c (t h) w -> b c t h w", t=T)  # (B, C, T, H, W)
        weight = rearrange(self.weight, "o c kh kw -> o c (kh kw)")  # (C_out, C_in, T)
        out = torch.einsum("bcthw,oct->bohw", samples, weight)  # sum over channels and taps
        if self.bias is not None:
            out = out + self.bias[:, None, None]
        if not return_positions:
            return out
        ref = pixel_to_normalized(self.sampling_positions(x, with_offsets=False), (H, W), True)
        return out, pos, ref

    def extra_repr(self) -> str:
        return (
            f"{self.in_ch}, {self.out_ch}, kernel_size={self.kernel_size}, "
            f"offset_scale={self.offset_scale}, detach_offsets={self.detach_offsets}"
        )


class DetachedPositions(DeformableAttention):
    """A :class:`dat_edu.deformable.DeformableAttention` whose sampling positions are detached.

    Same arguments, parameters and outputs as the block; only the gradient changes: nothing flows
    back through the offset network or through the position bias's dependence on the positions,
    so a gradient receptive field shows where keys and values are read (plus the query pixel
    itself), as in the paper's Figure 1. It overrides the one step that computes the positions.
    To detach a block you already have: ``DetachedPositions(...same args...).load_state_dict(
    block.state_dict())``.
    """

    def sampling_positions(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos, ref = super().sampling_positions(q)
        return pos.detach(), ref.detach()


def reference_operators(
    dim: int = 32,
    size: int = 16,
    num_heads: int = 2,
    window: int = 4,
    dat_stride: int = 4,
    dat_groups: int = 1,
    dcn_offset_std: float = 0.1,
    detach_offsets: bool = False,
    seed: int = 0,
) -> dict[str, nn.Module]:
    """Four tiny operators on a ``size`` x ``size`` map with ``dim`` channels, in eval mode.

    Returns an ordered dict: "ViT (dense)" :class:`dat_edu.attention.MultiHeadSelfAttention`,
    "Swin (window)" :class:`dat_edu.windows.WindowAttention` (``window``), "DCN (deformable conv)"
    :class:`DeformableConv2d` 3x3 whose offset conv gets random weights (std ``dcn_offset_std``) so
    that the taps actually move, and "DAT (deformable)" :class:`dat_edu.deformable.DeformableAttention`
    with key stride ``dat_stride`` (so (size/stride)^2 keys per group) and the official factor 2.
    ``detach_offsets=True`` stops the gradient through DCN's and DAT's offsets
    (:class:`DetachedPositions`): the fields then show only where values are read.
    """
    torch.manual_seed(seed)
    dcn = DeformableConv2d(dim, dim, 3, detach_offsets=detach_offsets)
    nn.init.normal_(dcn.offset_conv.weight, std=dcn_offset_std)
    offset_kernel = dat_stride if dat_stride % 2 else dat_stride + 1  # odd, about one key cell wide
    dat = (DetachedPositions if detach_offsets else DeformableAttention)(
        dim, num_heads, dat_groups, (size, size), stride=dat_stride, kernel_size=offset_kernel
    )
    ops: dict[str, nn.Module] = {
        "ViT (dense)": MultiHeadSelfAttention(dim, num_heads),
        "Swin (window)": WindowAttention(dim, num_heads, window),
        "DCN (deformable conv)": dcn,
        "DAT (deformable)": dat,
    }
    for op in ops.values():
        op.eval()
    return ops


def __getattr__(name: str):
    if name == "draw_receptive_fields":  # moved to dat_edu.plots; this path keeps working for one release
        import warnings

        from dat_edu.plots import draw_receptive_fields

        warnings.warn("dat_edu.receptive_field.draw_receptive_fields moved to dat_edu.plots.draw_receptive_fields",
                      DeprecationWarning, stacklevel=2)
        return draw_receptive_fields
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
