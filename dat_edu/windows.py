"""Swin-style window attention (W-MSA) and shifted window attention (SW-MSA), as used by DAT's L and S blocks.

Window attention cuts the H x W map into non-overlapping window x window squares and runs
self-attention inside each square only: every query sees window*window keys instead of H*W.
The shifted variant first rolls the map by -shift pixels (up and left) so that the new windows
straddle the old window borders; this lets information cross windows from one block to the next.

Shape notation: B batch, C channels, H x W map, w window size, nW = (H/w)*(W/w) windows per image,
N = w*w tokens per window, nh heads, hc = C/nh channels per head.

Window order everywhere (as in the official DAT code): batch outermost, then window row, then
window column; inside a window the tokens are in row-major order (token t = row * w + col).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from einops import rearrange, repeat

from dat_edu.attention import check_heads, scaled_dot_product_attention
from dat_edu.position_bias import relative_position_index
from dat_edu.validate import check_nchw

__all__ = [
    "window_partition",
    "window_reverse",
    "dat_shift",
    "shifted_window_regions",
    "shifted_window_mask",
    "WindowAttention",
]

MASK_VALUE = -100.0  # Swin/DAT add -100 (not -inf): exp(-100) ~ 4e-44 is zero in practice and never nan.


def _check_divisible(h: int, w: int, window: int) -> None:
    if window < 1:
        raise ValueError(f"window must be a positive integer, got {window}")
    if h % window != 0 or w % window != 0:
        raise ValueError(
            f"feature map {h}x{w} is not divisible by window {window}: pad the input to a "
            f"multiple of {window} or pick a window that divides both {h} and {w}"
        )


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """Cut an NCHW map into non-overlapping windows of tokens.

    x: (B, C, H, W) with H and W divisible by ``window``.
    Returns (B*nW, w*w, C): window index = (b * H/w + window_row) * W/w + window_col, and the
    w*w tokens of a window in row-major order.
    """
    check_nchw(x, "window_partition")
    _check_divisible(x.shape[2], x.shape[3], window)
    return rearrange(x, "b c (r1 h1) (r2 w1) -> (b r1 r2) (h1 w1) c", h1=window, w1=window)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B*nW, w*w, C) -> (B, C, h, w)."""
    _check_divisible(h, w, window)
    if windows.dim() != 3 or windows.shape[1] != window * window:
        raise ValueError(
            f"window_reverse expects (B*nW, {window * window}, C) windows, got shape {tuple(windows.shape)}"
        )
    r1, r2 = h // window, w // window
    if windows.shape[0] % (r1 * r2) != 0:
        raise ValueError(
            f"{windows.shape[0]} windows cannot come from {h}x{w} maps: each map gives {r1 * r2} windows"
        )
    return rearrange(
        windows, "(b r1 r2) (h1 w1) c -> b c (r1 h1) (r2 w1)", r1=r1, r2=r2, h1=window, w1=window
    )


def dat_shift(window: int) -> int:
    """The shift of DAT's "S" blocks: ceil(window / 2) (4 for window 7), not Swin's window // 2 (3).

    The official code computes ``math.ceil(window / 2)``; for even windows both rules agree.
    """
    if window < 2:
        raise ValueError(f"a shifted window needs window >= 2, got {window}")
    return (window + 1) // 2


def _check_shift(window: int, shift: int) -> None:
    if not 0 < shift < window:
        raise ValueError(
            f"shift must satisfy 0 < shift < window, got shift={shift} and window={window}; "
            "shift=0 needs no mask (plain window attention)"
        )


def shifted_window_regions(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """Swin's region label (0..8) of every pixel of the map rolled by (-shift, -shift): (h, w) long.

    Rows [0, h-window) | [h-window, h-shift) | [h-shift, h) get labels 0, 1, 2 (same for columns);
    a pixel's label is 3 * row label + column label. Pixels with different labels came from parts
    of the image that were far apart before the roll.
    """
    _check_divisible(h, w, window)
    _check_shift(window, shift)
    labels = torch.zeros(h, w, dtype=torch.long)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    region = 0
    for rows in cuts:
        for cols in cuts:
            labels[rows, cols] = region
            region += 1
    return labels


def shifted_window_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """Attention mask for shifted windows on an h x w map: (nW, w*w, w*w), 0 = allowed, -100 = blocked.

    After rolling the map by -shift, the last ``shift`` rows (and columns) hold pixels that came
    from the opposite border. A window that contains both kinds of pixels must not mix them:
    they were far apart in the image. Swin labels the rolled map with 3 regions per axis,
        rows [0, h-window) | [h-window, h-shift) | [h-shift, h)
    (same for columns), 9 regions in all; two tokens in the same window may attend to each other
    only if they carry the same label. Only the last window row/column ever mixes labels.

    The mask depends on (h, w): recompute it for every input size (a mask built for 14x14 has
    4 windows, one for 28x28 has 16).
    """
    labels = shifted_window_regions(h, w, window, shift)  # (h, w), rolled layout
    win_labels = rearrange(labels, "(r1 h1) (r2 w1) -> (r1 r2) (h1 w1)", h1=window, w1=window)  # (nW, N)
    different = win_labels[:, :, None] != win_labels[:, None, :]  # (nW, N, N): query i, key j
    return torch.zeros(different.shape).masked_fill(different, MASK_VALUE)


class WindowAttention(nn.Module):
    """Window (shift=0, W-MSA, DAT's "L" block) or shifted window (shift>0, SW-MSA, "S") attention.

    Parameters and buffers, named as in the official DAT ``LocalAttention`` so its state dict loads:
      ``proj_qkv``: Linear(C, 3C), output rows [q block | k block | v block], heads ``(h c)`` in each;
      ``proj_out``: Linear(C, C);
      ``relative_position_bias_table``: ((2w-1)^2, nh), truncated normal std 0.01;
      buffer ``relative_position_index``: (w*w, w*w) long (persistent, it is in the official state dict).
    The official shifted block also stores ``attn_mask`` for the one size it was built for; here the
    mask is computed for the size of each input and cached per (H, W, device, dtype), outside the
    state dict (drop ``attn_mask`` when loading an official checkpoint).

    DAT's shifted block uses shift = :func:`dat_shift` (window) = ceil(window / 2), not Swin's window // 2.

    forward(x (B, C, H, W), return_positions=False) -> (B, C, H, W); H and W must be divisible by
    ``window``. ``return_positions=True`` gives ``(y, None, None)``: the same interface as
    :class:`dat_edu.deformable.DeformableAttention`, whose keys have positions; a window's keys are
    its own pixels.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window: int,
        shift: int = 0,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        if window < 1:
            raise ValueError(f"window must be a positive integer, got {window}")
        if not 0 <= shift < window:
            raise ValueError(
                f"shift {shift} must satisfy 0 <= shift < window {window}: a shift of a whole window "
                f"only moves the grid by one window; DAT uses shift = ceil(window/2)"
                + (f" = {dat_shift(window)}" if window > 1 else "")
            )
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.window = window
        self.shift = shift
        self.attn_drop = attn_drop

        self.proj_qkv = nn.Linear(dim, 3 * dim)
        self.proj_out = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, num_heads)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.01)
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=True)
        self._mask_cache: dict[tuple, torch.Tensor] = {}

    def relative_position_bias(self) -> torch.Tensor:
        """Look the table up for every (query, key) pair of a window: (nh, w*w, w*w)."""
        n = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]  # (N*N, nh)
        return rearrange(bias, "(i j) nh -> nh i j", i=n, j=n)

    def attention_mask(self, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor | None:
        """The shifted-window mask (nW, w*w, w*w) for an h x w input, or None when shift == 0."""
        if self.shift == 0:
            return None
        key = (h, w, torch.device(device) if device is not None else torch.device("cpu"), dtype)
        if key not in self._mask_cache:
            self._mask_cache[key] = shifted_window_mask(h, w, self.window, self.shift).to(device, dtype)
        return self._mask_cache[key]

    @property
    def letter(self) -> str:
        """The block letter of DAT's stage_spec: "S" with a shift, "L" without."""
        return "S" if self.shift > 0 else "L"

    def forward(
        self, x: torch.Tensor, return_positions: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, None, None]:
        check_nchw(x, "WindowAttention", self.dim)
        B, C, H, W = x.shape
        _check_divisible(H, W, self.window)

        s = self.shift
        if s > 0:  # move the window grid: pixel (s, s) becomes the top-left corner
            x = torch.roll(x, shifts=(-s, -s), dims=(2, 3))
        tokens = window_partition(x, self.window)  # (B*nW, N, C)
        q, k, v = self.proj_qkv(tokens).chunk(3, dim=-1)  # 3 x (B*nW, N, C)
        q, k, v = (rearrange(t, "b n (h c) -> b h n c", h=self.num_heads) for t in (q, k, v))

        bias = self.relative_position_bias()  # (nh, N, N), same for every window
        mask = self.attention_mask(H, W, device=x.device, dtype=x.dtype)  # (nW, N, N) or None
        if mask is not None:
            # window index = b * nW + n, so repeating over b lines each mask up with its window
            bias = bias + repeat(mask, "n i j -> (b n) 1 i j", b=B)  # (B*nW, nh, N, N)
        p = self.attn_drop if self.training else 0.0
        out, _ = scaled_dot_product_attention(q, k, v, bias=bias, scale=self.scale, dropout_p=p)
        out = rearrange(out, "b h n c -> b n (h c)")  # (B*nW, N, C)
        out = self.proj_drop(self.proj_out(out))
        y = window_reverse(out, self.window, H, W)  # (B, C, H, W)
        if s > 0:  # undo the roll so every pixel returns to its place
            y = torch.roll(y, shifts=(s, s), dims=(2, 3))
        return (y, None, None) if return_positions else y

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, window={self.window}, shift={self.shift}"
