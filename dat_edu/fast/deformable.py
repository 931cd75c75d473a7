"""The deformable attention block again, reorganised for speed: same parameters, same numbers.

:class:`dat_edu.deformable.DeformableAttention` is written to be read next to the paper: NCHW maps,
one einops step per equation. :class:`FastDeformableAttention` is a subclass with the same
constructor, parameters and state dict; only ``forward`` differs. It computes the same function
(tests/test_fast.py holds the two, and the official forward, equal in value and
gradient), with the work arranged the way a CPU (or GPU) likes it:

* **Tokens, not maps.** The 1x1 projections run as one matrix product each on (B*N, C) tokens,
  not as per-image convolutions; k and v read the same sampled tokens.
* **One depthwise convolution for all groups.** The offset network is shared by the groups and
  its first layer is depthwise, so running it on (B*g, Cg, H, W) equals running it on
  (B, C, H, W) with the kernel repeated g times. On channels-last memory that is one fast
  convolution (its backward, for kernels of 5 and more, as two more:
  :func:`dat_edu.fast.conv.depthwise_conv2d`); the LayerNorm then normalises the last axis directly.
* **The bias grid is built in grid_sample's (x, y) order.** The readable block forms the
  (query, key) displacement in (y, x), then swaps the whole HW x Ns grid; here only the small
  per-axis coordinate tensors are swapped, and the factor 1/2 is folded into them.
* **Fewer passes over the attention matrix.** ``baddbmm`` adds the bias and applies 1/sqrt(d) in
  the same pass as q k^T; in training the scores, the softmax and its backward are written in
  place (:func:`dat_edu.fast.attend.attend_into_bias`); at inference one fused kernel
  (:func:`dat_edu.fast.attend.attend`) does the whole attention, reading the heads in place.

The result is returned as a channels-last view (B, C, H, W): values and shape as the readable
block, memory (B, H, W, C).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dat_edu.deformable import DeformableAttention
from dat_edu.fast.attend import attend, attend_into_bias, fused_ok, in_place_ok
from dat_edu.fast.conv import depthwise_conv2d
from dat_edu.fast.linear import linear
from dat_edu.sampling import normalized_to_pixel, pixel_to_normalized, reference_grid, sample_features, yx_to_xy

__all__ = ["FastDeformableAttention", "deformable_tokens"]


def _offsets(m: DeformableAttention, q: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Raw offsets θ_offset(q) for every group: q tokens (B, N, C) -> (B*g, 2, Hk, Wk), (Δy, Δx)."""
    B, _, C = q.shape
    g, cg = m.num_groups, m.group_dim
    net = m.conv_offset
    k = net.kernel_size
    q_map = q.view(B, h, w, C).permute(0, 3, 1, 2)  # (B, C, H, W) on channels-last memory
    # depthwise: group i's channels use the shared kernel, so repeat it g times along channels
    o = depthwise_conv2d(q_map, net.dwconv.weight.repeat(g, 1, 1, 1), net.dwconv.bias.repeat(g),
                         padding=k // 2, stride=net.stride)  # (B, C, Hk, Wk)
    hk, wk = o.shape[2], o.shape[3]
    o = o.permute(0, 2, 3, 1).reshape(B, hk, wk, g, cg)  # channels last: one row per group
    ln = net.norm.norm
    o = F.gelu(F.layer_norm(o, (cg,), ln.weight, ln.bias, ln.eps))
    o = o @ net.proj.weight.view(2, cg).t()  # the 1x1 conv Cg -> 2: (B, Hk, Wk, g, 2)
    return o.permute(0, 3, 4, 1, 2).reshape(B * g, 2, hk, wk)


def _positions(m: DeformableAttention, q: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampling positions and reference points, each (B*g, Hk, Wk, 2), normalized, (y, x)."""
    hk, wk = m.key_grid_size(h, w)
    ref = reference_grid(hk, wk, dtype=q.dtype, device=q.device).expand(q.shape[0] * m.num_groups, hk, wk, 2)
    if not m.use_offsets:
        return ref, ref
    return m.offset_positions(_offsets(m, q, h, w), ref), ref


def _bias_grid(m: DeformableAttention, pos: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Where each (query, key) pair reads the table: (B*g, H*W, Ns, 2) in grid_sample's (x, y).

    pos: (B*g, Hk, Wk, 2), (y, x). Official: 0.5 * (q - p), read with align_corners=True.
    Corrected: the pixel displacement q_pix - p_pix (align_corners=False pixels) read at table
    entry (H-1+dy, W-1+dx). Both are ``a(q) - a(p)`` for a per-axis affine map a, so a is applied
    to the small coordinate tensors and the big grid is one subtraction.
    """
    q = yx_to_xy(reference_grid(h, w, dtype=pos.dtype, device=pos.device)).reshape(1, h * w, 1, 2)
    p = yx_to_xy(pos).reshape(pos.shape[0], 1, -1, 2)  # (B*g, 1, Ns, 2), (x, y)
    if m.coords == "official":
        return 0.5 * q - 0.5 * p

    def table_units(u: torch.Tensor) -> torch.Tensor:
        # pixel / (size - 1): table entry (size-1+d) of the 2*size-1 entries is normalized d/(size-1)
        return torch.stack([pixel_to_normalized(normalized_to_pixel(u[..., i], n, False), 2 * n - 1, True) + 1
                            for i, n in enumerate((w, h))], dim=-1)

    return table_units(q) - table_units(p)


def _position_bias(m: DeformableAttention, pos: torch.Tensor, h: int, w: int) -> torch.Tensor | None:
    """φ(B̂; R): B*nh*H*W*Ns numbers in (image, head, query, key) order, or None. pos: (B*g, Hk, Wk, 2).

    The table lookup returns ``grid_sample``'s own output (B*g, hg, HW, Ns), not a view of it, so
    that training can overwrite it with the scores (:func:`dat_edu.fast.attend.attend_into_bias`).
    """
    if m.position_bias is None:
        return None
    g = m.num_groups
    B = pos.shape[0] // g
    n, ns = h * w, pos.shape[1] * pos.shape[2]
    if m.position_bias == "continuous":
        q_grid = reference_grid(h, w, dtype=pos.dtype, device=pos.device)
        return m.cpb(q_grid, m.by_group(pos)).reshape(B * m.num_heads, n, ns)
    table = m.rpe_table  # (nh, 2H-1, 2W-1); group i's heads read group i's grid
    tables = table.view(1, g, -1, *table.shape[1:]).expand(B, -1, -1, -1, -1).reshape(B * g, -1, *table.shape[1:])
    return F.grid_sample(tables, _bias_grid(m, pos, h, w), mode="bilinear", padding_mode="zeros",
                         align_corners=True)  # (B*g, hg, HW, Ns)


def _heads(t: torch.Tensor, nh: int) -> torch.Tensor:
    """(B, N, C) tokens -> (B*nh, N, hc), channel = head * hc + c as in the official reshape."""
    B, N, C = t.shape
    return t.view(B, N, nh, C // nh).transpose(1, 2).reshape(B * nh, N, C // nh)


def deformable_tokens(m: DeformableAttention, x: torch.Tensor, h: int, w: int,
                      x_map: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The deformable block on tokens: x (B, H*W, C) -> (y (B, H*W, C), pos, ref (B, g, Hk, Wk, 2)).

    ``x_map``: the same input as an NCHW (B, C, H, W) tensor when the caller has it contiguous
    (sampling reads x per group as (B*g, Cg, H, W)); made from ``x`` otherwise.
    """
    B, N, C = x.shape
    nh, g = m.num_heads, m.num_groups
    if x_map is None:
        x_map = x.transpose(1, 2).reshape(B, C, h, w)
    q = linear(x, m.proj_q.weight.view(C, C), m.proj_q.bias)  # (B, N, C)
    pos, ref = _positions(m, q, h, w)  # (B*g, Hk, Wk, 2)
    hk, wk = pos.shape[1], pos.shape[2]
    sampled = sample_features(x_map.reshape(B * g, C // g, h, w), pos, align_corners=m.align_corners)  # (B*g, Cg, Hk, Wk)
    sampled = sampled.reshape(B, C, hk * wk).transpose(1, 2).contiguous()  # (B, Ns, C) tokens
    k = linear(sampled, m.proj_k.weight.view(C, C), m.proj_k.bias)  # (B, Ns, C)
    v = linear(sampled, m.proj_v.weight.view(C, C), m.proj_v.bias)

    bias = _position_bias(m, pos, h, w)  # B*nh*N*Ns numbers or None
    dropout = m.training and m.attn_drop > 0
    if fused_ok(q, k, v, bias) and not dropout:
        # heads read in place: (B, N, C) -> (B, nh, N, hc) views, no copies
        qh, kh, vh = (t.view(B, -1, nh, C // nh).transpose(1, 2) for t in (q, k, v))
        z = attend(qh, kh, vh, None if bias is None else bias.view(B, nh, N, -1), m.scale)
    elif bias is not None and in_place_ok(q, bias) and not dropout:
        z = attend_into_bias(_heads(q, nh), _heads(k, nh), _heads(v, nh), bias, m.scale).view(B, nh, N, C // nh)
    else:
        q, k, v = _heads(q, nh), _heads(k, nh), _heads(v, nh)  # (B*nh, N or Ns, hc)
        bias = None if bias is None else bias.reshape(B * nh, N, -1)
        if bias is None:
            attn = torch.bmm(q, k.transpose(1, 2)).mul_(m.scale)
        else:  # bias + scale * q k^T in one pass
            attn = torch.baddbmm(bias, q, k.transpose(1, 2), alpha=m.scale)
        attn = F.dropout(attn.softmax(dim=-1), m.attn_drop, m.training)
        z = torch.bmm(attn, v).view(B, nh, N, C // nh)  # (B, nh, N, hc)
    z = z.transpose(1, 2).reshape(B, N, C)
    y = m.proj_drop(linear(z, m.proj_out.weight.view(C, C), m.proj_out.bias))
    return y, m.by_group(pos), m.by_group(ref)


class FastDeformableAttention(DeformableAttention):
    """:class:`DeformableAttention` with a faster ``forward`` (same arguments, parameters, results).

    forward(x (B, C, H, W), return_positions=False) -> y (B, C, H, W) as a channels-last view, or
    (y, pos, ref) with pos, ref (B, g, Hk, Wk, 2), normalized, (y, x).
    """

    def forward(self, x: torch.Tensor, return_positions: bool = False):
        self._check_input(x)
        B, C, H, W = x.shape
        tokens = x.flatten(2).transpose(1, 2).contiguous()  # (B, N, C)
        y, pos, ref = deformable_tokens(self, tokens, H, W, x_map=x.contiguous())
        y = y.view(B, H, W, C).permute(0, 3, 1, 2)  # (B, C, H, W), channels-last memory
        return (y, pos, ref) if return_positions else y
