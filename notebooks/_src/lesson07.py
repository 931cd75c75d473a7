"""Generate notebooks/07_deformable_attention.ipynb (run: .venv/bin/python notebooks/_src/lesson07.py)."""

from lesson06_08_nbbuild import write

cells = [
("md", r"""
# 07 · Deformable attention, assembled step by step

Everything is in place: convolutions (lesson 01), layer norm (02), normalized coordinates and
bilinear sampling (03), the offset network (04), attention (05) and the position bias (06). This
lesson puts them together into DAT's **deformable multi-head attention**, the "D" block, exactly as
the official code computes it, printing the shape after every step. Then it compares the result
with `dat_edu.deformable.DeformableAttention`, measures the two quirks of the official coordinates,
and computes receptive fields in the spirit of the paper's Figure 1.

## What you will learn
- Compute deformable attention by hand in ten steps, $q \to$ groups $\to$ offsets $\to$ bounded
  offsets $\to$ reference points $\to$ sampling positions $\to$ sampled features $\to k, v \to$
  scores + position bias $\to$ softmax, output, and name the shape at each step.
- Load your weights into `dat_edu.deformable.DeformableAttention` and show it computes the same
  output, positions and reference points.
- Show with numbers that the official zero-offset sampling is **not** the identity, and that the
  offset bound keeps every key within about ±0.9 px of a full-resolution grid point, so that stride 1
  costs as much as global attention.
- Use the corrected coordinates (`coords="corrected"`) and unbounded offsets
  (`offset_range_factor=None`).
- Measure and compare the receptive fields of ViT, Swin, deformable convolution and DAT with
  `dat_edu.receptive_field`.
"""),
("code", r"""
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from dat_edu.deformable import DeformableAttention
from dat_edu.receptive_field import draw_receptive_fields, receptive_fields, reference_operators
from dat_edu.sampling import normalized_to_pixel, reference_grid, sample_features

_ = torch.manual_seed(0)   # (assigning hides the generator object's repr)
"""),
("md", r"""
## 0. A small configuration

A D block of stage 3 at 224×224 input works on a 14×14 map; we keep that size (the quirks depend
on it) but use only 64 channels: 2 heads of $h_c = 32$ channels (32 in every official config) and
2 offset groups, so each group owns 32 channels and one head. The offset network's depthwise
kernel is 5, the official choice for stage 3; stride 1 and range factor 2 as in the released models.
"""),
("code", r"""
B, C, H, W = 1, 64, 14, 14
nh, g = 2, 2                        # heads, offset groups
hc, Cg, hg = C // nh, C // g, nh // g   # channels per head, channels per group, heads per group
k_off, stride, factor = 5, 1, 2.0   # offset kernel, key stride, offset_range_factor

x = torch.randn(B, C, H, W)
print("x:", tuple(x.shape), f"  head channels {hc}, group channels {Cg}, heads per group {hg}")
"""),
("md", r"""
## 1. Queries: a 1×1 convolution

Every pixel is a query. $q = W_q x$ is a 1×1 convolution (a linear map applied at every pixel), with
bias, as are the key, value and output projections.
"""),
("code", r"""
proj_q, proj_k, proj_v, proj_out = (nn.Conv2d(C, C, kernel_size=1) for _ in range(4))

q = proj_q(x)
print("1. q = proj_q(x):", tuple(q.shape), "(B, C, H, W)")
"""),
("md", r"""
## 2. Groups

The channels are split into $g$ groups. Each group gets its own offset field, so different groups
(and hence different heads) can look at different places. The offset network is **shared** by the
groups, but fed each group's own query channels: fold the groups into the batch.
"""),
("code", r"""
q_groups = rearrange(q, "b (g c) h w -> (b g) c h w", g=g)
print("2. q_groups:", tuple(q_groups.shape), "(B*g, Cg, H, W)")
"""),
("md", r"""
## 3. The offset network

Depthwise $k\times k$ convolution with stride $s$ (local context, one filter per channel) → layer norm
over channels → GELU → 1×1 convolution to 2 channels without bias. Output channel 0 is $\Delta y$,
channel 1 is $\Delta x$; the output size $H_k\times W_k$ is the **key grid**.
"""),
("code", r"""
dwconv = nn.Conv2d(Cg, Cg, k_off, stride, padding=k_off // 2, groups=Cg)   # depthwise, with bias
norm = nn.LayerNorm(Cg)                                                    # over channels
proj_offset = nn.Conv2d(Cg, 2, kernel_size=1, bias=False)

h = dwconv(q_groups)
print("3a. depthwise conv:", tuple(h.shape))
h = F.gelu(rearrange(norm(rearrange(h, "n c h w -> n h w c")), "n h w c -> n c h w"))
print("3b. LayerNorm over C, GELU:", tuple(h.shape))
offset = proj_offset(h)
Hk, Wk = offset.shape[2:]
Ns = Hk * Wk
print("3c. 1x1 conv -> offset:", tuple(offset.shape), f"(B*g, 2, Hk, Wk);  Hk x Wk = {Hk} x {Wk}, Ns = {Ns} keys")
"""),
("md", r"""
## 4. The range factor

The raw offsets are squashed by $\tanh$ and scaled by $\text{factor}/H_k$ (rows) and
$\text{factor}/W_k$ (columns), in normalized units where the map spans 2: at most $\text{factor}/2$
key cells. Then the two channels move last, stored $(y, x)$.
"""),
("code", r"""
scale = torch.tensor([1.0 / Hk, 1.0 / Wk]).view(1, 2, 1, 1)
offset = torch.tanh(offset) * factor * scale
offset = rearrange(offset, "n p h w -> n h w p")
print("4. bounded offset:", tuple(offset.shape), "(B*g, Hk, Wk, 2), (y, x)")
print(f"   bound factor/Hk = {factor / Hk:.4f} (normalized), largest |offset| now {offset.abs().max().item():.4f}")
"""),
("md", r"""
## 5. Reference points and sampling positions

The reference points are the centres of an $H_k\times W_k$ grid of equal cells,
$p_i = \frac{i + 0.5}{H_k}\cdot 2 - 1$ (the `align_corners=False` centre formula,
`dat_edu.sampling.reference_grid`). The keys will be read at $p + \Delta p$.
"""),
("code", r"""
ys = (torch.arange(Hk) + 0.5) / Hk * 2 - 1
xs = (torch.arange(Wk) + 0.5) / Wk * 2 - 1
ref = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)      # (Hk, Wk, 2), (y, x)
print("5a. reference points:", tuple(ref.shape), " equal reference_grid:", torch.equal(ref, reference_grid(Hk, Wk)))
pos = ref + offset                                                      # broadcast over B*g
print("5b. pos = ref + offset:", tuple(pos.shape), "(B*g, Hk, Wk, 2), (y, x)")
"""),
("md", r"""
## 6. Sample the input at the positions

Each group reads **its own channels of the input $x$** (not of $q$) at its positions, with bilinear
interpolation. `grid_sample` wants $(x, y)$: swap the last dimension. The official code passes
`align_corners=True` (remember this for section 12).
"""),
("code", r"""
x_groups = rearrange(x, "b (g c) h w -> (b g) c h w", g=g)            # (B*g, Cg, H, W)
x_sampled = F.grid_sample(x_groups, pos[..., (1, 0)],                 # (y, x) -> (x, y)
                          mode="bilinear", padding_mode="zeros", align_corners=True)
print("6a. grid_sample:", tuple(x_sampled.shape), "(B*g, Cg, Hk, Wk)")
x_sampled = rearrange(x_sampled, "(b g) c h w -> b (g c) 1 (h w)", g=g)
print("6b. back to channels:", tuple(x_sampled.shape), "(B, C, 1, Ns)")
"""),
("md", r"""
## 7. Keys and values from the samples; heads

$\tilde k = W_k\,\tilde x$ and $\tilde v = W_v\,\tilde x$ are full 1×1 convolutions (all channels,
not per group). Then every tensor is split into heads: channel $= \text{head}\cdot h_c + c$.
"""),
("code", r"""
k = rearrange(proj_k(x_sampled), "b (h c) 1 n -> (b h) c n", h=nh)
v = rearrange(proj_v(x_sampled), "b (h c) 1 n -> (b h) c n", h=nh)
q_heads = rearrange(q, "b (h c) y x -> (b h) c (y x)", h=nh)
print("7. q:", tuple(q_heads.shape), "(B*nh, hc, HW)   k, v:", tuple(k.shape), "(B*nh, hc, Ns)")
"""),
("md", r"""
## 8. Scores

$q\,\tilde k^\top / \sqrt{h_c}$: one score per query pixel and sampled key.
"""),
("code", r"""
attn = torch.einsum("bcm,bcn->bmn", q_heads, k) * hc**-0.5
print("8. scores:", tuple(attn.shape), "(B*nh, HW, Ns)")
"""),
("md", r"""
## 9. Deformable relative position bias (lesson 06)

One table per head, $(n_h, 2H-1, 2W-1)$, truncated-normal init with std 0.01. Each group's heads
read it at half the displacement from the query grid (same centre formula, over $H\times W$) to the
group's sampling positions, bilinear, `align_corners=True`.
"""),
("code", r"""
rpe_table = nn.init.trunc_normal_(torch.empty(nh, 2 * H - 1, 2 * W - 1), std=0.01)

q_grid = reference_grid(H, W)                                                  # (H, W, 2)
disp = 0.5 * (q_grid.reshape(1, H * W, 1, 2) - pos.reshape(B * g, 1, Ns, 2))  # (B*g, HW, Ns, 2)
table = rearrange(rpe_table.expand(B, -1, -1, -1), "b (g hg) y x -> (b g) hg y x", g=g)
bias = F.grid_sample(table, disp[..., (1, 0)], mode="bilinear", align_corners=True)   # (B*g, hg, HW, Ns)
bias = rearrange(bias, "(b g) hg m n -> (b g hg) m n", g=g)                    # (B*nh, HW, Ns)
attn = attn + bias
print("9. bias:", tuple(bias.shape), "(B*nh, HW, Ns), added to the scores")
"""),
("md", r"""
## 10. Softmax, weighted sum, output projection
"""),
("code", r"""
attn = attn.softmax(dim=-1)                                        # over the Ns keys
out = torch.einsum("bmn,bcn->bcm", attn, v)                        # (B*nh, hc, HW)
out = rearrange(out, "(b h) c (y x) -> b (h c) y x", h=nh, y=H)    # heads concatenated
y_mine = proj_out(out)
print("10. softmax rows sum to 1:", torch.allclose(attn.sum(-1), torch.ones(B * nh, H * W)))
print("    out:", tuple(out.shape), "-> y = proj_out(out):", tuple(y_mine.shape), "(B, C, H, W)")
"""),
("md", r"""
### The whole block in one list (from the course notes)

1. A 1×1 convolution of the input gives the **query**.
2. A grid of **reference points** (one per key cell, $H_k\times W_k$ = the map downsampled by the
   stride) is made with `meshgrid`; the query goes through the **offset network**, which predicts a
   2-D offset $(\Delta y, \Delta x)$ for every reference point.
3. The input is read at reference point + offset with bilinear interpolation (`grid_sample`); these
   samples $\tilde x$ give the **keys and values**, and the displacements give the **relative
   position bias** (table in DAT, continuous MLP in lucidrains' version).
4. Ordinary **multi-head attention** of every query over the sampled keys; the groups' outputs are
   concatenated and projected.

## 11. The same block from `dat_edu`

`DeformableAttention(dim, num_heads, num_groups, q_size, stride, offset_range_factor, kernel_size)`
uses the official parameter names (`proj_q`, `proj_k`, `proj_v`, `proj_out`, `conv_offset` with
`dwconv`, `norm`, `proj`, and `rpe_table`). Copy our weights in and compare.
"""),
("code", r"""
dat = DeformableAttention(C, nh, g, (H, W), stride=stride, offset_range_factor=factor, kernel_size=k_off)
with torch.no_grad():
    for mine, theirs in [(proj_q, dat.proj_q), (proj_k, dat.proj_k), (proj_v, dat.proj_v), (proj_out, dat.proj_out),
                         (dwconv, dat.conv_offset.dwconv), (norm, dat.conv_offset.norm.norm),
                         (proj_offset, dat.conv_offset.proj)]:
        theirs.load_state_dict(mine.state_dict())
    dat.rpe_table.copy_(rpe_table)

y_lib, pos_lib, ref_lib = dat(x, return_positions=True)
print("output   equal:", torch.allclose(y_lib, y_mine, atol=1e-5))
print("positions equal:", torch.allclose(pos_lib.reshape(B * g, Hk, Wk, 2), pos, atol=1e-6),
      " pos, ref:", tuple(pos_lib.shape), "(B, g, Hk, Wk, 2)")
print("references equal:", torch.equal(ref_lib[0, 0], ref))
"""),
("md", r"""
Where do the keys sit? Reference points as circles, sampling positions as crosses (group 0 and
group 1), in pixel coordinates of the `align_corners=True` convention used for sampling. Even
untrained, the offsets use a good part of their range (the offset network's raw output is of order
1, and $\tanh$ keeps most of it), yet every cross stays within about a pixel of its circle: the
bound of section 13 at work. The two groups already read different places.
"""),
("code", r"""
def to_pixels(p, h, w):
    # normalized (y, x) -> pixel (y, x) under align_corners=True, the official sampling convention
    return torch.stack([normalized_to_pixel(p[..., 0], h, True), normalized_to_pixel(p[..., 1], w, True)], -1)

fig, ax = plt.subplots(figsize=(6, 6))
r = to_pixels(ref_lib[0, 0], H, W).reshape(-1, 2)
ax.plot(r[:, 1], r[:, 0], "o", mfc="none", mec="gray", markersize=7, label="reference points")
for gi, color in [(0, "tab:red"), (1, "tab:blue")]:
    p = to_pixels(pos_lib[0, gi].detach(), H, W).reshape(-1, 2)
    ax.plot(p[:, 1], p[:, 0], "x", color=color, markersize=5, label=f"sampling positions, group {gi}")
ax.set(xlim=(-0.5, W - 0.5), ylim=(H - 0.5, -0.5), aspect="equal",
       title="Keys of an untrained D block (14 x 14, stride 1)", xlabel="x (pixels)", ylabel="y (pixels)")
ax.set_xticks(range(W))
ax.set_yticks(range(H))
ax.grid(alpha=0.3)
ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
plt.show()
"""),
("md", r"""
## 12. Quirk 1: zero offsets do not read the pixels

The reference points use the centre formula of `align_corners=False`, but the official code samples
with `align_corners=True`, where $-1$ and $+1$ are the centres of the first and last pixel. So the
reference point of row $i$ is read at pixel $(i + 0.5)(H-1)/H$: between pixels, squeezed towards
the middle.
"""),
("code", r"""
rows = normalized_to_pixel(reference_grid(H, 1)[:, 0, 0], H, align_corners=True)
print(f"H = {H}: zero-offset rows are read at pixels", [f"{r:.3f}" for r in rows.tolist()])
print("formula (i + 0.5)(H - 1)/H:", torch.allclose(rows, (torch.arange(H) + 0.5) * (H - 1) / H))

ref_batch = reference_grid(H, W)[None]                                 # (1, H, W, 2)
print("official (align_corners=True) reads x back :", torch.allclose(sample_features(x, ref_batch, True), x, atol=1e-5))
print("corrected (align_corners=False) reads x back:", torch.allclose(sample_features(x, ref_batch, False), x, atol=1e-5))
"""),
("md", r"""
A single bright pixel makes the effect tangible: the official zero-offset sampling spreads it over
two pixels per axis (a blur), and shifts the whole map by up to half a pixel towards the centre.
"""),
("code", r"""
spot = torch.zeros(1, 1, H, W)
spot[0, 0, 2, 2] = 1.0                                                 # one bright pixel at (2, 2)
read = sample_features(spot, ref_batch, align_corners=True)[0, 0]
print("official reading of a bright pixel at (2, 2), rows 1-3 x columns 1-3:")
for row in read[1:4, 1:4].tolist():
    print("  ", "  ".join(f"{a:.4f}" for a in row))

fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, img, title in [(axes[0], spot[0, 0], "input: one bright pixel"),
                       (axes[1], read, "read back at the reference points (official)")]:
    im = ax.imshow(img, cmap="viridis", vmin=0, vmax=1)
    ax.set(title=title, xlabel="x (pixels)", ylabel="y (pixels)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="value")
plt.tight_layout()
plt.show()
"""),
("md", r"""
## 13. Quirk 2: ±0.9 px, and stride 1 costs as much as global attention

The bound factor$/H_k$ (normalized) is factor$/H_k\cdot(H-1)/2$ pixels. With the released settings
(factor 2, stride 1, so $H_k = H$) that is below one pixel: every key is a **jitter of a
full-resolution grid point**. And since there are as many keys as pixels, the attention matrix is
$HW\times HW$, exactly the size of global (ViT) attention.
"""),
("code", r"""
for stage, size in [(3, 14), (4, 7)]:
    bound_px = factor / size * (size - 1) / 2
    print(f"stage {stage}: map {size}x{size}, stride 1 -> {size * size} keys; offset bound ±{bound_px:.4f} px; "
          f"scores per head {size * size} x {size * size} = {size**4} (global attention: {size**4})")
"""),
("md", r"""
Even a saturated offset network cannot leave the box. Make the last offset layer huge, so that
$\tanh$ saturates at ±1: factor 2 allows exactly **one key cell** in each direction, so a saturated
key lands on a neighbour's reference point (arrows), and its reachable box spans its two
neighbouring cells.
"""),
("code", r"""
with torch.no_grad():
    dat.conv_offset.proj.weight.mul_(100.0)          # saturate tanh: offsets hit the bound
    _, pos_sat, _ = dat(x, return_positions=True)
p_sat = to_pixels(pos_sat[0, 0], H, W)
r_pix = to_pixels(ref_lib[0, 0], H, W)
bound_px = factor / H * (H - 1) / 2
print(f"largest move {(p_sat - r_pix).abs().max().item():.4f} px <= bound {bound_px:.4f} px")

fig, ax = plt.subplots(figsize=(6, 6))
d = p_sat - r_pix                                             # (Hk, Wk, 2) moves in pixels
ax.quiver(r_pix[..., 1], r_pix[..., 0], d[..., 1], d[..., 0], angles="xy", scale_units="xy", scale=1,
          color="tab:red", alpha=0.5, width=0.004)
ax.plot(r_pix[..., 1].flatten(), r_pix[..., 0].flatten(), "o", mfc="none", mec="gray", markersize=7, label="reference points")
ax.plot(p_sat[..., 1].flatten(), p_sat[..., 0].flatten(), "x", color="tab:red", markersize=7, label="saturated sampling positions")
for (i, j), color in [((2, 2), "tab:blue"), ((4, 5), "tab:green")]:   # the reachable box of two keys
    ry, rx = r_pix[i, j].tolist()
    ax.add_patch(plt.Rectangle((rx - bound_px, ry - bound_px), 2 * bound_px, 2 * bound_px,
                               fill=False, ec=color, lw=2, label=f"reachable box of key ({i}, {j})"))
ax.set(xlim=(-1.2, 6.8), ylim=(6.8, -1.2), aspect="equal",   # zoom on the top-left corner
       title="Official bound: at most one key cell from the grid point\n(top-left corner of the 14 x 14 map)",
       xlabel="x (pixels)", ylabel="y (pixels)")
ax.legend(loc="lower right", fontsize=8, framealpha=0.95)
plt.show()
"""),
("md", r"""
The DAT++ follow-up dropped the bound (offsets unbounded, positions clamped to $[-1, 1]$) and used
strided keys. In `dat_edu`: `offset_range_factor=None`, and `coords="corrected"`, which samples with
`align_corners=False` so that zero offsets read the pixels exactly and looks the table up at the
true pixel displacement (lesson 06). With stride 2 the block reads $7\times7 = 49$ keys per group
instead of 196: four times fewer scores.
"""),
("code", r"""
torch.manual_seed(0)
free = DeformableAttention(C, nh, g, (H, W), stride=2, offset_range_factor=None, kernel_size=k_off, coords="corrected")
with torch.no_grad():
    free.conv_offset.proj.weight.mul_(20.0)          # large raw offsets, nothing squashes them
    y_free, pos_free, ref_free = free(x, return_positions=True)
moves = (normalized_to_pixel(pos_free, H, False) - normalized_to_pixel(ref_free, H, False)).abs()
print("keys per group:", pos_free.shape[2] * pos_free.shape[3], " scores per head:", H * W, "x", pos_free.shape[2] * pos_free.shape[3])
print(f"largest move {moves.max().item():.2f} px; positions stay in [-1, 1]:", bool(pos_free.abs().max() <= 1))

no_offsets = DeformableAttention(C, nh, g, (H, W), stride=1, use_offsets=False, coords="corrected")
with torch.no_grad():
    _, pos0, _ = no_offsets(x, return_positions=True)
print("corrected, zero offsets, stride 1 -> keys read exactly the pixels:",
      torch.allclose(no_offsets.sample_keys(x, pos0.reshape(B * g, H, W, 2)), x, atol=1e-5))
"""),
("md", r"""
## 14. Receptive fields: ViT, Swin, DCN, DAT

Which input pixels can change the output at a query pixel? Autograd answers exactly:
`dat_edu.receptive_field.gradient_receptive_field(fn, x, query)` returns
$\big|\partial\, \text{out}[:, :, i, j].\text{sum}() / \partial x\big|$ summed over channels,
normalized to a maximum of 1. We compare four tiny operators on a 16×16 map (`reference_operators`):
dense attention, window attention (4×4 windows), a 3×3 deformable convolution (`DeformableConv2d`,
built on bilinear sampling), and deformable attention with stride 4 (16 keys) and the official
factor 2, for two queries, the red and the blue star of the paper's Figure 1.

`detach_offsets=True` stops the gradient through the offsets, so the pictures show *where the values
are read* (the paper's drawing); the gradient through the offset network is counted below.
"""),
("code", r"""
ops = reference_operators(dim=32, size=16, window=4, dat_stride=4, detach_offsets=True)
torch.manual_seed(0)
x16 = torch.randn(1, 32, 16, 16)
queries = [(4, 4), (11, 12)]
fields = receptive_fields(ops, x16, queries)          # name -> (2, 16, 16)

with torch.no_grad():
    _, dat_pos, _ = ops["DAT (deformable)"](x16, return_positions=True)         # (1, 1, 4, 4, 2)
    _, dcn_pos = ops["DCN (deformable conv)"](x16, return_positions=True)       # (1, 9, 16, 16, 2) pixels
points = {"DAT (deformable)": to_pixels(dat_pos[0, 0], 16, 16).reshape(-1, 2),
          "DCN (deformable conv)": torch.stack([dcn_pos[0, :, i, j] for i, j in queries])}
draw_receptive_fields(fields, queries, points=points)
plt.show()
"""),
("code", r"""
with_offsets = reference_operators(dim=32, size=16, window=4, dat_stride=4)      # same weights, offsets not detached
full = receptive_fields({name: with_offsets[name] for name in ["DCN (deformable conv)", "DAT (deformable)"]}, x16, queries)
print(f"{'operator':24s} {'pixels reached':>16s} {'shared by both':>15s} {'incl. offset paths':>19s}")
for name in fields:
    reach = fields[name] > 0
    both = full[name] if name in full else fields[name]      # ViT and Swin have no offsets
    print(f"{name:24s} {str(reach.sum(dim=(1, 2)).tolist()):>16s} {int((reach[0] & reach[1]).sum()):>15d} "
          f"{str((both > 0).sum(dim=(1, 2)).tolist()):>19s}")
"""),
("md", r"""
Read the pictures as the paper's Figure 1:

- **ViT**: every query reaches all 256 pixels; cost grows with $(HW)^2$.
- **Swin**: a query reaches exactly its 4×4 window; the two queries share nothing, and what a window
  sees does not depend on the data.
- **DCN**: each query reaches its own 9 taps (a few pixels each, bilinear), moved by offsets that
  depend on the data around it.
- **DAT**: both queries reach the **same** 16 sampled keys (plus their own pixel, through $q$), and
  those keys were placed by the offset network: data-dependent like DCN, shared like attention, and
  only 16 keys instead of 256.

Counting the offset paths too ("incl. offset paths"), DCN and DAT reach more: the offset networks
look at neighbourhoods (3×3 for DCN, DAT's depthwise kernel around every key), so a pixel can change
the output by moving a key. With the official stride 1 there is one key per pixel, and DAT's
receptive field is the whole map, like ViT's.

## Summary
- Deformable attention in ten steps: $q = W_q x$; groups; offset network (depthwise conv, LN, GELU,
  1×1); $\tanh\cdot$ factor$/H_k$; reference points $\frac{i+0.5}{H_k}2-1$; pos = ref + offset;
  `grid_sample` of $x$ with $(y,x)\to(x,y)$; $\tilde k, \tilde v$; $q\tilde k^\top/\sqrt{h_c}$ + deformable
  bias; softmax, $\cdot\,\tilde v$, `proj_out`.
- `dat_edu.deformable.DeformableAttention` computes exactly this (outputs, positions and references
  equal) and returns `(y, pos, ref)` with `return_positions=True`.
- Official quirks: zero offsets read pixels $(i+0.5)(H-1)/H$ (0.464 … 12.536 at $H=14$), not the
  identity; the bound keeps keys within ±0.93 px (14×14) of a full-resolution grid point, so stride 1
  costs as much as global attention. `coords="corrected"`, `offset_range_factor=None` and a stride > 1
  give the DAT++-style alternative.
- Receptive fields measured with gradients reproduce the paper's Figure 1.

## What comes next
Lesson 08 stacks D blocks with Swin's window blocks into the full four-stage DAT model, counts its
parameters and multiply-adds stage by stage, and loads official weights.

## Exercises
Open `exercises/07_deformable_attention.ipynb`. Check your work with

    pytest --nbval exercises/07_deformable_attention.ipynb
"""),
]

if __name__ == "__main__":
    print(write(cells, "07_deformable_attention.ipynb"))
