"""Softmax attention with an additive bias: PyTorch's fused kernel at inference, bmm otherwise.

``softmax(scale * q k^T + bias) v`` is three passes over the (N, Ns) score matrix when written out
(q k^T with the bias, the softmax, the product with v). ``F.scaled_dot_product_attention`` computes
the same in one blocked pass without storing the scores, and reads q, k and v through their strides
(heads need not be copied out of the token layout). Its CPU kernel is used only when no gradient is
needed and no dispatch mode is watching (as :func:`dat_edu.fast.linear.linear`); training keeps the
written-out form, whose backward autograd knows. Both give the same numbers to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dat_edu.fast.linear import watched

__all__ = ["attend", "fused_ok"]


def fused_ok(*tensors: torch.Tensor | None) -> bool:
    """True when no gradient is wanted of any of ``tensors`` and nothing is watching the dispatch."""
    grads = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    return not grads and not watched()


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
           scale: float) -> torch.Tensor:
    """softmax(scale * q k^T + bias) v for q (B, h, N, d), k and v (B, h, Ns, d), bias (B, h, N, Ns).

    Returns (B, h, N, d). Use only when :func:`fused_ok` (no dropout, no gradient).
    """
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)
