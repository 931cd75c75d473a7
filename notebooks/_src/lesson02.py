"""Generate notebooks/02_norm_and_mlp.ipynb (run: .venv/bin/python notebooks/_src/lesson02.py)."""

from nbbuild_00_02 import write

cells = [
("md", r"""
# 02 · Normalization and the MLP

Every DAT block has the same skeleton: normalize, mix the tokens (attention), add back; normalize,
transform every pixel (MLP), add back. This lesson builds everything in that skeleton except the
attention: **LayerNorm over channels**, **GELU**, the **MLP**, the **pre-norm residual** structure
and **DropPath**.

## What you will learn
- What LayerNorm and BatchNorm average over on an NCHW feature map, with numbers.
- LayerNorm2d = move channels last + `nn.LayerNorm` + move them back.
- Why LayerNorm does not depend on the batch and BatchNorm (in training) does.
- GELU versus ReLU.
- The transformer MLP (Linear C → 4C, GELU, Linear 4C → C) and its parameter count.
- The pre-norm residual block, and stochastic depth (DropPath).
"""),
("code", r"""
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

_ = torch.manual_seed(0)   # (assigning hides the generator object's repr)


def fmt(v, digits=4):
    # Round for printing; "+ 0.0" turns -0.0 into 0.0 so the text is the same on every machine.
    v = v.detach().item() if isinstance(v, torch.Tensor) else float(v)
    return f"{round(v, digits) + 0.0:.{digits}f}"
"""),
("md", r"""
## 1. What is averaged over?

Take a small feature map: N = 2 samples, C = 4 channels, 3×3 pixels. A normalization subtracts a
mean and divides by a standard deviation; the kinds differ in **which numbers share one mean**:

- **BatchNorm2d**: one mean per *channel*, over all samples and all pixels (N·H·W numbers).
- **LayerNorm over channels** (what DAT uses on its NCHW maps): one mean per *sample and pixel*,
  over that pixel's C channel values. As the course notes put it, every sample in the batch is
  normalized on its own (and here, every pixel of it too).
"""),
("code", r"""
x = torch.randn(2, 4, 3, 3) * 2 + 1            # (N, C, H, W)

bn_mean = x.mean(dim=(0, 2, 3))                 # one per channel
ln_mean = x.mean(dim=1, keepdim=True)           # one per (sample, pixel)
print("BatchNorm statistics:", tuple(bn_mean.shape), "- each averages N*H*W =", 2 * 3 * 3, "numbers")
print("LayerNorm statistics:", tuple(ln_mean.shape), "- each averages C =", 4, "numbers")

v = x[0, :, 0, 0]                                # sample 0, pixel (0, 0): its 4 channel values
print("\nsample 0, pixel (0, 0), channels:", [fmt(a) for a in v])
print("  mean", fmt(v.mean()), " std", fmt(v.std(unbiased=False)))
v_ln = (v - v.mean()) / torch.sqrt(v.var(unbiased=False) + 1e-5)
print("  after LayerNorm:", [fmt(a) for a in v_ln], " mean", fmt(v_ln.mean()), " std", fmt(v_ln.std(unbiased=False)))

c0 = x[:, 0]                                     # channel 0 of every sample and pixel (2 x 3 x 3)
c0_bn = (c0 - c0.mean()) / torch.sqrt(c0.var(unbiased=False) + 1e-5)
print("\nchannel 0 over the batch: mean", fmt(c0.mean()), " std", fmt(c0.std(unbiased=False)))
print("  after BatchNorm: mean", fmt(c0_bn.mean()), " std", fmt(c0_bn.std(unbiased=False)))
x_bn = (x - bn_mean[:, None, None]) / torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False)[:, None, None] + 1e-5)
print("  but pixel (0, 0) of sample 0 after BatchNorm has channel mean", fmt(x_bn[0, :, 0, 0].mean()))
"""),
("md", r"""
Both use the *biased* variance (divide by the count, not count − 1) and add a small $\epsilon$
($10^{-5}$) inside the square root. The picture shows which elements share a mean and standard
deviation (the number in each cell) for N = 3 samples, C = 4 channels and 4 pixels per map:
"""),
("code", r"""
N, C, P = 3, 4, 4                                     # samples, channels, pixels per map
rows = [(n, p) for n in range(N) for p in range(P)]   # one row per (sample, pixel)
bn_group = np.array([[c for c in range(C)] for n, p in rows])           # shared along a column
ln_group = np.array([[i for _ in range(C)] for i, (n, p) in enumerate(rows)])   # shared along a row

fig, axes = plt.subplots(1, 2, figsize=(10, 5.5))
for ax, groups, title in [(axes[0], bn_group, "BatchNorm2d: one mean/std per channel\n(over samples and pixels)"),
                          (axes[1], ln_group, "LayerNorm over C: one mean/std per\n(sample, pixel), over channels")]:
    ax.imshow(groups, cmap="tab20", aspect="auto")
    for (r, c), gid in np.ndenumerate(groups):
        ax.text(c, r, str(gid), ha="center", va="center", fontsize=9)
    ax.set_xticks(range(C), [f"c{c}" for c in range(C)])
    ax.set_yticks(range(len(rows)), [f"n{n} px{p}" for n, p in rows])
    for boundary in range(P, N * P, P):
        ax.axhline(boundary - 0.5, color="k", lw=1.5)
    ax.set_xlabel("channel")
    ax.set_ylabel("sample, pixel")
    ax.set_title(title)
fig.suptitle("Same number = normalized with the same mean and standard deviation")
fig.tight_layout()
plt.show()
"""),
("md", r"""
## 2. LayerNorm over channels, from scratch

`nn.LayerNorm(C)` normalizes the **last** dimension. DAT keeps maps as (B, C, H, W), so the official
code (its `LayerNormProxy`) moves the channels last, normalizes, and moves them back. First the
formula by hand, then the two PyTorch routes:
"""),
("code", r"""
def layer_norm_2d(x, weight, bias, eps=1e-5):
    # x (B, C, H, W); weight, bias (C,). Every pixel is normalized over its C channels.
    mean = x.mean(dim=1, keepdim=True)                     # (B, 1, H, W)
    var = x.var(dim=1, keepdim=True, unbiased=False)       # biased, as nn.LayerNorm
    return (x - mean) / torch.sqrt(var + eps) * weight[:, None, None] + bias[:, None, None]

x = torch.randn(2, 8, 5, 5)
ln = nn.LayerNorm(8)
with torch.no_grad():                                      # non-trivial affine parameters
    ln.weight.uniform_(0.5, 1.5)
    ln.bias.uniform_(-0.5, 0.5)
    via_permute = rearrange(ln(rearrange(x, "b c h w -> b h w c")), "b h w c -> b c h w")
    by_hand = layer_norm_2d(x, ln.weight, ln.bias)
    group_norm = F.group_norm(x, 1, ln.weight, ln.bias)   # GroupNorm(1, C): over C, H and W together
print("from scratch == permute + nn.LayerNorm:", torch.allclose(by_hand, via_permute, atol=1e-5))
print("GroupNorm(1, C) is something else:     ", torch.allclose(group_norm, via_permute, atol=1e-5))
"""),
("md", r"""
A common confusion: `nn.GroupNorm(1, C)` is sometimes called "LayerNorm for images", but it
averages over channels *and* pixels (one mean per sample), not per pixel. DAT normalizes per pixel.

The library module is `dat_edu.norm.LayerNorm2d(channels)`. It keeps the inner `nn.LayerNorm` as
`.norm`, so the official checkpoint names (`...norm.weight`) load unchanged.
"""),
("code", r"""
from dat_edu.norm import LayerNorm2d

ln2d = LayerNorm2d(8)
with torch.no_grad():
    ln2d.norm.load_state_dict(ln.state_dict())
    print("LayerNorm2d == from scratch:", torch.allclose(ln2d(x), by_hand, atol=1e-5))
print("inner module:", type(ln2d.norm).__name__, tuple(ln2d.norm.normalized_shape))
print("parameters:", [name for name, _ in ln2d.named_parameters()], "=", sum(p.numel() for p in ln2d.parameters()))
"""),
("md", r"""
## 3. LayerNorm does not depend on the batch; BatchNorm does

Normalize one sample alone, and the same sample inside a batch of 8. LayerNorm only ever looks at
one pixel of one sample, so the results are identical. BatchNorm in training mode uses the batch's
statistics, so the result for a sample depends on who else is in the batch; in evaluation mode it
switches to running averages collected during training and the dependence disappears.
"""),
("code", r"""
batch = torch.randn(8, 4, 5, 5) * 3 + 2
one = batch[:1]
ln2d = LayerNorm2d(4)
bn = nn.BatchNorm2d(4)                      # a fresh module is in training mode
with torch.no_grad():
    print("LayerNorm2d:       alone == in batch:", torch.allclose(ln2d(one), ln2d(batch)[:1], atol=1e-6))
    print("BatchNorm2d train: alone == in batch:", torch.allclose(bn(one), bn(batch)[:1], atol=1e-6),
          " largest difference", fmt((bn(one) - bn(batch)[:1]).abs().max(), 2))
    bn.eval()
    print("BatchNorm2d eval:  alone == in batch:", torch.allclose(bn(one), bn(batch)[:1], atol=1e-6))
    bn.train()
    try:
        bn(torch.randn(1, 4, 1, 1))          # one sample, one pixel: nothing to average over
    except ValueError as err:
        print("BatchNorm2d train on a single value per channel -> ValueError:", str(err).split(",")[0])
"""),
("md", r"""
This is one reason transformers use LayerNorm: a token's features are normalized the same way at any
batch size (including 1 at inference), no running statistics are needed, and training and
evaluation compute the same function.

## 4. GELU

The nonlinearity of the MLP (and of DAT's offset network) is the **Gaussian Error Linear Unit**:

$$\mathrm{GELU}(x) = x\,\Phi(x) = \frac{x}{2}\left(1 + \operatorname{erf}\frac{x}{\sqrt{2}}\right),$$

the input weighted by the probability that a standard normal variable is below it. Unlike ReLU it
is smooth, and slightly negative for negative inputs.
"""),
("code", r"""
xs = torch.linspace(-4, 4, 801, requires_grad=True)
gelu_by_hand = xs * 0.5 * (1 + torch.erf(xs / math.sqrt(2)))
print("from scratch == F.gelu:", torch.allclose(gelu_by_hand, F.gelu(xs), atol=1e-6))
print("largest gap to the tanh approximation:", f"{(F.gelu(xs) - F.gelu(xs, approximate='tanh')).abs().max().item():.1e}")
i = int(gelu_by_hand.argmin())
print("minimum of GELU: x =", fmt(xs[i], 2), " GELU(x) =", fmt(gelu_by_hand[i], 2))

d_gelu, = torch.autograd.grad(gelu_by_hand.sum(), xs)
relu = F.relu(xs)
d_relu, = torch.autograd.grad(relu.sum(), xs)

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
x_np = xs.detach().numpy()
axes[0].plot(x_np, relu.detach().numpy(), label="ReLU(x) = max(0, x)", lw=2, color="tab:gray")
axes[0].plot(x_np, gelu_by_hand.detach().numpy(), label="GELU(x) = x Φ(x)", lw=2, color="tab:orange")
axes[0].set(title="GELU versus ReLU", xlabel="x", ylabel="activation")
axes[1].plot(x_np, d_relu.numpy(), label="ReLU'(x)", lw=2, color="tab:gray")
axes[1].plot(x_np, d_gelu.numpy(), label="GELU'(x)", lw=2, color="tab:orange")
axes[1].set(title="Their derivatives (autograd)", xlabel="x", ylabel="derivative")
for ax in axes:
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()
plt.show()
"""),
("md", r"""
PyTorch's `nn.GELU()` uses the exact erf form by default, as does DAT; `approximate="tanh"` is the
older, faster approximation (the gap is below $10^{-3}$).

## 5. The transformer MLP block

The MLP (or feed-forward network) transforms every pixel/token **independently**: widen the C
channels to 4C, apply GELU, project back to C. It has

$$C\cdot 4C + 4C \;+\; 4C\cdot C + C \;=\; 8C^2 + 5C \text{ parameters.}$$
"""),
("code", r"""
C = 96                                            # DAT-T's width in stage 1
fc1, fc2 = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

def mlp_by_hand(x):
    # x (B, C, H, W) -> tokens (B, H*W, C) -> Linear, GELU, Linear -> back to (B, C, H, W)
    b, c, h, w = x.shape
    t = rearrange(x, "b c h w -> b (h w) c")
    t = fc2(F.gelu(fc1(t)))
    return rearrange(t, "b (h w) c -> b c h w", h=h, w=w)

x = torch.randn(2, C, 7, 7)
print("output:", tuple(mlp_by_hand(x).shape))
print("parameters by formula:", 8 * C * C + 5 * C, " counted:", sum(p.numel() for m in (fc1, fc2) for p in m.parameters()))
"""),
("md", r"""
A Linear layer applied to every pixel's channels is exactly a **1×1 convolution** (lesson 01):
copy the weights into `nn.Conv2d(C, 4C, 1)` and the results match. (DAT's deformable block writes its
q/k/v projections as 1×1 convolutions on the NCHW map, its window blocks as Linear layers on
tokens: the same operation.)
"""),
("code", r"""
conv1 = nn.Conv2d(C, 4 * C, 1)
with torch.no_grad():
    conv1.weight.copy_(fc1.weight[:, :, None, None])   # (4C, C) -> (4C, C, 1, 1)
    conv1.bias.copy_(fc1.bias)
    as_linear = rearrange(fc1(rearrange(x, "b c h w -> b h w c")), "b h w c -> b c h w")
    print("Linear over channels == 1x1 conv:", torch.allclose(conv1(x), as_linear, atol=1e-5))
"""),
("md", r"""
How much of DAT-T is MLP? Its four stages have widths 96, 192, 384, 768 and depths 2, 2, 6, 2, one
MLP per block; the official model has 28.32 M parameters.
"""),
("code", r"""
dims, depths = [96, 192, 384, 768], [2, 2, 6, 2]
mlp_total = sum(d * (8 * c * c + 5 * c) for c, d in zip(dims, depths))
print(f"MLP parameters in DAT-T: {mlp_total:,}  = {mlp_total / 28.32e6:.0%} of 28.32 M")
"""),
("md", r"""
In the library: `dat_edu.mlp.Mlp(dim, hidden_dim=None, drop=0.0)`, on NCHW maps, with submodules
`fc1` and `fc2` (plus dropout after the GELU and after `fc2`, zero by default).
"""),
("code", r"""
from dat_edu.conv import count_parameters
from dat_edu.mlp import Mlp

mlp = Mlp(C)
with torch.no_grad():
    mlp.fc1.load_state_dict(fc1.state_dict())
    mlp.fc2.load_state_dict(fc2.state_dict())
    print("Mlp == from scratch:", torch.allclose(mlp(x), mlp_by_hand(x), atol=1e-5))
print("count_parameters(Mlp(96)):", count_parameters(mlp), " hidden width:", mlp.fc1.out_features)
"""),
("md", r"""
## 6. The pre-norm residual block

A DAT block (like ViT's and Swin's) is **pre-norm**: each branch sees a normalized copy of the
input, and its output is *added* to the unnormalized residual stream:

$$x \leftarrow x + \mathrm{attn}(\mathrm{LN}_1(x)), \qquad x \leftarrow x + \mathrm{MLP}(\mathrm{LN}_2(x)).$$

Attention arrives in lessons 05–07; here a depthwise 3×3 conv stands in as the token mixer.
"""),
("code", r"""
from dat_edu.conv import depthwise_conv


class PreNormBlock(nn.Module):
    # x (B, C, H, W) -> (B, C, H, W): x + mixer(norm1(x)), then x + mlp(norm2(x)).
    def __init__(self, dim, mixer):
        super().__init__()
        self.norm1, self.mixer = LayerNorm2d(dim), mixer
        self.norm2, self.mlp = LayerNorm2d(dim), Mlp(dim)

    def forward(self, x):
        x = x + self.mixer(self.norm1(x))   # mix information between pixels (attention in DAT)
        x = x + self.mlp(self.norm2(x))     # transform every pixel on its own
        return x


block = PreNormBlock(C, depthwise_conv(C, 3))
x = torch.randn(2, C, 7, 7)
print("block output:", tuple(block(x).shape), " parameters:", count_parameters(block))

# Whatever the scale of the residual stream, each branch sees normalized pixels.
drifted = 10 * x + 3
h = block.norm1(drifted)
print("branch input, largest |per-pixel mean|:", fmt(h.mean(dim=1).abs().max()),
      " per-pixel std between", fmt(h.std(dim=1, unbiased=False).min()), "and", fmt(h.std(dim=1, unbiased=False).max()))
"""),
("md", r"""
The residual path carries $x$ through **untouched**. If both branches output zero, the block is the
identity, whereas a *post-norm* block, $x \leftarrow \mathrm{LN}(x + f(x))$ (the original 2017
Transformer), would still renormalize the stream. That clean identity path lets gradients reach
early layers directly, which is why deep pre-norm transformers train stably without a careful
warm-up.
"""),
("code", r"""
with torch.no_grad():
    block.mixer.weight.zero_()              # silence both branches
    block.mlp.fc2.weight.zero_()
    block.mlp.fc2.bias.zero_()
    print("pre-norm block with silent branches is the identity: ", torch.allclose(block(x), x))
    post_norm = block.norm2(x + block.mixer(block.norm1(x)))
    print("post-norm block with silent branches is the identity:", torch.allclose(post_norm, x))
"""),
("md", r"""
## 7. DropPath (stochastic depth)

DropPath regularizes residual networks by **dropping a whole branch for a whole sample**: during
training, each sample's branch output is zeroed with probability $p$ and the kept ones are scaled
by $1/(1-p)$, so the expected value is unchanged. The block then behaves, for that sample, as if it
were shallower. At evaluation it does nothing. In DAT: $x \leftarrow x + \mathrm{DropPath}(\mathrm{attn}(\mathrm{LN}(x)))$,
and the same for the MLP.
"""),
("code", r"""
def drop_path_by_hand(x, p, training):
    if not training or p == 0.0:
        return x
    keep = 1.0 - p
    mask = (torch.rand(x.shape[0], *([1] * (x.dim() - 1))) < keep).to(x.dtype)   # one coin per sample
    return x * mask / keep

_ = torch.manual_seed(0)
y = drop_path_by_hand(torch.ones(8, 4, 2, 2), p=0.25, training=True)
print("value of each sample after DropPath(0.25):", [fmt(v) for v in y[:, 0, 0, 0]])
print("each sample is constant (all dropped or all kept):", bool((y == y[:, :1, :1, :1]).all()))

n = 100_000
kept = int((drop_path_by_hand(torch.ones(n, 1), 0.25, True) > 0).sum())
print(f"kept {kept} of {n} samples; expected value = kept/n / 0.75 = {kept / n / 0.75:.3f}")
"""),
("md", r"""
DAT assigns each block its own rate, growing linearly from 0 at the first block to
`drop_path_rate` at the last (0.2 for DAT-T, 0.3 for DAT-S, 0.5 for DAT-B); both branches of a
block share it. The library module is `dat_edu.mlp.DropPath(p)`.
"""),
("code", r"""
from dat_edu.mlp import DropPath

rates = torch.linspace(0, 0.2, sum(depths))           # DAT-T: 2 + 2 + 6 + 2 = 12 blocks
print("DAT-T drop-path rates per block:", [fmt(r, 3) for r in rates])

dp = DropPath(0.25)
x = torch.randn(16, 4, 3, 3)
dp.train()
y = dp(x)
dropped = (y == 0).flatten(1).all(dim=1)
kept_ok = torch.allclose(y[~dropped], x[~dropped] / 0.75)
print("train: every sample is zero or x / 0.75:", kept_ok, " dropped samples:", int(dropped.sum()), "of 16")
dp.eval()
print("eval: identity:", torch.equal(dp(x), x))
"""),
("md", r"""
## Summary

- **LayerNorm over channels** (DAT's norm): one mean/std per sample and pixel, over its C channels;
  `LayerNorm2d` = channels last → `nn.LayerNorm(C)` → channels first. Independent of the batch.
  **BatchNorm** averages each channel over the batch and pixels, so in training a sample's output
  depends on its batch mates.
- **GELU**(x) = x Φ(x): smooth, slightly negative for x < 0.
- **MLP**: Linear C → 4C, GELU, Linear 4C → C per pixel (= two 1×1 convs), $8C^2 + 5C$ parameters;
  about 61% of DAT-T's parameters.
- **Pre-norm residual block**: x + attn(LN(x)), then x + MLP(LN(x)); silent branches give the identity.
- **DropPath**: drop a sample's whole branch with probability p, rescale by 1/(1 − p); rates grow
  linearly with depth.
- Later lessons use `dat_edu.norm.LayerNorm2d`, `dat_edu.mlp.Mlp` and `dat_edu.mlp.DropPath`.

## What comes next

Lesson **03 · Sampling**: deformable attention reads features at *fractional* positions. We set up
normalized coordinates in $[-1, 1]$, the reference grid, `align_corners`, and bilinear sampling
from scratch.

## Exercise

Open `exercises/02_norm_and_mlp.ipynb`, solve the tasks, then check your work from the repository
root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/02_norm_and_mlp.ipynb
```
"""),
]

if __name__ == "__main__":
    print(write(cells, "02_norm_and_mlp.ipynb"))
