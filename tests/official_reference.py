"""An independent, literal re-statement of the official DAT v1 deformable attention forward.

This file deliberately imports nothing from dat_edu: it restates the forward pass of the official
``DAttentionBaseline`` (LeapLabTHU/DAT, ``models/dat_blocks.py``) with plain torch calls on a dict of
*official-named* tensors (``proj_q.weight``, ``conv_offset.0.weight``, ``rpe_table``, ...), in the
same order and with the same reshapes as the released code. Tests compare dat_edu against it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DATTENTION_KEYS = (
    "proj_q.weight",
    "proj_q.bias",
    "proj_k.weight",
    "proj_k.bias",
    "proj_v.weight",
    "proj_v.bias",
    "proj_out.weight",
    "proj_out.bias",
    "conv_offset.0.weight",
    "conv_offset.0.bias",
    "conv_offset.1.norm.weight",
    "conv_offset.1.norm.bias",
    "conv_offset.3.weight",
)


def official_dattention_shapes(C: int, n_heads: int, n_groups: int, q_size, ksize: int, use_pe: bool = True):
    """Official state-dict names and shapes of one DAttentionBaseline (spec "Parameters")."""
    H, W = q_size
    Cg = C // n_groups
    shapes = {}
    for p in ("q", "k", "v", "out"):
        shapes[f"proj_{p}.weight"] = (C, C, 1, 1)
        shapes[f"proj_{p}.bias"] = (C,)
    shapes["conv_offset.0.weight"] = (Cg, 1, ksize, ksize)
    shapes["conv_offset.0.bias"] = (Cg,)
    shapes["conv_offset.1.norm.weight"] = (Cg,)
    shapes["conv_offset.1.norm.bias"] = (Cg,)
    shapes["conv_offset.3.weight"] = (2, Cg, 1, 1)
    if use_pe:
        shapes["rpe_table"] = (n_heads, 2 * H - 1, 2 * W - 1)
    return shapes


def _centre_grid(h: int, w: int, dtype, device) -> torch.Tensor:
    """Official _get_ref_points: ((i + 0.5) / h) * 2 - 1, stacked (y, x): (h, w, 2)."""
    ys = (torch.arange(h, dtype=dtype, device=device) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, dtype=dtype, device=device) + 0.5) / w * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gy, gx), dim=-1)


def official_dattention_forward(
    x: torch.Tensor,
    p: dict,
    n_heads: int,
    n_groups: int,
    stride: int = 1,
    offset_range_factor: float = 2.0,
    use_pe: bool = True,
    no_off: bool = False,
):
    """Official DAttentionBaseline.forward (v1, eval mode): returns (y, pos, ref), pos/ref (B, g, Hk, Wk, 2)."""
    B, C, H, W = x.shape
    hc = C // n_heads
    Cg = C // n_groups
    hg = n_heads // n_groups
    # 1. queries
    q = F.conv2d(x, p["proj_q.weight"], p["proj_q.bias"])
    # 2. offset network per group: dwconv(k, stride, pad k//2) -> LN over channels -> GELU -> 1x1
    q_off = q.reshape(B * n_groups, Cg, H, W)
    k_size = p["conv_offset.0.weight"].shape[-1]
    o = F.conv2d(q_off, p["conv_offset.0.weight"], p["conv_offset.0.bias"], stride=stride,
                 padding=k_size // 2, groups=Cg)
    o = F.layer_norm(o.permute(0, 2, 3, 1), (Cg,), p["conv_offset.1.norm.weight"],
                     p["conv_offset.1.norm.bias"], eps=1e-5).permute(0, 3, 1, 2)
    o = F.gelu(o)
    offset = F.conv2d(o, p["conv_offset.3.weight"])  # (B*g, 2, Hk, Wk)
    Hk, Wk = offset.shape[2], offset.shape[3]
    n_sample = Hk * Wk
    # 3. bound
    if offset_range_factor > 0:
        rng = torch.tensor([1.0 / Hk, 1.0 / Wk], dtype=x.dtype, device=x.device).reshape(1, 2, 1, 1)
        offset = offset.tanh() * rng * offset_range_factor
    offset = offset.permute(0, 2, 3, 1)  # (B*g, Hk, Wk, 2), (y, x)
    # 4. reference points and positions
    reference = _centre_grid(Hk, Wk, x.dtype, x.device)[None].expand(B * n_groups, -1, -1, -1)
    if no_off:
        offset = torch.zeros_like(offset)
    if offset_range_factor >= 0:
        pos = offset + reference
    else:
        pos = (offset + reference).tanh()
    # 5. sample x (not q), (y, x) -> (x, y), align_corners=True
    x_sampled = F.grid_sample(x.reshape(B * n_groups, Cg, H, W), pos[..., (1, 0)], mode="bilinear",
                              padding_mode="zeros", align_corners=True)
    x_sampled = x_sampled.reshape(B, C, 1, n_sample)
    # 6. keys, values, queries per head
    q = q.reshape(B * n_heads, hc, H * W)
    k = F.conv2d(x_sampled, p["proj_k.weight"], p["proj_k.bias"]).reshape(B * n_heads, hc, n_sample)
    v = F.conv2d(x_sampled, p["proj_v.weight"], p["proj_v.bias"]).reshape(B * n_heads, hc, n_sample)
    # 7. logits
    attn = torch.einsum("bcm,bcn->bmn", q, k) * hc**-0.5
    # 8. deformable relative position bias
    if use_pe:
        table = p["rpe_table"][None].expand(B, -1, -1, -1)
        q_grid = _centre_grid(H, W, x.dtype, x.device)[None].expand(B * n_groups, -1, -1, -1)
        disp = (q_grid.reshape(B * n_groups, H * W, 2).unsqueeze(2)
                - pos.reshape(B * n_groups, n_sample, 2).unsqueeze(1)) * 0.5
        bias = F.grid_sample(table.reshape(B * n_groups, hg, 2 * H - 1, 2 * W - 1), disp[..., (1, 0)],
                             mode="bilinear", padding_mode="zeros", align_corners=True)
        attn = attn + bias.reshape(B * n_heads, H * W, n_sample)
    # 9. softmax, weighted sum, output projection
    attn = F.softmax(attn, dim=2)
    out = torch.einsum("bmn,bcn->bcm", attn, v).reshape(B, C, H, W)
    y = F.conv2d(out, p["proj_out.weight"], p["proj_out.bias"])
    # 10. positions
    return y, pos.reshape(B, n_groups, Hk, Wk, 2), reference.reshape(B, n_groups, Hk, Wk, 2)


def dat_tiny_official_shapes() -> dict:
    """Official DAT-T state-dict names -> shapes, from the spec (219 entries)."""
    return official_dat_shapes(
        in_chans=3, patch=4, dims=(96, 192, 384, 768), depths=(2, 2, 6, 2), heads=(3, 6, 12, 24),
        specs=("LS", "LS", "LDLDLD", "LD"), groups=(0, 0, 3, 6), use_pes=(False, False, True, True),
        window=7, img_size=224, ksizes=(9, 7, 5, 3), num_classes=1000,
    )


def official_dat_shapes(in_chans, patch, dims, depths, heads, specs, groups, use_pes, window, img_size,
                        ksizes, num_classes) -> dict:
    """Official DAT state-dict names -> shapes for a configuration (spec "Official state-dict names")."""
    shapes = {
        "patch_proj.0.weight": (dims[0], in_chans, patch, patch),
        "patch_proj.0.bias": (dims[0],),
        "patch_proj.1.norm.weight": (dims[0],),
        "patch_proj.1.norm.bias": (dims[0],),
    }
    size = img_size // patch
    for s, C in enumerate(dims):
        for d in range(depths[s]):
            pre = f"stages.{s}."
            for j in (2 * d, 2 * d + 1):
                shapes[pre + f"layer_norms.{j}.norm.weight"] = (C,)
                shapes[pre + f"layer_norms.{j}.norm.bias"] = (C,)
            shapes[pre + f"mlps.{d}.chunk.linear1.weight"] = (4 * C, C)
            shapes[pre + f"mlps.{d}.chunk.linear1.bias"] = (4 * C,)
            shapes[pre + f"mlps.{d}.chunk.linear2.weight"] = (C, 4 * C)
            shapes[pre + f"mlps.{d}.chunk.linear2.bias"] = (C,)
            a = pre + f"attns.{d}."
            letter = specs[s][d]
            if letter in "LS":
                n = window * window
                shapes[a + "proj_qkv.weight"] = (3 * C, C)
                shapes[a + "proj_qkv.bias"] = (3 * C,)
                shapes[a + "proj_out.weight"] = (C, C)
                shapes[a + "proj_out.bias"] = (C,)
                shapes[a + "relative_position_bias_table"] = ((2 * window - 1) ** 2, heads[s])
                shapes[a + "relative_position_index"] = (n, n)
                if letter == "S":
                    shapes[a + "attn_mask"] = ((size // window) ** 2, n, n)
            else:
                for k, v in official_dattention_shapes(C, heads[s], groups[s], (size, size), ksizes[s],
                                                       use_pes[s]).items():
                    shapes[a + k] = v
        if s < len(dims) - 1:
            shapes[f"down_projs.{s}.0.weight"] = (dims[s + 1], C, 2, 2)
            shapes[f"down_projs.{s}.1.norm.weight"] = (dims[s + 1],)
            shapes[f"down_projs.{s}.1.norm.bias"] = (dims[s + 1],)
            size //= 2
    shapes["cls_norm.norm.weight"] = (dims[-1],)
    shapes["cls_norm.norm.bias"] = (dims[-1],)
    shapes["cls_head.weight"] = (num_classes, dims[-1])
    shapes["cls_head.bias"] = (num_classes,)
    return shapes
