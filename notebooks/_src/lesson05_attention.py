"""Generate notebooks/05_attention.ipynb (run: .venv/bin/python notebooks/_src/lesson05_attention.py)."""

from lesson03_05_build import write

cells = [
("md", r"""
# 05 · Attention: dense, windowed and shifted

Lessons 03 and 04 produced keys; now the queries attend to them. This lesson writes attention out
by hand, makes its softmax safe for large scores, counts what dense attention costs as the map
grows, and builds the **window** and **shifted-window** attention (Swin) that DAT uses in its
first two stages and in every other block of the last two.

## What you will learn
- **Scaled dot-product attention** and **multi-head attention** from scratch with `einsum`,
  equal to `F.scaled_dot_product_attention` and `dat_edu.attention`.
- The **stable softmax**: why $e^{1000}$ turns into `nan`, and how subtracting the row maximum
  fixes it.
- The **cost of dense attention**: an $HW \times HW$ score matrix per head, counted (not timed) and
  compared with window attention.
- **Swin window and shifted-window attention**: partitioning, the cyclic roll, the region labels
  and the $-100$ mask, drawn; `dat_edu.windows`.
- A **widget**: pick a query pixel and see its attention over the keys, for dense, window,
  shifted and deformable keys.
"""),
("code", r"""
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

_ = torch.manual_seed(0)  # (the returned generator would print its address)
"""),
("md", r"""
## 1. Scaled dot-product attention from scratch

Every query $q_i$ scores every key $k_j$ with a dot product, the scores are scaled by
$1/\sqrt{d}$ and turned into weights by a softmax over the keys, and the output is the weighted
sum of the values:

$$\text{Attention}(Q, K, V) = \text{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}}\right) V .$$

With batch $B$, heads $h$, $N_q$ queries, $N_k$ keys and $d$ channels per head, `einsum` spells
out which indices are summed:
"""),
("code", r"""
B, h, Nq, Nk, d = 2, 3, 5, 7, 8
q = torch.randn(B, h, Nq, d)
k = torch.randn(B, h, Nk, d)
v = torch.randn(B, h, Nk, d)

scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(d)  # (B, h, Nq, Nk): one score per pair
attn = scores.softmax(dim=-1)  # over the keys
out = torch.einsum("bhqk,bhkd->bhqd", attn, v)  # (B, h, Nq, d): weighted sum of the values
print("scores", tuple(scores.shape), "| out", tuple(out.shape), "| rows sum to 1:", torch.allclose(attn.sum(-1), torch.ones(B, h, Nq)))
print("equal to F.scaled_dot_product_attention:", torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6))
"""),
("md", r"""
Why $1/\sqrt{d}$? For $q, k$ with independent unit-variance entries, $q \cdot k$ is a sum of $d$
unit-variance terms, so its standard deviation is $\sqrt{d}$. Unscaled, the scores of a 64-channel
head spread over $\pm 8$ and more, and the softmax saturates (one weight near 1, tiny gradients):
"""),
("code", r"""
d64 = 64
s = torch.einsum("nd,md->nm", torch.randn(1000, d64), torch.randn(1000, d64))
print(f"std of q.k with d={d64}: {s.std():.1f} unscaled, {(s / math.sqrt(d64)).std():.1f} scaled by 1/sqrt(d)")
"""),
("md", r"""
## 2. A softmax that cannot overflow

$\text{softmax}(s)_j = e^{s_j} / \sum_l e^{s_l}$. In float32 $e^{89}$ is already `inf`, and
$\infty / \infty$ is `nan`. Large scores happen (large activations, no scaling, a bias gone
wrong). The fix is free: subtracting any constant $c$ from every score of a row changes nothing,
because $e^{-c}$ cancels. With $c = \max_l s_l$ every exponent is $\le 0$, so $e^{s_j - c} \in (0, 1]$
and the sum is at least 1.
"""),
("code", r"""
s = torch.tensor([1000.0, 999.0, 0.0])
naive = s.exp() / s.exp().sum()
shifted = s - s.max()  # the stable version: largest exponent is exactly 0
stable = shifted.exp() / shifted.exp().sum()
print("naive :", naive.tolist())
print("stable:", [round(p, 4) for p in stable.tolist()])
print("stable == torch.softmax:", torch.allclose(stable, torch.softmax(s, dim=0)))
"""),
("md", r"""
`dat_edu.attention.stable_softmax` subtracts the **detached** row maximum (it is a constant
shift, so no gradient needs to flow through it; lucidrains' deformable attention does the same),
and `dat_edu.attention.scaled_dot_product_attention(q, k, v, bias=None, mask=None, scale=None)`
writes attention out like above and returns `(out, attn)`; `bias` is where the relative position
bias (lesson 06) and the shifted-window mask (below) go in.
"""),
("code", r"""
from dat_edu.attention import scaled_dot_product_attention, stable_softmax

big = torch.randn(4, 10) * 500  # huge scores
print("stable_softmax == torch.softmax on huge scores:", torch.allclose(stable_softmax(big), torch.softmax(big, dim=-1)))
print("any nan:", bool(stable_softmax(big).isnan().any()))
lib_out, lib_attn = scaled_dot_product_attention(q, k, v)
print("dat_edu scaled_dot_product_attention == ours:", torch.allclose(lib_out, out, atol=1e-6), torch.allclose(lib_attn, attn, atol=1e-6))
"""),
("md", r"""
## 3. Multi-head self-attention on a feature map

Self-attention on an image: every pixel of a $(B, C, H, W)$ map is a token, queries, keys and
values are linear maps of the same tokens, and the $C$ channels are split into $n_h$ heads of
$d = C / n_h$ channels that attend independently (each head can look somewhere else). Then the
heads are concatenated and mixed by an output projection.
"""),
("code", r"""
from dat_edu.attention import MultiHeadSelfAttention

Bm, C, Hm, Wm, nh = 1, 16, 4, 4, 4
x = torch.randn(Bm, C, Hm, Wm)
mhsa = MultiHeadSelfAttention(C, nh)  # proj_qkv: Linear(C, 3C), proj_out: Linear(C, C)

tokens = rearrange(x, "b c h w -> b (h w) c")  # (B, N, C), N = H*W pixels in row-major order
qm, km, vm = mhsa.proj_qkv(tokens).chunk(3, dim=-1)  # 3 x (B, N, C)
qm, km, vm = (rearrange(t, "b n (h d) -> b h n d", h=nh) for t in (qm, km, vm))  # (B, nh, N, d)
a = torch.einsum("bhqd,bhkd->bhqk", qm, km).mul(qm.shape[-1] ** -0.5).softmax(dim=-1)  # (B, nh, N, N)
o = rearrange(torch.einsum("bhqk,bhkd->bhqd", a, vm), "b h n d -> b n (h d)")  # heads concatenated
y = rearrange(mhsa.proj_out(o), "b (h w) c -> b c h w", h=Hm)  # back to (B, C, H, W)
print("attention per head:", tuple(a.shape), "| output:", tuple(y.shape))
print("equal to dat_edu.attention.MultiHeadSelfAttention:", torch.allclose(y, mhsa(x), atol=1e-6))

ref = nn.MultiheadAttention(C, nh, batch_first=True)  # PyTorch's own, with the same weights
with torch.no_grad():
    ref.in_proj_weight.copy_(mhsa.proj_qkv.weight)
    ref.in_proj_bias.copy_(mhsa.proj_qkv.bias)
    ref.out_proj.weight.copy_(mhsa.proj_out.weight)
    ref.out_proj.bias.copy_(mhsa.proj_out.bias)
y_ref = rearrange(ref(tokens, tokens, tokens, need_weights=False)[0], "b (h w) c -> b c h w", h=Hm)
print("equal to nn.MultiheadAttention:", torch.allclose(y, y_ref, atol=1e-6))
"""),
("md", r"""
## 4. What dense attention costs

Dense attention scores every query against every key: an $HW \times HW$ matrix **per head and per
image**, in memory for the backward pass. Window attention with $w \times w$ windows scores each
query against $w^2$ keys only: $HW \cdot w^2$ entries, linear in the number of pixels. Deformable
attention scores each query against the $N_s = H_k W_k$ sampled keys; with DAT v1's stride 1,
$N_s = HW$ and it costs exactly as much as dense attention (DAT++ samples a fixed
$7 \times 7$ key grid instead). Counted, not timed:
"""),
("code", r"""
def score_entries(side, kind, window=7, keys=49):
    n = side * side  # tokens of a side x side map
    return {"dense": n * n, "window": n * window * window, "deformable stride 1": n * n, "7x7 keys": n * keys}[kind]

print(f"{'map':>9} | {'dense entries':>14} | {'MiB/head fp32':>13} | {'window 7x7':>11} | {'dense / window':>14}")
for side in (7, 14, 28, 56, 112):
    dense, win = score_entries(side, "dense"), score_entries(side, "window")
    print(f"{side:>4}x{side:<4} | {dense:>14,} | {dense * 4 / 2**20:>13.2f} | {win:>11,} | {dense / win:>14.1f}")
"""),
("md", r"""
At DAT-T's first stage (a $56 \times 56$ map at 224×224 input) one head's dense score matrix is
37.5 MiB; with 3 heads and a batch of 128 that is 14 GiB for one layer's attention weights. This
is why DAT uses window attention in stages 1–2 and deformable attention only on the $14 \times 14$
and $7 \times 7$ maps of stages 3–4.
"""),
("code", r"""
sides = torch.arange(4, 120, 4).tolist()
fig, ax = plt.subplots(figsize=(7, 4.2))
labels = {"dense": "dense", "deformable stride 1": "deformable, stride 1 (= dense)", "window": "window 7x7",
          "7x7 keys": "deformable, 7x7 keys (DAT++; = window 7x7)"}
for kind, style in (("dense", "-"), ("deformable stride 1", "o"), ("window", "-"), ("7x7 keys", "s")):
    counts = [score_entries(s_, kind) for s_ in sides]
    ax.plot(sides, counts, style, label=labels[kind], markersize=4)
for side, stage in ((56, "stage 1"), (28, "stage 2"), (14, "stage 3"), (7, "stage 4")):
    ax.axvline(side, color="gray", lw=0.6, ls=":")
    ax.text(side, 3e2, stage, rotation=90, fontsize=8, ha="right", va="bottom", color="gray")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("map side (H = W, tokens)")
ax.set_ylabel("attention scores per head and image")
ax.set_title("Score-matrix entries: dense grows like (HW)^2, windows like HW")
ax.legend()
plt.show()
"""),
("md", r"""
Timing on your machine (output not checked: it depends on the computer):
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
import time

layer = MultiHeadSelfAttention(32, 4).eval()
for side in (8, 16, 32):
    xt = torch.randn(2, 32, side, side)
    with torch.no_grad():
        layer(xt)  # warm-up
        t0 = time.perf_counter()
        for _ in range(3):
            layer(xt)
    print(f"{side}x{side} map: {(time.perf_counter() - t0) / 3 * 1000:.1f} ms per forward")
"""),
("md", r"""
## 5. Window attention (Swin)

Swin cuts the map into non-overlapping $w \times w$ windows and runs attention inside each one:
a query sees the $w^2$ pixels of its own window. `dat_edu.windows.window_partition` turns
$(B, C, H, W)$ into $(B \cdot n_W, w^2, C)$ token groups (window rows, then window columns; row-major
inside a window), and `window_reverse` undoes it.
"""),
("code", r"""
from dat_edu.windows import WindowAttention, shifted_window_mask, window_partition, window_reverse

Hs = Ws = 8
win = 4
xw = torch.randn(1, C, Hs, Ws)
wins = window_partition(xw, win)  # (B*nW, w*w, C)
print("windows:", tuple(wins.shape), "| round trip:", torch.equal(window_reverse(wins, win, Hs, Ws), xw))
qw = rearrange(wins, "n t c -> n 1 t c")  # one head, queries = keys = values = tokens
_, attn_w = scaled_dot_product_attention(qw, qw, qw)
print("attention per window:", tuple(attn_w.shape), f"-> each query sees {attn_w.shape[-1]} keys instead of {Hs * Ws}")
"""),
("md", r"""
### Shifted windows
Windows never exchange information, so every other block **shifts** them: roll the map by
$-s$ pixels (up and left), partition, attend, roll back. Swin uses $s = \lfloor w/2 \rfloor$;
DAT uses $s = \lceil w/2 \rceil$ (4 for its window 7). After the roll, the last $s$ rows and
columns hold pixels that wrapped around from the opposite border: they were far apart in the
image and must not attend to each other. Swin labels the rolled map with 3 regions per axis,
rows $[0, H-w)$, $[H-w, H-s)$, $[H-s, H)$ (same for columns), 9 regions in all, and adds $-100$
to every score between tokens of different regions ($e^{-100} \approx 4 \cdot 10^{-44}$: zero in
practice, but never `nan` like $-\infty$ on a fully masked row could be).
"""),
("code", r"""
shift = 2  # w // 2 = ceil(w / 2) = 2 for w = 4
labels = torch.zeros(Hs, Ws, dtype=torch.long)
cuts = (slice(0, -win), slice(-win, -shift), slice(-shift, None))
for i, rows in enumerate(cuts):
    for j, cols in enumerate(cuts):
        labels[rows, cols] = 3 * i + j  # region label of every pixel of the *rolled* map
mask = shifted_window_mask(Hs, Ws, win, shift)  # (nW, w*w, w*w), 0 or -100
print("mask:", tuple(mask.shape), "| blocked pairs per window:", (mask < 0).sum(dim=(1, 2)).tolist())

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.6))
im0 = ax0.imshow(labels.numpy(), cmap="tab10", vmin=0, vmax=9)
for r in range(Hs):
    for c in range(Ws):
        ax0.text(c, r, str(int(labels[r, c])), ha="center", va="center", color="white", fontsize=9)
for b in range(0, Hs + 1, win):
    ax0.axhline(b - 0.5, color="black", lw=2)
    ax0.axvline(b - 0.5, color="black", lw=2)
ax0.set_title(f"region labels after rolling by -{shift} (black: windows)")
ax0.set_xlabel("x (rolled map)")
ax0.set_ylabel("y (rolled map)")
fig.colorbar(im0, ax=ax0, fraction=0.046, label="region label")
im1 = ax1.imshow(mask[3].numpy(), cmap="magma")
ax1.set_title("mask of window 3 (bottom right): query row, key column")
ax1.set_xlabel("key token (row-major in the window)")
ax1.set_ylabel("query token")
fig.colorbar(im1, ax=ax1, fraction=0.046, label="added to the score (0 or -100)")
plt.tight_layout()
plt.show()
"""),
("md", r"""
Only the last window row and column mix regions: window 0 needs no mask, window 3 (bottom right)
holds four regions. `dat_edu.windows.WindowAttention(dim, num_heads, window, shift)` packages all
of it (roll, partition, relative position bias, mask for the actual input size, roll back), and
says clearly when the map does not fit the windows:
"""),
("code", r"""
swin = WindowAttention(C, nh, window=win, shift=shift)
print("shifted window attention:", tuple(swin(xw).shape))
try:
    swin(torch.randn(1, C, 15, 15))
except ValueError as err:
    print("ValueError:", err)
"""),
("md", r"""
## 6. Widget: where does one query look?

Pick a **query pixel** on a $16 \times 16$ version of the photo and see its attention weights
over the keys. To keep the picture readable there are no learned projections: queries = keys =
the colour of each pixel as a unit-length vector (standardized RGB divided by its length), so
$q \cdot k$ is the cosine similarity of two colours and a query attends to pixels of **similar
colour** (cosine attention, as in Swin V2). **sharpness** is the scale of the scores, one over the
softmax temperature. Switch **attention** between

- `dense`: all 256 pixels are keys;
- `window`: the $4 \times 4$ window of the query (white lines);
- `shifted`: the windows after a roll by 2 with the $-100$ mask (lines drawn where the shifted
  windows lie in the original image; near the border a window wraps around, and the mask keeps
  the wrapped part out);
- `deformable`: $8 \times 8$ keys sampled at offset positions (**new offsets** draws random ones,
  factor 2). A sampled key mixes its 4 neighbouring pixels, so its weight is spread over them
  with the bilinear weights: the map shows what each input pixel contributes.

Built by `dat_edu.widgets.attention_widget()` around the pure function
`attention_map(x, query=(i, j), kind, window, shift, positions, scale)`, which returns the
$(H, W)$ weights.
"""),
("code", r"""
from dat_edu.widgets import attention_widget

query_widget = attention_widget()
display(query_widget)
"""),
("code", r"""
from dat_edu.widgets import attention_details, colour_features, load_photo, offset_key_grid

small = load_photo((16, 16))  # (3, 16, 16)
feats = colour_features(small)  # (3, 16, 16), unit length per pixel
query, scale = (5, 8), 8.0  # a pixel on the face, sharpness 8 (the widget's default)
positions = offset_key_grid(8, 8, jitter=1.0, seed=1, range_factor=2.0).pos  # (8, 8, 2), (y, x)

fig, axes = plt.subplots(1, 4, figsize=(16, 4.4), layout="constrained")
for ax, kind in zip(axes, ("dense", "window", "shifted", "deformable")):
    res = attention_details(feats, query, kind, window=4, positions=positions, scale=scale)
    im = ax.imshow(res.weights.numpy(), cmap="viridis")
    if kind == "deformable":
        kp = res.key_pixels.numpy()
        ax.scatter(kp[:, 1], kp[:, 0], s=10, c="white", marker="x", label="sampled keys")
    if kind in ("window", "shifted"):
        off = 0 if kind == "window" else 2
        for b in range(off, 17, 4):
            ax.axhline(b - 0.5, color="white", lw=0.8)
            ax.axvline(b - 0.5, color="white", lw=0.8)
    ax.scatter([query[1]], [query[0]], s=200, c="yellow", marker="*", edgecolors="black", label="query")
    ax.set_xlim(-0.5, 15.5)
    ax.set_ylim(15.5, -0.5)
    ax.set_title(f"{kind}: {len(res.key_weights)} keys, sum {float(res.weights.sum()):.3f}")
    ax.set_xlabel("key x (pixels)")
    ax.set_ylabel("key y (pixels)")
    ax.legend(loc="lower right", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.046, label="attention weight")
fig.suptitle(f"Attention of query pixel {query} over the keys (queries = keys = colour directions, sharpness {scale:g})")
plt.show()
"""),
("md", r"""
The dense map spreads over the face-coloured pixels of the whole image; window attention cuts
it to the query's window; the shifted window is a different $4 \times 4$ block around the query;
the deformable keys cover the whole image sparsely, and their weights land on the 4 pixels
around each sampled key (the sum is slightly below 1 when keys sit near the border, where part of
a key's bilinear weight falls on zero padding).

## Summary
- Attention $= \text{softmax}(QK^\top/\sqrt{d})\,V$, two `einsum`s and a softmax; multi-head
  attention splits the channels into heads that attend independently. Ours equals
  `F.scaled_dot_product_attention`, `nn.MultiheadAttention` and `dat_edu.attention`.
- Subtract the row maximum before `exp`: the softmax is unchanged and can no longer overflow
  (`naive` gives `nan` for scores of 1000).
- Dense attention stores $(HW)^2$ scores per head: 37.5 MiB per head at $56 \times 56$. Windows
  cost $HW \cdot w^2$. DAT v1's deformable attention with stride 1 costs as much as dense, which is
  why it only runs on the small maps of stages 3–4.
- Swin's shifted windows: roll by $-s$ ($s = \lceil w/2 \rceil$ in DAT), label 9 regions, add
  $-100$ between regions, roll back. Library: `dat_edu.windows.window_partition`,
  `window_reverse`, `shifted_window_mask`, `WindowAttention`.

## What comes next
Lesson **06 · Position bias** adds *where* to the attention scores: Swin's relative position
table, DAT's bias interpolated at the continuous offsets of the sampled keys, and the continuous
(MLP) bias of later work.

## Exercise
Open `exercises/05_attention.ipynb`, fill in the `# YOUR CODE HERE` cells, and check yourself with

```
pytest --nbval exercises/05_attention.ipynb
```
"""),
]

if __name__ == "__main__":
    print(write(cells, "05_attention.ipynb"))
