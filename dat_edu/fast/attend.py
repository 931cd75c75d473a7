"""Softmax attention with an additive bias: PyTorch's fused kernel at inference, bmm otherwise.

``softmax(scale * q k^T + bias) v`` is three passes over the (N, Ns) score matrix when written out
(q k^T with the bias, the softmax, the product with v). ``F.scaled_dot_product_attention`` computes
the same in one blocked pass without storing the scores, and reads q, k and v through their strides
(heads need not be copied out of the token layout). Its CPU kernel is used only when no gradient is
needed and no dispatch mode is watching (as :func:`dat_edu.fast.linear.linear`).

In training, :func:`attend_into_bias` computes the same with a hand-written backward that works in
place: the scores are written into the bias tensor itself (no copy of the bias into a new score
matrix), the softmax overwrites them, and the softmax backward overwrites the gradient of the
probabilities. Autograd's own form allocates and fills two more score-sized tensors each way.
All give the same numbers to float rounding (tests/test_fast.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd import Function

from dat_edu.fast.linear import watched

__all__ = ["attend", "attend_into_bias", "fused_ok", "in_place_ok"]


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


def in_place_ok(q: torch.Tensor, bias: torch.Tensor) -> bool:
    """True when :func:`attend_into_bias` may take ``bias``: not a view, same dtype as q, no
    autocast (which would cast the inputs) and no dispatch mode watching (it should see plain ops).
    Only on CPU and CUDA tensors: a "meta" tensor (shapes only) keeps the written-out form."""
    return (q.device.type in ("cpu", "cuda") and bias._base is None and bias.is_contiguous() and bias.dtype == q.dtype
            and not torch.is_autocast_enabled(q.device.type) and not watched())


class _AttendIntoBias(Function):
    """softmax(scale * q k^T + bias) v, the scores computed in ``bias``'s memory (marked dirty)."""

    @staticmethod
    def forward(ctx, q, k, v, bias, scale):
        G, N, Ns = q.shape[0], q.shape[1], k.shape[1]
        p = bias.view(G, N, Ns).baddbmm_(q, k.transpose(1, 2), alpha=scale)  # scores, in place
        torch.ops.aten._softmax.out(p, -1, False, out=p)  # probabilities, in place (row by row)
        ctx.mark_dirty(bias)
        ctx.save_for_backward(q, k, v, bias)
        ctx.scale = scale
        ctx.set_materialize_grads(False)
        return torch.bmm(p, v), bias  # autograd wants a dirty input among the outputs

    @staticmethod
    def backward(ctx, gz, _):  # the probabilities output is not used downstream
        if gz is None:  # nothing downstream of the output needs a gradient
            return None, None, None, None, None
        q, k, v, p = ctx.saved_tensors
        G, N, Ns = q.shape[0], q.shape[1], k.shape[1]
        shape, p = p.shape, p.view(G, N, Ns)
        gp = torch.bmm(gz, v.transpose(1, 2))  # d loss / d probabilities: (G, N, Ns)
        gv = torch.bmm(p.transpose(1, 2), gz)
        # d loss / d scores = p * (gp - rowsum(gp * p)), written over gp (a fresh tensor, ours)
        torch.ops.aten._softmax_backward_data.out(gp, p, -1, p.dtype, grad_input=gp)
        gq = torch.bmm(gp, k).mul_(ctx.scale)
        gk = torch.bmm(gp.transpose(1, 2), q).mul_(ctx.scale)
        return gq, gk, gv, gp.view(shape), None


def attend_into_bias(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                     scale: float) -> torch.Tensor:
    """softmax(scale * q k^T + bias) v for q (G, N, d), k and v (G, Ns, d); returns (G, N, d).

    ``bias``: any contiguous tensor of G*N*Ns numbers, not a view, that the caller owns and no
    longer needs (a fresh ``grid_sample`` output): it is overwritten with the probabilities.
    Gradients reach q, k, v and bias. No dropout here: callers with dropout use the written-out form.
    """
    if not in_place_ok(q, bias) or bias.numel() != q.shape[0] * q.shape[1] * k.shape[1]:
        raise ValueError("attend_into_bias needs a contiguous bias of G*N*Ns numbers in q's dtype, not a view, "
                         "outside autocast and dispatch modes (use the written-out form there); "
                         f"got shape {tuple(bias.shape)} for q {tuple(q.shape)} and k {tuple(k.shape)}")
    return _AttendIntoBias.apply(q, k, v, bias, scale)[0]
