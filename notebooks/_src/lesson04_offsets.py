"""Generate notebooks/04_offsets.ipynb (run: .venv/bin/python notebooks/_src/lesson04_offsets.py)."""

from lesson03_05_build import write

cells = [
("md", r"""
# 04 · Offsets: letting the queries move the keys

In lesson 03 we read a feature map at any grid of positions. DAT chooses that grid from the data:
it starts from a uniform grid of **reference points** and a small **offset network** looks at the
queries and moves every point by $(\Delta y, \Delta x)$. The keys and values are then read at the
moved points. This lesson builds the offset network, bounds its output the way DAT v1 does, and
shows how **offset groups** share the work.

## What you will learn
- The offset network layer by layer (depthwise conv with stride → LayerNorm → GELU → 1×1 conv),
  with the shape after each step, and the **key grid size** $H_k \times W_k$ from conv arithmetic.
- The **range factor**: offsets are bounded by $\tanh(\cdot) \cdot \text{factor} / H_k$, which in
  the released configs (factor 2, stride 1) is **less than one pixel**.
- **Offset groups**: the channels are split into $g$ groups, each group gets one offset field,
  and the heads of a group share it.
- `dat_edu.offsets` (`OffsetNetwork`, `bound_offsets`, `key_grid_size`), used by lesson 07.
- A **widget** to drag the offsets of a key grid by hand and watch the sampled keys change.
"""),
("code", r"""
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from einops import rearrange

from dat_edu.norm import LayerNorm2d
from dat_edu.sampling import reference_grid, sample_features

torch.manual_seed(0)
# DAT-T, stage 3, at 224 x 224 input: a 14 x 14 map with 384 channels, 12 heads, 3 offset groups
B, C, H, W = 2, 384, 14, 14
n_heads, g = 12, 3
Cg, hc, hg = C // g, C // n_heads, n_heads // g  # channels per group, per head; heads per group
k, stride = 5, 1  # depthwise kernel of stage 3 (9, 7, 5, 3 for stages 1-4); DAT v1 uses stride 1
x = torch.randn(B, C, H, W)  # the block input (after LayerNorm)
print(f"C={C}: {g} groups of Cg={Cg} channels, {n_heads} heads of hc={hc} channels, {hg} heads per group")
"""),
("md", r"""
## 1. The offset network, step by step

The queries are a 1×1 convolution of the input, $q = W_q x$. They are split into the $g$ groups
(group $i$ owns channels $[i \cdot C_g, (i+1) C_g)$) and the groups are folded into the batch, so
one small network runs on every group:

1. **depthwise conv** $k \times k$ with stride $s$, padding $k/2$: one filter per channel, looks at
   a neighbourhood of every query; the stride sets the key grid size;
2. **LayerNorm** over the channels, then **GELU**;
3. **1×1 conv** $C_g \to 2$ without bias: the two output channels are $\Delta y$ and $\Delta x$.
"""),
("code", r"""
proj_q = nn.Conv2d(C, C, kernel_size=1)
q = proj_q(x)  # (B, C, H, W)
q_groups = rearrange(q, "b (g c) h w -> (b g) c h w", g=g)  # groups folded into the batch
print(f"q_groups        : {tuple(q_groups.shape)}   (B*g, Cg, H, W)")

dwconv = nn.Conv2d(Cg, Cg, k, stride=stride, padding=k // 2, groups=Cg)  # depthwise, with bias
norm = LayerNorm2d(Cg)  # LayerNorm over channels of an NCHW map
act = nn.GELU()
proj = nn.Conv2d(Cg, 2, kernel_size=1, bias=False)  # -> (Δy, Δx)
t = q_groups
for name, layer in (("dwconv", dwconv), ("norm", norm), ("act", act), ("proj", proj)):
    t = layer(t)
    print(f"after {name:10}: {tuple(t.shape)}")
raw_offset = t  # (B*g, 2, Hk, Wk): channel 0 = Δy, channel 1 = Δx, not yet bounded
n_params = sum(p.numel() for m in (dwconv, norm, proj) for p in m.parameters())
print(f"offset network parameters: {n_params} (dwconv {Cg}*{k}*{k}+{Cg}, norm 2*{Cg}, proj 2*{Cg})")
"""),
("md", r"""
### The key grid size
The depthwise conv decides how many keys there are: with padding $\lfloor k/2 \rfloor$,
$H_k = \left\lfloor \frac{H + 2\lfloor k/2 \rfloor - k}{s} \right\rfloor + 1$, which for odd $k$
is $\lceil H / s \rceil$. `dat_edu.offsets.key_grid_size(h, w, kernel_size, stride)` computes it.
"""),
("code", r"""
import math

from dat_edu.offsets import key_grid_size

for s in (1, 2, 3, 4):
    formula = (H + 2 * (k // 2) - k) // s + 1
    conv_out = nn.Conv2d(1, 1, k, stride=s, padding=k // 2)(torch.zeros(1, 1, H, W)).shape[-2:]
    print(f"stride {s}: formula Hk={formula:2d}, ceil(H/s)={math.ceil(H / s):2d}, "
          f"key_grid_size={key_grid_size(H, W, k, s)}, conv output={tuple(conv_out)}")
"""),
("md", r"""
In the library the four layers are `dat_edu.offsets.OffsetNetwork(channels, kernel_size, stride)`
with submodules `dwconv`, `norm`, `act`, `proj` (the official `conv_offset.0/1/2/3`). With the same
weights it gives the same offsets:
"""),
("code", r"""
from dat_edu.offsets import OffsetNetwork

net = OffsetNetwork(Cg, k, stride)
net.dwconv.load_state_dict(dwconv.state_dict())
net.norm.load_state_dict(norm.state_dict())
net.proj.load_state_dict(proj.state_dict())
print("OffsetNetwork == the four layers above:", torch.allclose(net(q_groups), raw_offset, atol=1e-6))
"""),
("md", r"""
## 2. The range factor: how far can a key move?

The raw offsets are unbounded. DAT v1 squashes them with `tanh` and scales by the
**offset range factor** divided by the key grid size, per axis:

$$\Delta y = \tanh(\text{raw}_y) \cdot \frac{\text{factor}}{H_k}, \qquad \Delta x = \tanh(\text{raw}_x) \cdot \frac{\text{factor}}{W_k}
\qquad \text{(normalized units)}.$$

One key cell is $2 / H_k$ wide in normalized units, so the bound is $\text{factor}/2$ key cells:
**one cell** for the released factor 2. In pixels (the block samples with `align_corners=True`,
one normalized unit is $(H - 1)/2$ pixels) that is:
"""),
("code", r"""
factor = 2.0
for size, stage in ((14, "stage 3"), (7, "stage 4")):
    for s in (1, 2, 4):
        Hk = key_grid_size(size, size, k, s)[0]
        bound = factor / Hk  # normalized units
        px = bound * (size - 1) / 2  # pixels under align_corners=True
        print(f"{stage} ({size}x{size}), stride {s}: Hk={Hk:2d}, |Δy| < {bound:.4f} normalized "
              f"= {factor / 2:.1f} key cell = {px:.3f} px")
"""),
("md", r"""
With the released settings (factor 2, **stride 1**, so $H_k = H$) a key can move by at most
$2/14 \cdot 13/2 = 0.929$ pixel at stage 3 and $0.857$ pixel at stage 4: **less than one pixel**.
Every key is a sub-pixel jitter of a full-resolution grid point, and since there are as many keys
as queries, the attention costs as much as dense global attention (lesson 05 counts it). Larger
strides give fewer keys that can move further in pixels; the follow-up DAT++ drops the bound.
"""),
("code", r"""
raw = torch.linspace(-4, 4, 201)
Hk = H  # stride 1
fig, ax = plt.subplots(figsize=(7, 4))
for f in (1.0, 2.0, 4.0, 8.0):
    px = torch.tanh(raw) * f / Hk * (H - 1) / 2  # bounded offset in pixels
    ax.plot(raw.numpy(), px.numpy(), label=f"factor {f:g}" + (" (DAT v1)" if f == 2 else ""))
for y in (-1, 1):
    ax.axhline(y, color="gray", ls="--", lw=1, label="±1 pixel" if y == 1 else None)
ax.set_xlabel("raw offset from the network (before tanh)")
ax.set_ylabel("bounded offset Δy (pixels)")
ax.set_title(f"tanh(raw) * factor / Hk on a {H}x{H} map, stride 1 (Hk = {Hk})")
ax.legend()
plt.show()
"""),
("md", r"""
The library function `dat_edu.offsets.bound_offsets(offset, factor)` does exactly this on the
$(N, 2, H_k, W_k)$ output of the network:
"""),
("code", r"""
from dat_edu.offsets import bound_offsets

Hk, Wk = raw_offset.shape[-2:]
mine = torch.tanh(raw_offset) * factor * torch.tensor([1 / Hk, 1 / Wk]).view(1, 2, 1, 1)
bounded = bound_offsets(raw_offset, factor)
print("bound_offsets == tanh(raw) * factor / (Hk, Wk):", torch.allclose(bounded, mine))
print("every |Δy| < factor / Hk:", bool((bounded[:, 0].abs() < factor / Hk).all()))
big = bound_offsets(torch.full((1, 2, Hk, Wk), 100.0), factor)  # a saturated network
print(f"saturated offset: {big[0, 0, 0, 0]:.4f} normalized = {big[0, 0, 0, 0] * (H - 1) / 2:.3f} px")
"""),
("md", r"""
## 3. From offsets to sampled keys

The positions are the reference points (lesson 03's centre formula over $H_k \times W_k$) plus the
bounded offsets, stored $(y, x)$. The block samples its **input** $x$ (not $q$) there, group by
group: group $i$'s channels are read at group $i$'s positions. The $g$ groups then go back into
the channels, and the $N_s = H_k W_k$ samples become the key/value tokens.
"""),
("code", r"""
offset = rearrange(bounded, "n p h w -> n h w p")  # (B*g, Hk, Wk, 2): (Δy, Δx) last, like (y, x)
ref = reference_grid(Hk, Wk)  # (Hk, Wk, 2), (y, x)
pos = ref + offset  # (B*g, Hk, Wk, 2): one field per (image, group)
x_groups = rearrange(x, "b (g c) h w -> (b g) c h w", g=g)  # the input, split like q
x_sampled = sample_features(x_groups, pos, align_corners=True)  # (B*g, Cg, Hk, Wk)
kv_tokens = rearrange(x_sampled, "(b g) c h w -> b (g c) 1 (h w)", g=g)  # (B, C, 1, Ns)
print("pos:", tuple(pos.shape), "| x_sampled:", tuple(x_sampled.shape), "| tokens for k, v:", tuple(kv_tokens.shape))
move_px = (offset * (H - 1) / 2).abs().amax()
print(f"largest move of a key with this (untrained) network: {move_px:.3f} px")
"""),
("md", r"""
## 4. Offset groups

Why groups? One offset field for all $C$ channels would force every head to look at the same
places; one field per head would cost an offset network per head. DAT splits the channels into
$g$ groups (3 in DAT-T stage 3, 6 in stage 4):

- **one network, shared weights**: the same `conv_offset` runs on each group's $C_g$ query
  channels (the groups are folded into the batch); more groups means fewer channels per group,
  so a *smaller* network;
- **one offset field per group**: each group sees different query channels, so it predicts its
  own positions, and its $C_g$ input channels are read at those positions;
- **heads share their group's field**: head $h$ belongs to group $\lfloor h / h_g \rfloor$ and uses
  that group's positions for its relative position bias (lesson 06). The keys themselves come from
  the full 1×1 convs `proj_k`, `proj_v`, which mix all channels, so key token $n$ combines every
  group's channels, each read at its own group's $n$-th position.
"""),
("code", r"""
print("head -> group:", {h: h // hg for h in range(n_heads)})
print("offset fields:", tuple(pos.shape[:1]), "= B * g =", B * g)
same_field = torch.allclose(pos[0], pos[1])  # image 0, group 0 vs image 0, group 1
print("group 0 and group 1 of image 0 have the same positions:", same_field)
for groups in (1, 3, 6):
    n_net = sum(p.numel() for p in OffsetNetwork(C // groups, k, stride).parameters())
    print(f"g={groups}: one shared network on Cg={C // groups:3d} channels, {n_net:5d} parameters, {groups} offset field(s) per image")
"""),
("md", r"""
## 5. Widget: drag the offsets by hand

The widget replaces the offset network by your hands. On a $28 \times 28$ toy feature map (made
from the photo: channel 0 = brightness, 1 = redness, 2 = blueness, **one channel per group**) it
places a $7 \times 7$ key grid and lets you set the **raw** offsets (what the network would
output, before `tanh`):

- **raw Δy, Δx**: one shift for all keys; push it far and watch `tanh` saturate at the bound;
- **per-point jitter**: random raw offsets per key (**new jitter** draws another set);
- **range factor**: the bound factor / $H_k$ (0 freezes the keys on the reference grid);
- **group**: which group's field and channel you see; each group has its own random field.

Left: the group's channel with the reference points (cyan circles), the sampled positions (red
crosses) and the offset arrows. The circles sit slightly off the pixel centres: positions are
drawn where the block reads them, with `align_corners=True` (the DAT v1 quirk of lesson 03). Middle and right: the features the keys carry at the reference
points and at the sampled positions. It is built by `dat_edu.widgets.offsets_widget()`, around
the pure functions `offset_key_grid(hk, wk, global_shift, jitter, seed, range_factor, group, n_groups)`
and `sampled_features(feature_map, pos)`. Here $H_k = 7$ on a 28-pixel map (stride 4), so one key
cell is 4 pixels and the moves are visible.
"""),
("code", r"""
from dat_edu.widgets import offsets_widget

keys_widget = offsets_widget()
display(keys_widget)
"""),
("code", r"""
from dat_edu.widgets import offset_key_grid, photo_features, plot_key_grid, sampled_features

fmap = photo_features((28, 28))  # (3, 28, 28): brightness, redness, blueness
kg = offset_key_grid(7, 7, global_shift=(0.8, -0.5), jitter=1.0, seed=0, range_factor=2.0, group=1, n_groups=3)
print("reference, pos:", tuple(kg.reference.shape), tuple(kg.pos.shape),
      "| bound (normalized):", [round(b, 4) for b in kg.bound.tolist()],
      "| within bound:", bool((kg.offset.abs() <= kg.bound).all()))
print("features at the sampled keys (group 1 = redness):", tuple(sampled_features(fmap[1:2], kg.pos).shape))
plot_key_grid(fmap, kg, group=1, n_groups=3)
plt.show()
"""),
("md", r"""
And the released setting, stride 1: a $14 \times 14$ map with a $14 \times 14$ key grid, raw
offsets pushed hard (jitter 3, so most keys sit near the bound). The arrows stay shorter than the
distance between two pixels:
"""),
("code", r"""
fmap14 = photo_features((14, 14))
kg14 = offset_key_grid(14, 14, jitter=3.0, seed=0, range_factor=2.0, group=0, n_groups=3)
move = (kg14.pos - kg14.reference) * (14 - 1) / 2  # pixels under align_corners=True
print(f"largest move: {move.abs().amax():.3f} px (bound {2 / 14 * 13 / 2:.3f} px)")
plot_key_grid(fmap14, kg14, group=0, n_groups=3)
plt.show()
"""),
("md", r"""
## Summary
- The offset network is tiny: depthwise $k \times k$ conv (stride $s$) → LayerNorm → GELU →
  1×1 conv to $(\Delta y, \Delta x)$. The stride sets the key grid,
  $H_k = \lfloor (H + 2\lfloor k/2 \rfloor - k)/s \rfloor + 1 = \lceil H/s \rceil$ for odd $k$.
- DAT v1 bounds the offsets by $\tanh(\cdot) \cdot \text{factor} / H_k$ (normalized), i.e.
  factor/2 key cells. With factor 2 and stride 1 that is under one pixel (0.93 px at 14×14):
  keys jitter around a full-resolution grid, at the cost of global attention.
- The positions are `reference_grid(Hk, Wk) + offset`, $(y, x)$; the block samples its input
  there with `sample_features(..., align_corners=True)`.
- Channels are split into $g$ groups; one shared network gives one offset field per group; the
  heads of a group share it.
- Library: `dat_edu.offsets.OffsetNetwork`, `bound_offsets`, `key_grid_size`.

## What comes next
Lesson **05 · Attention** builds the attention that consumes these keys: scaled dot-product and
multi-head attention from scratch, a numerically stable softmax, what dense attention costs as the
map grows, and Swin's window and shifted-window attention used by DAT's first stages.

## Exercise
Open `exercises/04_offsets.ipynb`, fill in the `# YOUR CODE HERE` cells, and check yourself with

```
pytest --nbval exercises/04_offsets.ipynb
```
"""),
]

if __name__ == "__main__":
    print(write(cells, "04_offsets.ipynb"))
