"""Attention from scratch: a stable softmax, scaled dot-product attention, dense multi-head self-attention.

Everything here is written out with ``torch.einsum`` so that every step is visible. The tests
check it against ``torch.softmax``, ``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention``.

Shape notation: B batch, h heads, Nq queries, Nk keys, d channels per head, C = h * d channels.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from dat_edu.validate import check_divisible, check_nchw

__all__ = [
    "check_heads",
    "naive_softmax",
    "stable_softmax",
    "scaled_dot_product_attention",
    "MultiHeadSelfAttention",
]


def naive_softmax(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Textbook softmax ``exp(s) / sum(exp(s))``: kept only to show why it breaks.

    ``exp(1e4)`` is ``inf`` in float32 (and float64), so any large score gives ``inf / inf = nan``.
    Use :func:`stable_softmax` instead.
    """
    e = scores.exp()
    return e / e.sum(dim=dim, keepdim=True)


def check_heads(dim: int, num_heads: int) -> None:
    """Raise a clear ValueError unless ``num_heads`` splits ``dim`` channels into equal heads."""
    check_divisible(dim, "dim", num_heads, "num_heads", "every head needs the same number of channels")


def stable_softmax(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax along ``dim`` that cannot overflow, equal to ``torch.softmax(scores, dim)``.

    softmax(s) = softmax(s - c) for any constant c per row, because the factor exp(-c) cancels
    between numerator and denominator. With c = the row maximum every exponent is <= 0, so
    ``exp`` lies in (0, 1] and the largest term is exactly 1: no overflow, and the sum is >= 1.

    The maximum is taken of ``scores.detach()``: it is a constant shift that does not change the
    result, so no gradient needs to flow through it (lucidrains/deformable-attention does the same),
    and autograd does not even record the max (it would otherwise keep a copy of ``scores``).

    Memory note: written out like this, autograd keeps both ``exp(shifted)`` and the result for the
    backward pass. ``torch.softmax`` computes exactly this (it also subtracts the row max) in one
    fused kernel whose backward needs only its output: half the saved memory. That is why
    :func:`scaled_dot_product_attention` calls ``torch.softmax``.

    scores: any shape. Returns a tensor of the same shape whose entries along ``dim`` sum to 1.
    A row that is entirely ``-inf`` (every key masked) gives ``nan``, exactly like ``torch.softmax``.
    """
    shifted = scores - scores.detach().amax(dim=dim, keepdim=True)  # every entry <= 0
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T * scale + bias + mask) v, written out step by step with einsum.

    Args:
        q: queries (B, h, Nq, d).
        k: keys (B, h, Nk, d).
        v: values (B, h, Nk, dv).
        bias: optional additive bias broadcastable to (B, h, Nq, Nk), e.g. a relative position bias
            (h, Nq, Nk) or Swin's -100 shifted-window mask (B, 1, Nq, Nk).
        mask: optional mask broadcastable to (B, h, Nq, Nk). Boolean: True = this query may attend
            to this key (the convention of ``F.scaled_dot_product_attention``); False entries get
            ``-inf``. A float mask is simply added, like ``bias``.
        scale: multiplies the scores; default ``d ** -0.5`` so that scores of unit-variance q, k
            have unit variance and the softmax does not saturate.
        dropout_p: dropout on the attention weights (pass 0.0 at evaluation time).

    Returns:
        out: (B, h, Nq, dv), the attention-weighted sum of the values.
        attn: (B, h, Nq, Nk), the softmax probabilities (before dropout); each row sums to 1.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q has {q.shape[-1]} channels per head but k has {k.shape[-1]}: "
            "queries and keys must have the same head dimension d"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k has {k.shape[-2]} keys but v has {v.shape[-2]} values: each key needs one value"
        )
    if scale is None:
        scale = q.shape[-1] ** -0.5
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) * scale  # (B, h, Nq, Nk)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    # torch.softmax = stable_softmax (max subtracted, see above), fused: same numbers, half the memory
    attn = torch.softmax(scores, dim=-1)  # (B, h, Nq, Nk), rows sum to 1
    weights = F.dropout(attn, p=dropout_p, training=True) if dropout_p > 0 else attn
    out = torch.einsum("bhqk,bhkd->bhqd", weights, v)  # (B, h, Nq, dv)
    return out, attn


class MultiHeadSelfAttention(nn.Module):
    """Dense (global) multi-head self-attention on an NCHW feature map, ViT style.

    Every one of the H*W positions attends to all H*W positions: cost and memory grow with
    (H*W)^2. This is the baseline that window attention and deformable attention improve on.

    Parameters (same layout as ``nn.MultiheadAttention.in_proj_weight`` and the official DAT
    ``proj_qkv``): ``proj_qkv`` = Linear(C, 3C) whose output rows are [q block | k block | v block],
    and inside each block the channels are ordered ``(h d)``: head 0's d channels, then head 1's...
    ``proj_out`` = Linear(C, C).

    forward(x (B, C, H, W)) -> (B, C, H, W); with ``return_attn=True`` also the attention
    weights (B, h, H*W, H*W) (row = query position, column = key position, both in row-major order).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.proj_qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj_out = nn.Linear(dim, dim)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(
        self, x: torch.Tensor, return_attn: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        check_nchw(x, "MultiHeadSelfAttention", self.dim,
                   hint="for tokens (B, N, C) use rearrange(t, 'b (h w) c -> b c h w', h=H)")
        B, C, H, W = x.shape
        tokens = rearrange(x, "b c h w -> b (h w) c")  # (B, N, C), N = H*W
        q, k, v = self.proj_qkv(tokens).chunk(3, dim=-1)  # 3 x (B, N, C): q block, k block, v block
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=self.num_heads) for t in (q, k, v))
        p = self.attn_drop if self.training else 0.0
        out, attn = scaled_dot_product_attention(q, k, v, scale=self.scale, dropout_p=p)
        out = rearrange(out, "b h n d -> b n (h d)")  # (B, N, C), heads concatenated
        out = self.proj_drop(self.proj_out(out))
        y = rearrange(out, "b (h w) c -> b c h w", h=H, w=W)  # (B, C, H, W)
        return (y, attn) if return_attn else y

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, head_dim={self.head_dim}"
