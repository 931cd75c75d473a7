"""Window attention again, reorganised for speed: same parameters, same numbers.

:class:`FastWindowAttention` is a :class:`dat_edu.windows.WindowAttention` (same constructor,
parameters, buffers and state dict) whose ``forward`` computes the same function with fewer passes
over memory (tests/test_fast.py holds the two equal in value and gradient):

* the map is read as (B, H, W, C) tokens: on channels-last memory that is a view; rolling and
  cutting windows is one ``index_select`` with a cached permutation, and so is the way back;
* the position bias and the shifted-window mask are added as one (nW, nh, N, N) tensor,
  broadcast over the batch, in the same pass that applies 1/sqrt(d) (``torch.add(alpha=...)``),
  instead of a scale pass, a bias pass and a mask repeated for every image;
* the projections go through :func:`dat_edu.fast.linear.linear` (oneDNN at inference), and at
  inference the attention itself is one fused kernel (:func:`dat_edu.fast.attend.attend`).

The result is a channels-last view (B, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dat_edu.fast.attend import attend, fused_ok
from dat_edu.fast.linear import linear
from dat_edu.windows import WindowAttention, _check_divisible

__all__ = ["FastWindowAttention"]


class FastWindowAttention(WindowAttention):
    """:class:`WindowAttention` with a faster ``forward``: (B, C, H, W) -> (B, C, H, W), channels-last."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._order_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _bias_and_mask(self, h: int, w: int, x: torch.Tensor) -> torch.Tensor:
        """(nW or 1, nh, N, N): the relative position bias plus the shifted-window mask."""
        bias = self.relative_position_bias().to(x.dtype).contiguous().unsqueeze(0)  # (1, nh, N, N)
        mask = self.attention_mask(h, w, device=x.device, dtype=x.dtype)  # (nW, N, N) or None
        return bias if mask is None else bias + mask.unsqueeze(1)

    def _window_order(self, h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(order, inverse): pixel index of every token in window order, after the roll by -shift,
        and the inverse permutation. Cutting windows (and rolling) is then one index_select."""
        key = (h, w, torch.device(device))
        if key not in self._order_cache:
            ws, s = self.window, self.shift
            pix = torch.arange(h * w, device=device).view(h, w)
            if s > 0:
                pix = torch.roll(pix, shifts=(-s, -s), dims=(0, 1))
            order = pix.view(h // ws, ws, w // ws, ws).transpose(1, 2).reshape(-1)
            self._order_cache[key] = (order, torch.argsort(order))
        return self._order_cache[key]

    def forward(self, x: torch.Tensor, return_positions: bool = False):
        if x.dim() != 4 or x.shape[1] != self.dim:
            return super().forward(x)  # the readable forward raises the clear error
        B, C, H, W = x.shape
        _check_divisible(H, W, self.window)
        nh, n = self.num_heads, self.window * self.window
        order, inverse = self._window_order(H, W, x.device)
        t = x.permute(0, 2, 3, 1).reshape(B, H * W, C)  # a view on channels-last memory
        windows = t.index_select(1, order).view(-1, C)  # (B*nW*N, C): rolled and cut in one pass
        qkv = linear(windows, self.proj_qkv.weight, self.proj_qkv.bias)
        qkv = qkv.view(-1, n, 3, nh, C // nh).permute(2, 0, 3, 1, 4)  # (3, B*nW, nh, N, hc)
        bias = self._bias_and_mask(H, W, x)  # (nW or 1, nh, N, N)
        if fused_ok(x, qkv, bias) and not (self.training and self.attn_drop > 0):
            nw = H * W // n
            bias = bias.expand(B, nw, -1, -1, -1).reshape(B * nw, nh, n, n)
            z = attend(*qkv.unbind(0), bias, self.scale)  # (B*nW, nh, N, hc)
        else:
            q, k, v = (u.reshape(-1, n, C // nh) for u in qkv.unbind(0))  # (B*nW*nh, N, hc)
            scores = torch.bmm(q, k.transpose(1, 2)).view(B, -1, nh, n, n)
            scores = torch.add(bias, scores, alpha=self.scale)  # bias + scale q k^T
            attn = scores.view(-1, n, n).softmax(dim=-1)
            if self.training and self.attn_drop > 0:
                attn = F.dropout(attn, self.attn_drop)
            z = torch.bmm(attn, v).view(-1, nh, n, C // nh)
        z = z.transpose(1, 2).reshape(-1, C)
        out = self.proj_drop(linear(z, self.proj_out.weight, self.proj_out.bias))
        y = out.view(B, H * W, C).index_select(1, inverse)  # back to pixel order, rolled back
        y = y.view(B, H, W, C).permute(0, 3, 1, 2)  # (B, C, H, W), channels-last memory
        return (y, None, None) if return_positions else y
