"""Generate notebooks/01_convolutions.ipynb (run: .venv/bin/python notebooks/_src/lesson01.py)."""

from nbbuild_00_02 import write

cells = [
("md", r"""
# 01 · Convolutions: standard, depthwise, group, depthwise-separable

DAT is a transformer, but convolutions hold it together: the stem that cuts the image into patches,
the layers that downsample between stages, the 1×1 projections that make queries, keys and values,
and, most important for us, the **offset network**, whose first layer is a *depthwise* convolution.

## What you will learn
- A standard convolution as "unfold the patches, multiply by a matrix", checked against PyTorch.
- How to count **parameters** and **multiply-adds** (MACs) exactly, with the worked example
  16 → 32 channels, 3×3 kernel: 4608 (standard), 2304 (2 groups), 656 (depthwise-separable).
- **Depthwise** convolution: one filter per channel, seen on a real photograph.
- **Depthwise-separable** convolution: depthwise (space) then pointwise 1×1 (channels).
- **Group** convolution as split → convolve → concatenate.
- Why DAT's offset network starts with a depthwise convolution.
"""),
("code", r"""
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

_ = torch.manual_seed(0)   # (assigning hides the generator object's repr)
"""),
("md", r"""
## 1. A standard convolution from scratch

A k×k convolution from $C_{in}$ to $C_{out}$ channels computes, at every output pixel, one dot
product per output channel between a filter of shape $(C_{in}, k, k)$ and the input patch of the
same shape under it. So: cut out every patch (`F.unfold`, one column per output pixel), flatten
the $C_{out}$ filters into the rows of a matrix, and multiply.
"""),
("code", r"""
x = torch.randn(1, 16, 8, 8)                  # one feature map: 16 channels, 8 x 8 pixels (NCHW)
weight = torch.randn(32, 16, 3, 3)            # 32 filters, each sees all 16 channels in a 3 x 3 window

patches = F.unfold(x, kernel_size=3, padding=1)          # (1, 16*3*3, 64): one column per output pixel
out = (weight.reshape(32, -1) @ patches).reshape(1, 32, 8, 8)

print("patches:", tuple(patches.shape), " filters as a matrix:", tuple(weight.reshape(32, -1).shape))
print("output:", tuple(out.shape))
print("equals F.conv2d:", torch.allclose(out, F.conv2d(x, weight, padding=1), atol=1e-5))
"""),
("md", r"""
With padding $p$ and stride $s$, the output length along one axis is
$\lfloor (H + 2p - k)/s \rfloor + 1$. Padding $k//2$ with stride 1 keeps the size (all
`dat_edu.conv` builders use it); DAT's stem is a 4×4 convolution with stride 4 and no padding, so
a 224×224 image becomes a 56×56 map of patch features, and each 2×2 stride-2 downsampling halves it.
"""),
("code", r"""
def out_size(size, k, stride=1, padding=0):
    return (size + 2 * padding - k) // stride + 1

stem = nn.Conv2d(3, 96, kernel_size=4, stride=4)          # DAT-T's stem (patch embedding)
down = nn.Conv2d(96, 192, kernel_size=2, stride=2, bias=False)   # DAT-T's first downsampling
image = torch.randn(1, 3, 224, 224)
print("stem:       by formula", out_size(224, 4, stride=4), " PyTorch", tuple(stem(image).shape))
print("downsample: by formula", out_size(56, 2, stride=2), " PyTorch", tuple(down(stem(image)).shape))
print("3x3, padding 1, stride 2 on 15:", out_size(15, 3, stride=2, padding=1))
"""),
("md", r"""
## 2. Counting parameters and multiply-adds

A convolution's weight has shape $(C_{out}, C_{in}/g, k, k)$ for $g$ groups ($g = 1$ for a
standard conv), plus $C_{out}$ biases if it has them:

$$\text{params} = C_{out}\cdot\frac{C_{in}}{g}\cdot k^2 \;(+\,C_{out}), \qquad
\text{MACs} = H_{out}W_{out}\cdot C_{out}\cdot\frac{C_{in}}{g}\cdot k^2 .$$

Each output value is a dot product of length $(C_{in}/g)k^2$, which costs that many
multiply-adds. The worked example of the course notes: 16 → 32 channels, 3×3, no bias.
"""),
("code", r"""
c_in, c_out, k = 16, 32, 3
params_by_hand = c_out * c_in * k * k
conv = nn.Conv2d(c_in, c_out, k, padding=1, bias=False)

print("by hand:               ", params_by_hand)
print("nn.Conv2d parameters:  ", sum(p.numel() for p in conv.parameters()))
print("weight shape:          ", tuple(conv.weight.shape))
print("the notes write 32*(16*3*3) = 4068; it is", 32 * (16 * 3 * 3), "->", 32 * (16 * 3 * 3) == 4068)
"""),
("md", r"""
The course notes contain a typo: $32 \cdot (16 \cdot 3 \cdot 3) = 4608$, not 4068. PyTorch agrees.

For the multiply-adds we let PyTorch count: `FlopCounterMode` records every operation of a forward
pass; it counts one multiply-add as 2 FLOPs.
"""),
("code", r"""
def count_macs(module, x):
    # Run one forward pass and read PyTorch's own FLOP count (2 FLOPs per multiply-add).
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2

x = torch.randn(1, 16, 32, 32)
print("MACs by hand (32 x 32 output):", params_by_hand * 32 * 32)
print("MACs counted by PyTorch:      ", count_macs(conv, x))
"""),
("md", r"""
The library versions of these formulas live in `dat_edu.conv`: `conv_params`, `conv_macs`,
`conv_output_size`, and `count_parameters(module)` for any module. `standard_conv` builds the layer
with padding `k // 2`.
"""),
("code", r"""
from dat_edu.conv import conv_macs, conv_output_size, conv_params, count_parameters, standard_conv

layer = standard_conv(16, 32, 3)
print("conv_params(16, 32, 3):              ", conv_params(16, 32, 3))
print("count_parameters(standard_conv(...)):", count_parameters(layer))
print("conv_macs(16, 32, 3, 32, 32):        ", conv_macs(16, 32, 3, 32, 32))
print("output shape:", tuple(layer(x).shape), " conv_output_size(224, 4, 4, padding=0):", conv_output_size(224, 4, 4, padding=0))
"""),
("md", r"""
## 3. Depthwise convolution: one filter per channel

A depthwise convolution splits the input into its channels, convolves each channel with **its
own** k×k filter (a filter with a single channel), and stacks the results back. It filters in space
but never mixes channels. In PyTorch it is a convolution with `groups = channels`; its weight has
shape $(C, 1, k, k)$.
"""),
("code", r"""
x = torch.randn(1, 3, 8, 8)
w_dw = torch.randn(3, 1, 3, 3)                 # one 3 x 3 filter per channel

# From scratch: convolve channel c with filter c only, then stack the channels back.
by_hand = torch.cat([F.conv2d(x[:, c:c + 1], w_dw[c:c + 1], padding=1) for c in range(3)], dim=1)
builtin = F.conv2d(x, w_dw, padding=1, groups=3)
print("output:", tuple(by_hand.shape), " equals groups=3 conv:", torch.allclose(by_hand, builtin, atol=1e-6))

# No channel mixing: changing input channel 0 changes output channel 0 only.
x2 = x.clone()
x2[:, 0] += 1.0
changed = (F.conv2d(x2, w_dw, padding=1, groups=3) - builtin).abs().amax(dim=(0, 2, 3)) > 0
print("output channels changed by editing input channel 0:", changed.tolist())
"""),
("md", r"""
The course notes say a depthwise conv "has as many parameters as a normal convolution, but gives 3
output channels". Precisely: on an RGB image, a depthwise 3×3 conv has 3·9 = 27 weights, exactly
as many as **one** standard 3×3 filter over 3 channels, which yields a single output channel; the
depthwise conv yields 3 channels, but each sees only its own input channel.
"""),
("code", r"""
depthwise = nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
one_standard_filter = nn.Conv2d(3, 1, 3, padding=1, bias=False)
for name, m in [("depthwise 3x3 on RGB", depthwise), ("one standard 3x3 filter", one_standard_filter)]:
    print(f"{name:<24} weights {sum(p.numel() for p in m.parameters()):3d}  output channels {m(x).shape[1]}")
"""),
("md", r"""
### Depthwise filters on a real photograph

Matplotlib ships a photograph of Grace Hopper. We halve its resolution and apply depthwise
convolutions whose filters we set by hand: a Gaussian **blur** and **Sobel edge** filters. All
filters must share one kernel size per layer, so the 3×3 Sobel filters are zero-padded to 5×5.
"""),
("code", r"""
from matplotlib.cbook import get_sample_data

img = plt.imread(get_sample_data("grace_hopper.jpg", asfileobj=False))      # (600, 512, 3) uint8
photo = torch.from_numpy(img.copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)   # (1, 3, 600, 512) in [0, 1]
photo = F.interpolate(photo, size=(300, 256), mode="bilinear", align_corners=False, antialias=True)

K = 5
d = torch.arange(K) - K // 2
gauss1d = torch.exp(-d.float() ** 2 / (2 * 1.2 ** 2))
blur = torch.outer(gauss1d, gauss1d) / torch.outer(gauss1d, gauss1d).sum()   # sums to 1: keeps brightness
sobel_x = torch.zeros(K, K)
sobel_x[1:4, 1:4] = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])     # responds to vertical edges
sobel_y = sobel_x.T.clone()                                                 # responds to horizontal edges

print("photo:", tuple(photo.shape), " range:", f"{photo.min().item():.1f}..{photo.max().item():.1f}")
print("blur sums to 1:", f"{blur.sum().item():.4f}", " sobel sums to 0:", f"{sobel_x.sum().item():.4f}")
"""),
("code", r"""
def depthwise(image, filters):
    # image (1, C, H, W); filters (C, K, K): filter c is applied to channel c only.
    return F.conv2d(image, filters.unsqueeze(1), padding=K // 2, groups=image.shape[1])

blurred = depthwise(photo, blur.expand(3, K, K))       # the same blur on R, G and B
edges = depthwise(photo, sobel_x.expand(3, K, K))      # the same vertical-edge filter on R, G and B

fig, axes = plt.subplots(1, 3, figsize=(12, 4.8))
axes[0].imshow(photo[0].permute(1, 2, 0).numpy())
axes[0].set_title("input photo (R, G, B)")
axes[1].imshow(blurred[0].permute(1, 2, 0).clamp(0, 1).numpy())
axes[1].set_title("depthwise Gaussian blur\n(same 5x5 filter on each channel)")
scale = edges.abs().amax().item()
axes[2].imshow((0.5 + 0.5 * edges[0] / scale).permute(1, 2, 0).numpy())
axes[2].set_title("depthwise Sobel-x, per channel\n(grey = 0; colour = the channels disagree)")
for ax in axes:
    ax.set_xlabel("x (pixel)")
    ax.set_ylabel("y (pixel)")
fig.tight_layout()
plt.show()
"""),
("md", r"""
The edge image is coloured where the channels' edges differ (the flag's stripes, the ribbons): each channel was filtered on its own. Now give every channel a *different* filter:
blur the red channel, find vertical edges in the green one and horizontal edges in the blue one.
"""),
("code", r"""
dw = nn.Conv2d(3, 3, K, padding=K // 2, groups=3, bias=False)
with torch.no_grad():
    dw.weight.copy_(torch.stack([blur, sobel_x, sobel_y]).unsqueeze(1))     # weight (3, 1, 5, 5)
    mixed = dw(photo)
print("weight:", tuple(dw.weight.shape), " output:", tuple(mixed.shape))

titles_in = ["input R", "input G", "input B"]
titles_out = ["R * blur", "G * Sobel-x (vertical edges)", "B * Sobel-y (horizontal edges)"]
fig, axes = plt.subplots(2, 3, figsize=(13, 9))
for c in range(3):
    im = axes[0, c].imshow(photo[0, c].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0, c].set_title(titles_in[c])
    fig.colorbar(im, ax=axes[0, c], shrink=0.8, label="intensity")
    out_c = mixed[0, c].numpy()
    if c == 0:
        im = axes[1, c].imshow(out_c, cmap="gray", vmin=0, vmax=1)
    else:
        lim = abs(out_c).max()
        im = axes[1, c].imshow(out_c, cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[1, c].set_title(titles_out[c])
    fig.colorbar(im, ax=axes[1, c], shrink=0.8, label="response")
for ax in axes.flat:
    ax.set_xlabel("x (pixel)")
    ax.set_ylabel("y (pixel)")
fig.suptitle("A depthwise conv: output channel c = input channel c convolved with filter c")
fig.tight_layout()
plt.show()
"""),
("md", r"""
In `dat_edu.conv`, `depthwise_conv(channels, kernel_size, stride=1, bias=False)` builds this layer.
It has $C k^2$ weights: 144 for 16 channels and a 3×3 kernel.
"""),
("code", r"""
from dat_edu.conv import depthwise_conv

layer = depthwise_conv(3, K)
with torch.no_grad():
    layer.weight.copy_(dw.weight)
    print("same output as our hand-set layer:", torch.allclose(layer(photo), mixed, atol=1e-6))
print("depthwise_conv(16, 3) parameters:", count_parameters(depthwise_conv(16, 3)),
      "=", conv_params(16, 16, 3, groups=16))
"""),
("md", r"""
## 4. Depthwise-separable convolution: space first, then channels

A depthwise conv cannot change the number of channels or combine them. A **pointwise** 1×1
convolution does exactly that (and nothing spatial). Chaining the two gives a
*depthwise-separable* convolution: first each channel is filtered in space, then the channels are
mixed. For 16 → 32 with a 3×3 kernel:

$$\underbrace{16 \cdot 3 \cdot 3}_{\text{depthwise}} + \underbrace{32 \cdot 16}_{\text{pointwise}} = 144 + 512 = 656 \quad\text{instead of } 4608.$$
"""),
("code", r"""
separable = nn.Sequential(
    nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False),    # depthwise: space, per channel
    nn.Conv2d(16, 32, 1, bias=False),                          # pointwise: mixes channels
)
x = torch.randn(1, 16, 32, 32)
by_hand = 16 * 3 * 3 + 32 * 16
print("params by hand:", by_hand, " PyTorch:", sum(p.numel() for p in separable.parameters()))
print("MACs by hand:  ", by_hand * 32 * 32, " PyTorch:", count_macs(separable, x))
print(f"ratio to standard: {by_hand / 4608:.4f}  = 1/C_out + 1/k^2 = {1 / 32 + 1 / 9:.4f}")
"""),
("md", r"""
The saving is not free. A separable conv *is* a standard conv, but one whose kernel is forced into a
product form: $W[o, i, :, :] = P[o, i]\cdot D[i, :, :]$, where $D$ are the depthwise filters and
$P$ the pointwise weights. Every output channel must reuse the same spatial filter per input
channel. We can build that full kernel and check that one standard conv with it gives the same
output:
"""),
("code", r"""
D = separable[0].weight[:, 0]            # (16, 3, 3) spatial filter of each input channel
P = separable[1].weight[:, :, 0, 0]      # (32, 16) channel mixing
W_full = P[:, :, None, None] * D[None]   # (32, 16, 3, 3)
with torch.no_grad():
    same = torch.allclose(F.conv2d(x, W_full, padding=1), separable(x), atol=1e-5)
print("full kernel:", tuple(W_full.shape), " standard conv with it == separable conv:", same)
"""),
("code", r"""
from dat_edu.conv import depthwise_separable_conv, separable_macs, separable_params

layer = depthwise_separable_conv(16, 32, 3)
print(layer)
print("separable_params(16, 32, 3):", separable_params(16, 32, 3), " count_parameters:", count_parameters(layer))
print("separable_macs(16, 32, 3, 32, 32):", separable_macs(16, 32, 3, 32, 32))
"""),
("md", r"""
## 5. Group convolution: split, convolve, concatenate

A group convolution splits the **input channels** into $g$ equal groups and runs an independent
convolution on each: every group has $C_{out}/g$ filters of depth $C_{in}/g$. The outputs are
concatenated. With $g = 2$ for 16 → 32, 3×3:
$g\cdot\frac{C_{out}}{g}\cdot\frac{C_{in}}{g}\cdot k^2 = 2\cdot 16\cdot 8\cdot 9 = 2304$, half of the
standard conv. Let us implement it by hand with `torch.chunk` and compare with `groups=2`:
"""),
("code", r"""
g = 2
conv_g = nn.Conv2d(16, 32, 3, padding=1, groups=g, bias=False)   # weight (32, 8, 3, 3)
x = torch.randn(1, 16, 8, 8)

x_parts = torch.chunk(x, g, dim=1)                 # 2 x (1, 8, 8, 8): split the input channels
w_parts = torch.chunk(conv_g.weight, g, dim=0)     # 2 x (16, 8, 3, 3): each group's own filters
with torch.no_grad():
    by_hand = torch.cat([F.conv2d(xp, wp, padding=1) for xp, wp in zip(x_parts, w_parts)], dim=1)
    print("by hand:", tuple(by_hand.shape), " equals groups=2 conv:", torch.allclose(by_hand, conv_g(x), atol=1e-5))
print("params by hand:", g * (32 // g) * (16 // g) * 3 * 3, " PyTorch:", sum(p.numel() for p in conv_g.parameters()))
"""),
("md", r"""
Groups interpolate between the two extremes: $g = 1$ is a standard conv, $g = C_{in}$ is a
depthwise conv (with $C_{out}/C_{in}$ filters per channel). The cost falls as $1/g$:
"""),
("code", r"""
from dat_edu.conv import group_conv

names, counts = [], []
for groups in (1, 2, 4, 8, 16):
    n = count_parameters(group_conv(16, 32, 3, groups))
    print(f"groups={groups:2d}: params {n:5d}  = conv_params {conv_params(16, 32, 3, groups=groups):5d}"
          f"   MACs on 32x32 {conv_macs(16, 32, 3, 32, 32, groups=groups):>9,}")
    names.append({1: "standard\ng=1", 16: "g=16\n(depthwise, x2)"}.get(groups, f"group conv\ng={groups}"))
    counts.append(n)
names.append("depthwise-\nseparable")
counts.append(separable_params(16, 32, 3))

fig, ax = plt.subplots(figsize=(9, 4))
bars = ax.bar(names, counts, color=["tab:gray"] + ["tab:blue"] * 4 + ["tab:orange"])
ax.bar_label(bars, labels=[str(c) for c in counts])
ax.set_yscale("log")
ax.set_ylim(100, 20000)
ax.set_ylabel("parameters (log scale)")
ax.set_xlabel("kind of 3x3 convolution, 16 -> 32 channels")
ax.set_title("Parameters of a 16 -> 32, 3x3 convolution (MACs on a 32x32 map = 1024 x this)")
fig.tight_layout()
plt.show()
"""),
("md", r"""
The course notes add that "in experiments, grouped convolutions worked better than ungrouped ones
with the same network". That is what AlexNet (2 groups, for two GPUs) and ResNeXt observed — ResNeXt
compares networks of **equal cost**, where grouping pays for wider layers. At equal width, grouping
simply removes connections between groups; networks restore the mixing with a following 1×1 conv
(as in the separable conv) or a channel shuffle (ShuffleNet). The builder `dat_edu.conv.group_conv`
refuses channel counts that do not split evenly:
"""),
("code", r"""
try:
    group_conv(16, 30, 3, groups=4)
except ValueError as err:
    print("ValueError:", err)
"""),
("md", r"""
## 6. Where DAT uses convolutions, and why the offset network is depthwise

DAT-T on a 224×224 image uses convolutions for the stem, the downsampling layers, the 1×1
q/k/v/out projections of a deformable attention block, and the two layers of its offset network.
The table gives them for stage 3 (384 channels, a 14×14 map, 3 offset groups of $C_g = 128$
channels, kernel 5). MACs are per image, and for the offset network per group (it runs once for
each of the 3 groups):
"""),
("code", r"""
rows = [
    ("stem 4x4/4, 3 -> 96, bias", conv_params(3, 96, 4, bias=True), conv_macs(3, 96, 4, 56, 56)),
    ("downsample 2x2/2, 96 -> 192", conv_params(96, 192, 2), conv_macs(96, 192, 2, 28, 28)),
    ("proj_q 1x1, 384 -> 384, bias", conv_params(384, 384, 1, bias=True), conv_macs(384, 384, 1, 14, 14)),
    ("offsets: depthwise 5x5, 128 ch, bias", conv_params(128, 128, 5, groups=128, bias=True),
     conv_macs(128, 128, 5, 14, 14, groups=128)),
    ("  (if it were a standard 5x5 conv)", conv_params(128, 128, 5, bias=True), conv_macs(128, 128, 5, 14, 14)),
    ("offsets: 1x1, 128 -> 2 (dy, dx)", conv_params(128, 2, 1), conv_macs(128, 2, 1, 14, 14)),
]
print(f"{'layer':<38}{'params':>10}{'MACs':>22}")
for name, p, m in rows:
    print(f"{name:<38}{p:>10,}{m:>22,}")
ratio = conv_macs(128, 128, 5, 14, 14) / conv_macs(128, 128, 5, 14, 14, groups=128)
print("standard / depthwise cost:", int(ratio))
"""),
("md", r"""
The offset network has to decide, for each reference point, *where nearby the interesting content
is*. That needs **spatial context** (a k×k neighbourhood: the official code picks k = 9, 7, 5, 3 for stages
1–4, larger where the maps are larger; DAT-T's deformable stages 3 and 4 use 5 and 3) but not a
rich mixing of channels, which the cheap 1×1 conv to 2 channels does afterwards. A
depthwise conv delivers exactly that at $C k^2$ instead of $C^2 k^2$ weights, 128× cheaper here,
and its stride sets how many reference points there are. The structure —
depthwise k×k → LayerNorm → GELU → 1×1 — is a depthwise-separable conv with a normalization and
a nonlinearity in between, which lesson 02 explains.

Lesson 04 builds this offset network; the library already has it as `dat_edu.offsets.OffsetNetwork`.
A first look at its layers, with the stage-3 sizes from the table:
"""),
("code", r"""
from dat_edu.offsets import OffsetNetwork

net = OffsetNetwork(channels=128, kernel_size=5, stride=1)
print("layers:", [f"{name}: {type(m).__name__}" for name, m in net.named_children()])
print("first layer is depthwise (groups == channels):", net.dwconv.groups == net.dwconv.in_channels == 128)
print("its parameters:", count_parameters(net.dwconv), "=", conv_params(128, 128, 5, groups=128, bias=True))
q_group = torch.randn(3, 128, 14, 14)           # 3 groups of one image's queries, 14 x 14 map
print("offsets:", tuple(net(q_group).shape), "- channel 0 is the shift in y, channel 1 in x")
"""),
("md", r"""
## Summary

- A convolution is a dot product between each filter and each input patch (`F.unfold` + matmul).
- params $= C_{out}\,(C_{in}/g)\,k^2\;(+C_{out})$; MACs $= H_{out}W_{out}\cdot$ that (without the
  bias). 16 → 32, 3×3: **4608** standard (not 4068), **2304** with 2 groups, **656** separable.
- Depthwise: one filter per channel, spatial filtering without channel mixing (`groups = C`).
- Separable = depthwise + pointwise 1×1: a standard conv with a factorised kernel, 0.14× the cost here.
- Group conv = split the channels, convolve each part, concatenate.
- `dat_edu.conv`: `standard_conv`, `depthwise_conv`, `group_conv`, `depthwise_separable_conv`,
  `conv_params`, `conv_macs`, `separable_params`, `separable_macs`, `conv_output_size`,
  `count_parameters`.

## What comes next

Lesson **02 · Normalization and the MLP**: the LayerNorm that sits between the two convolutions of
the offset network (and before every attention and MLP branch), GELU, and the transformer MLP block.

## Exercise

Open `exercises/01_convolutions.ipynb`, solve the tasks, then check your work from the repository
root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/01_convolutions.ipynb
```
"""),
]

if __name__ == "__main__":
    print(write(cells, "01_convolutions.ipynb"))
