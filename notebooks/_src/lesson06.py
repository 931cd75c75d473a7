"""Generate notebooks/06_position_bias.ipynb (run: .venv/bin/python notebooks/_src/lesson06.py)."""

from lesson06_08_nbbuild import write

cells = [
("md", r"""
# 06 · Position bias: Swin's table, DAT's deformable lookup, and a continuous MLP

Attention compares *contents*: a query scores every key by a dot product and never asks where the
key is. Vision transformers therefore add a learned **relative position bias** to the scores.
Swin reads it from a small table, one entry per integer displacement inside a window. DAT's keys
sit at *fractional* positions chosen by the offset network, so DAT reads the table **between** its
entries, with bilinear interpolation. This lesson builds both from scratch, checks them against
`dat_edu.position_bias`, and looks closely at the official lookup.

## What you will learn
- Show with a printed check why attention needs a position signal at all.
- Build Swin's `relative_position_index` by hand for a w×w window, gather a $(2w-1)^2$ table into
  a $(w^2, w^2)$ bias and read its structure from a picture.
- Build DAT's **deformable relative position bias**: a bilinear lookup of a $(2H-1)\times(2W-1)$
  table at half the query–key displacement, with `F.grid_sample`, equal to
  `dat_edu.position_bias.deformable_position_bias`.
- Measure the official lookup's **scaling quirk** (integer displacements miss the table entries by a
  factor $(H-1)/H$) and what `corrected=True` changes.
- Write the **continuous position bias** of SwinV2 / lucidrains (an MLP on
  $\mathrm{sign}(\Delta)\log(1+|\Delta|)$) and say when it is the better choice.
- Tell apart the two "offsets" of DAT: offsets that move keys and values, and the bias that shifts
  the attention logits.
"""),
("code", r"""
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from einops import rearrange

from dat_edu.attention import scaled_dot_product_attention
from dat_edu.position_bias import (
    ContinuousPositionBias,
    deformable_position_bias,
    relative_position_index,
    signed_log,
)
from dat_edu.sampling import reference_grid

_ = torch.manual_seed(0)   # (assigning hides the generator object's repr)
"""),
("md", r"""
## 1. Attention does not know where the keys are

Shuffle the keys together with their values: every score moves along with its key, the softmax
weights move with them, and the weighted sum of values is exactly the same. Attention is a function
of a *set* of keys. Without extra help, a query cannot prefer its neighbours.
"""),
("code", r"""
q = torch.randn(1, 1, 4, 8)          # (B, heads, 4 queries, d = 8)
k = torch.randn(1, 1, 6, 8)          # 6 keys
v = torch.randn(1, 1, 6, 8)          # their values
perm = torch.randperm(6)

out, _ = scaled_dot_product_attention(q, k, v)
out_shuffled, _ = scaled_dot_product_attention(q, k[:, :, perm], v[:, :, perm])
print("keys shuffled, output unchanged:", torch.allclose(out, out_shuffled, atol=1e-6))
"""),
("md", r"""
The fix used by Swin and DAT: add a learned number $B[i, j]$ to the score of query $i$ and key $j$
that depends only on their **relative position** (the displacement from key to query), one number
per head:

$$\mathrm{attn} = \mathrm{softmax}\Big(\frac{q k^\top}{\sqrt d} + B\Big).$$

## 2. Swin's relative position table

Inside a $w\times w$ window, query and key are both on the pixel grid, so the displacement
$(\Delta y, \Delta x) = (y_q - y_k,\ x_q - x_k)$ is a pair of integers in $[-(w-1), w-1]$.
There are only $(2w-1)^2$ different displacements, so one table row per displacement is enough.
Shift both coordinates by $w-1$ to make them non-negative and enumerate the cells row by row:
`index = (Δy + w - 1) * (2w - 1) + (Δx + w - 1)`.
"""),
("code", r"""
w = 3
ys, xs = torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")
coords = torch.stack([ys.flatten(), xs.flatten()])   # (2, w*w): token t sits at (y, x) = coords[:, t]
rel = coords[:, :, None] - coords[:, None, :]        # (2, w*w, w*w): query minus key, in [-(w-1), w-1]
rel = rel + (w - 1)                                  # shift to [0, 2w-2]
index = rel[0] * (2 * w - 1) + rel[1]                # (w*w, w*w): row-major cell of the (2w-1) x (2w-1) table

print(index)
print("equals dat_edu.position_bias.relative_position_index:", torch.equal(index, relative_position_index(w)))
print("distinct entries:", index.unique().numel(), "= (2w-1)^2 =", (2 * w - 1) ** 2)
"""),
("md", r"""
Row $i$ of `index` lists, for query token $i$, the table cell of every key. The diagonal is always
the centre cell (displacement 0), here 12. DAT uses Swin's windows with $w = 7$ in its L and S
blocks: a table of shape $((2w-1)^2, n_h) = (169, n_h)$ is gathered into a bias of shape
$(n_h, 49, 49)$, so 169 learned numbers per head serve 2401 query–key pairs.
"""),
("code", r"""
w, nh = 7, 3
table = torch.randn((2 * w - 1) ** 2, nh)                 # ((2w-1)^2, nh); trained models learn it
idx = relative_position_index(w)                          # (49, 49)
bias = rearrange(table[idx.flatten()], "(i j) h -> h i j", i=w * w)   # (nh, 49, 49)
print("table:", tuple(table.shape), " index:", tuple(idx.shape), " bias:", tuple(bias.shape))

# The centre query (token 24 at (3, 3)) sees the central 7 x 7 part of the table, flipped:
# key (ky, kx) has displacement (3 - ky, 3 - kx), i.e. cell (9 - ky, 9 - kx).
grid = table[:, 0].reshape(2 * w - 1, 2 * w - 1)
print("centre row = flipped central crop:", torch.equal(bias[0, 24].reshape(w, w), grid[3:10, 3:10].flip(0, 1)))
"""),
("code", r"""
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
im = axes[0].imshow(grid, cmap="coolwarm", extent=(-(w - 0.5), w - 0.5, w - 0.5, -(w - 0.5)))
axes[0].set(title="table of head 0: one value per displacement", xlabel="Δx = x_q - x_k", ylabel="Δy = y_q - y_k")
fig.colorbar(im, ax=axes[0], label="bias")
im = axes[1].imshow(bias[0], cmap="coolwarm")
axes[1].set(title="gathered bias B[i, j] of head 0 (49 x 49)", xlabel="key token j (row-major)", ylabel="query token i")
fig.colorbar(im, ax=axes[1], label="bias")
plt.tight_layout()
plt.show()
"""),
("md", r"""
The gathered matrix is **block-Toeplitz**: it is made of $7\times7$ blocks (one per pair of rows
$y_q, y_k$), every block depends only on $y_q - y_k$, and inside a block every diagonal depends only
on $x_q - x_k$. The same 169 numbers repeat all over it.

## 3. DAT: keys at fractional positions need interpolation

In a D block every pixel of the $H\times W$ map is a query, and the keys are read at the sampling
positions $p + \Delta p$ chosen by the offset network, which are **not** on the pixel grid. So
DAT keeps one table per head of shape $(2H-1)\times(2W-1)$, large enough for every displacement
between two points of the map, and reads it at a fractional displacement with **bilinear
interpolation**: the weighted mean of the four nearest entries.

How the official code finds the place to read, in normalized coordinates (lesson 03):

1. query grid and key positions lie in $[-1, 1]$, stored $(y, x)$; their difference lies in $(-2, 2)$;
2. multiply by $0.5$: the displacement now lies in $(-1, 1)$, the range of a `grid_sample` grid;
3. `grid_sample(table, disp, align_corners=True)`: $-1$ reads entry 0, $0$ the centre entry
   $H-1$ (no displacement), $+1$ the last entry $2H-2$. `grid_sample` wants $(x, y)$: flip the last dim.
"""),
("code", r"""
H = W = 6                     # query map
nh = 2                        # heads
table = torch.randn(nh, 2 * H - 1, 2 * W - 1)                  # (nh, 11, 11)

q_grid = reference_grid(H, W)                                  # (H, W, 2): query positions, (y, x)
pos = reference_grid(3, 3)[None, None] + 0.15 * torch.randn(1, 1, 3, 3, 2)   # (B, g, Hk, Wk, 2): 9 jittered keys

disp = 0.5 * (q_grid.reshape(-1, 1, 2) - pos.reshape(1, -1, 2))  # (HW, Ns, 2) = (36, 9, 2), (y, x), in (-1, 1)
bias = F.grid_sample(
    table[None],                    # (1, nh, 2H-1, 2W-1): the heads are grid_sample's channels
    disp.flip(-1)[None],            # (1, HW, Ns, 2): (y, x) -> (x, y) for grid_sample
    mode="bilinear", align_corners=True,
)                                   # (1, nh, HW, Ns)
print("bias:", tuple(bias.shape))

lib = deformable_position_bias(table, q_grid, pos)               # (B, nh, HW, Ns)
print("equals dat_edu.position_bias.deformable_position_bias:", torch.allclose(bias, lib, atol=1e-6))
"""),
("md", r"""
Where does one query read the table? Convert its 9 displacements to table coordinates
(`(disp + 1) * (H - 1)`, the `align_corners=True` rule) and draw them on the table: they fall
between the entries, which is why a bilinear lookup is needed.
"""),
("code", r"""
i = 14                                        # query token 14 = pixel (2, 2)
where = (disp[i] + 1) * (H - 1)               # (Ns, 2): fractional table coordinates (row, column)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
im = axes[0].imshow(table[0], cmap="coolwarm")
axes[0].plot(where[:, 1], where[:, 0], "kx", markersize=9, mew=2, label="lookups of query (2, 2)")
axes[0].plot(W - 1, H - 1, "o", mfc="none", mec="k", markersize=12, label="centre entry (Δ = 0)")
axes[0].set(title="table of head 0 and where one query reads it", xlabel="table column", ylabel="table row")
axes[0].legend(loc="upper left", fontsize=8)
fig.colorbar(im, ax=axes[0], label="table value")
im = axes[1].imshow(lib[0, 0], cmap="coolwarm", aspect="auto")
axes[1].set(title="deformable bias of head 0", xlabel="key j (of 9)", ylabel="query i (of 36)")
fig.colorbar(im, ax=axes[1], label="bias")
plt.tight_layout()
plt.show()
"""),
("md", r"""
## 4. The official lookup's scaling quirk

Put a key exactly on a pixel centre, $d$ pixels from the query. Which table entry does the official
lookup read? On the centre grid a pixel step is $2/H$ in normalized units, so the lookup coordinate
is $0.5 \cdot 2d/H = d/H$, and `align_corners=True` turns that into entry
$(H-1) + d\,(H-1)/H$: **not** the entry $(H-1) + d$ that belongs to displacement $d$.

A "ruler" table makes this visible: let every entry hold the displacement it stands for,
$c - (W-1)$ for column $c$. Then the bias *is* the displacement that the lookup believes in.
$H = W = 14$ is the map size of stage 3 at 224×224 input.
"""),
("code", r"""
H = W = 14
ruler = (torch.arange(2 * W - 1) - (W - 1)).float().expand(1, 2 * H - 1, 2 * W - 1)  # entry holds its Δx
q_grid = reference_grid(H, W)
keys = reference_grid(H, W)[None, None]         # keys exactly on the pixel centres: integer displacements

official = deformable_position_bias(ruler, q_grid, keys)                  # (1, 1, HW, HW)
corrected = deformable_position_bias(ruler, q_grid, keys, corrected=True)

query = W - 1                                   # query at pixel (0, 13); keys along row 0: Δx = 13 - j
true_dx = torch.arange(W - 1, -1, -1).float()
print("true Δx        :", [int(d) for d in true_dx])
print("official reads :", [f"{b:.3f}" for b in official[0, 0, query, :W].tolist()])
print("corrected reads:", [f"{b:.3f}" for b in corrected[0, 0, query, :W].tolist()])
print("official = Δx * (H-1)/H:", torch.allclose(official[0, 0, query, :W], true_dx * (H - 1) / H, atol=1e-5))
print("corrected = Δx exactly :", torch.allclose(corrected[0, 0, query, :W], true_dx, atol=1e-5))
"""),
("code", r"""
fig, ax = plt.subplots(figsize=(6.2, 4.4))
ax.plot(true_dx, true_dx, "k--", lw=1, label="table entry of displacement Δx")
ax.plot(true_dx, official[0, 0, query, :W], "o", label=f"official: Δx·(H-1)/H, slope {(H - 1) / H:.3f}")
ax.plot(true_dx, corrected[0, 0, query, :W], "x", markersize=9, label="corrected=True: Δx")
ax.set(title=f"Which table entry does a key at integer Δx read? (H = {H})",
       xlabel="true displacement Δx (pixels)", ylabel="table position read (as a displacement)")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
"""),
("md", r"""
What this means, and what it does not:

- The official lookup shrinks every displacement by $(H-1)/H$: 0.929 at $H = 14$, 0.857 at
  $H = 7$ (stage 4). A key one pixel away reads a mix of entries 0 and 1 (weights 0.07 / 0.93);
  the outermost ring of the table ($|\Delta| = H - 1$) never gets more than $1/H \approx$ 7 % weight.
- It is *consistent* with how the official code samples the features: it also reads them with
  `align_corners=True` from centre-formula positions, which squeezes the map by the same factor
  (lesson 07 shows this with numbers). The table is simply learned for this scaled geometry, so
  trained checkpoints work fine; the course keeps it as the default to match them number for number.
- `corrected=True` converts both positions to pixels with the convention the centre grid belongs to
  (`align_corners=False`), so integer displacements read table entries **exactly**, and keys on the
  pixel grid reproduce Swin's discrete lookup. `DeformableAttention(coords="corrected")` uses it.
"""),
("md", r"""
## 5. A continuous position bias (SwinV2, lucidrains)

A table has two limits: it is tied to one map size ($2H-1$ entries per axis), and between entries
it can only interpolate linearly. SwinV2 replaces it with a small **MLP** that maps a displacement to
one bias per head, and feeds it log-spaced coordinates

$$\hat\Delta = \mathrm{sign}(\Delta)\,\log(1 + |\Delta|),$$

which keep small displacements nearly linear (fine resolution near the query) and compress large
ones (so an MLP trained on small maps extrapolates gently to larger ones). lucidrains'
`deformable-attention` applies it to the normalized displacement $q - p$ in $(-2, 2)$; DAT++ uses
$d = 4\,(q - p)$ and $\mathrm{sign}(d)\log_2(|d| + 1)/\log_2 8$.
"""),
("code", r"""
d = torch.linspace(-13, 13, 261)
fig, ax = plt.subplots(figsize=(6.5, 4.2))
ax.plot(d, d / 13 * torch.log1p(torch.tensor(13.0)), "k--", lw=1, label="linear (same end points)")
ax.plot(d, signed_log(d), label="sign(Δ)·log(1+|Δ|)")
steps = torch.arange(-13, 14).float()
ax.plot(steps, signed_log(steps), "o", markersize=4, label="integer displacements")
ax.set(title="Log-spaced coordinates: fine near 0, compressed far away",
       xlabel="displacement Δ (pixels)", ylabel="MLP input")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
print("spacing of the inputs for Δ = 0->1, 6->7, 12->13:",
      [f"{(signed_log(torch.tensor(b)) - signed_log(torch.tensor(a))).item():.4f}" for a, b in [(0.0, 1.0), (6.0, 7.0), (12.0, 13.0)]])
"""),
("md", r"""
From scratch, the whole bias is three lines: displacements of every (query, key) pair, the signed
log, a two-layer MLP. We borrow the weights of `dat_edu.position_bias.ContinuousPositionBias`
(`fc1`, ReLU, `fc2`) and compare.
"""),
("code", r"""
torch.manual_seed(0)
cpb = ContinuousPositionBias(heads=2, groups=1, hidden=16)

H = W = 6
q_grid = reference_grid(H, W)                                           # (H, W, 2)
pos = reference_grid(3, 3)[None, None] + 0.15 * torch.randn(1, 1, 3, 3, 2)   # (1, 1, 3, 3, 2)

delta = q_grid.reshape(-1, 1, 2) - pos.reshape(1, -1, 2)                # (HW, Ns, 2) normalized, (y, x)
feat = torch.sign(delta) * torch.log1p(delta.abs())                     # log-spaced
hidden = torch.relu(feat @ cpb.fc1.weight.T + cpb.fc1.bias)            # (HW, Ns, 16)
mine = rearrange(hidden @ cpb.fc2.weight.T + cpb.fc2.bias, "i j h -> 1 h i j")   # (1, nh, HW, Ns)

print("bias:", tuple(mine.shape))
print("equals ContinuousPositionBias:", torch.allclose(mine, cpb(q_grid, pos), atol=1e-6))
print("the same MLP on a 20 x 20 map:", tuple(cpb(reference_grid(20, 20), pos).shape))
n_table = 3 * (2 * 14 - 1) ** 2
n_cpb = sum(p.numel() for p in ContinuousPositionBias(heads=3, hidden=32).parameters())
print(f"parameters for 3 heads at H = W = 14: table {n_table}, MLP (hidden 32) {n_cpb}")
"""),
("md", r"""
Seen over all key positions for one query, the two biases differ in character: the table is a
bilinear patchwork of independent entries (any shape, but only where the table has entries), the MLP
a smooth function defined everywhere. Both start random here; training shapes them.
"""),
("code", r"""
torch.manual_seed(1)
H = W = 8
n = 64                                                          # a dense 64 x 64 grid of key positions
dense_keys = reference_grid(n, n)[None, None]                   # (1, 1, n, n, 2)
q_grid = reference_grid(H, W)
query = (H // 2) * W + W // 2                                    # query at pixel (4, 4)

table_bias = deformable_position_bias(torch.randn(1, 2 * H - 1, 2 * W - 1), q_grid, dense_keys)
mlp_bias = ContinuousPositionBias(heads=1, hidden=32)(q_grid, dense_keys).detach()

fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
for ax, b, name in [(axes[0], table_bias, "table (bilinear lookup)"), (axes[1], mlp_bias, "continuous (MLP)")]:
    im = ax.imshow(b[0, 0, query].reshape(n, n), cmap="coolwarm", extent=(-0.5, W - 0.5, H - 0.5, -0.5))
    ax.plot(W // 2, H // 2, "k*", markersize=14, label="query (4, 4)")
    ax.set(title=f"bias of one query vs key position: {name}", xlabel="key x (pixels)", ylabel="key y (pixels)")
    ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(im, ax=ax, label="bias")
plt.tight_layout()
plt.show()
"""),
("md", r"""
## 6. DAT's two levels of "offset"

The course notes put it well: DAT moves things twice.

1. **Offsets on the keys and values.** The offset network turns the queries into $\Delta p$; the
   input is read at $p + \Delta p$, and $\tilde k = W_k\,\phi(x; p + \Delta p)$,
   $\tilde v = W_v\,\phi(x; p + \Delta p)$. This changes *what* the query can look at: data-dependent.
2. **A bias on the attention logits.** $\phi(\hat B; R)$, the table read at the displacements $R$
   between queries and the (moved) keys, is added to $q\tilde k^\top/\sqrt d$. This changes *how much*
   each key counts, depending only on where it is relative to the query.

$$z = \mathrm{softmax}\Big(\frac{q\,\tilde k^\top}{\sqrt d} + \phi(\hat B; R)\Big)\,\tilde v$$

The two are linked: moving a key changes its content *and* its bias. To see level 2 alone, switch
off the content: with $q = 0$ every score is 0 and the attention is just `softmax(bias)`. A table that
decreases with distance makes the query look around itself.
"""),
("code", r"""
H = W = 8
dy, dx = torch.meshgrid(torch.arange(-(H - 1), H).float(), torch.arange(-(W - 1), W).float(), indexing="ij")
local_table = -(dy**2 + dx**2).sqrt()[None]                 # (1, 15, 15): -distance, "prefer nearby keys"
keys = reference_grid(4, 4)[None, None]                     # 16 keys on a 4 x 4 grid
bias = deformable_position_bias(local_table, reference_grid(H, W), keys, corrected=True)   # (1, 1, 64, 16)

attn = bias.softmax(dim=-1)                                 # q = 0: only the bias speaks
query = 1 * W + 1                                           # pixel (1, 1)
print("rows sum to 1:", torch.allclose(attn.sum(-1), torch.ones(1, 1, H * W)))
print("attention of query (1, 1) over the 4 x 4 keys:")
for row in attn[0, 0, query].reshape(4, 4).tolist():
    print("  ", "  ".join(f"{a:.4f}" for a in row))
"""),
("md", r"""
The key nearest to the query gets most of the weight, the far corner almost none, without looking
at a single feature. In a trained DAT both levels work together: the offsets bring informative
features in, the bias keeps a sense of geometry.

## Summary
- Attention alone is blind to position; a relative position bias $B[i, j]$ added to the logits fixes
  that with one learned number per head and displacement.
- Swin: integer displacements in a $w\times w$ window, a $((2w-1)^2, n_h)$ table and
  `relative_position_index` (built by hand above) gather it into a block-Toeplitz $(n_h, w^2, w^2)$ bias.
- DAT: keys at fractional positions, so a $(n_h, 2H-1, 2W-1)$ table is read with bilinear
  `grid_sample` at $0.5\,(q - p)$, `align_corners=True`:
  `dat_edu.position_bias.deformable_position_bias`.
- The official lookup scales displacements by $(H-1)/H$ (consistently with its sampling);
  `corrected=True` makes integer displacements hit table entries exactly.
- Continuous bias: an MLP on $\mathrm{sign}(\Delta)\log(1+|\Delta|)$ (`ContinuousPositionBias`),
  smooth, size-independent, few parameters.
- Two levels of offset: offsets move keys and values; the bias shifts the logits.

## What comes next
Lesson 07 assembles the whole deformable attention block: queries, the offset network, reference
points, sampling, keys and values, this position bias, softmax and output, with the shape printed at
every step, and compares it with `dat_edu.DeformableAttention`.

## Exercises
Open `exercises/06_position_bias.ipynb`. Check your work with

    pytest --nbval exercises/06_position_bias.ipynb
"""),
]

if __name__ == "__main__":
    print(write(cells, "06_position_bias.ipynb"))
