"""Generate notebooks/00_start_here.ipynb (run: .venv/bin/python notebooks/_src/lesson00.py)."""

from nbbuild_00_02 import write

cells = [
("md", r"""
# 00 · Start here: from ViT to the Deformable Attention Transformer

This course builds the **Deformable Attention Transformer** (DAT v1: Xia, Pan, Song, Li, Huang,
*Vision Transformer with Deformable Attention*, CVPR 2022,
[arXiv:2201.00520](https://arxiv.org/abs/2201.00520), official code
[LeapLabTHU/DAT](https://github.com/LeapLabTHU/DAT)) piece by piece. Every lesson derives one idea
from scratch in a few lines, checks it against PyTorch, and then names the function of the
course library `dat_edu` that later lessons reuse. At the end you have a DAT that matches the
official code number for number, you train a small one, and you take it apart in ablations.

## What you will learn
- Why attention should be **sparse** *and* **data-dependent**: dense attention (ViT), window
  attention (Swin), deformable convolution (DCN) and deformable attention (DAT) side by side.
- The DAT pipeline in six steps, and which lesson builds each step.
- How to run the course, check your own exercises, and how grading works.
- Whether your environment is ready (the last section runs a check).
"""),
("md", r"""
## 1. Where should a query look?

In a transformer layer every **query** token collects information from a set of **keys** (and
their values). Which keys, is a design choice:

- **Dense attention (ViT).** Every query attends to every key. The receptive field is the whole
  image, but the cost grows with the square of the number of tokens, and each feature can be
  pulled around by irrelevant parts of the image (background, clutter).
- **Sparse, hand-designed attention (Swin, PVT).** Swin restricts the keys to a fixed local
  window (and shifts the windows every other block so that neighbouring windows exchange
  information); PVT attends to a downsampled copy of the map. This is cheap, but the pattern is
  **data-agnostic**: it is the same whatever the image contains, which limits the modelling of
  long-range relations.
- **Deformable convolution (DCN).** A 3×3 kernel whose 9 taps are moved by learned offsets: data
  dependent, but every query has its own few points, so it stays local.
- **Deformable attention (DAT).** A uniform grid of *reference points*; a small *offset network*
  looks at the queries and shifts the points towards the important regions; keys and values are
  read at the shifted points by bilinear interpolation. The sparse pattern is **learned in a
  data-dependent way**, and one set of sampled keys is **shared by all queries**. DAT uses this
  deformable attention *as a feature extractor* inside the backbone (the later stages), not only
  as a detection head.

The toy picture below shows the four patterns on a 16×16 grid of tokens, with one query on an
object (red star) and one on the background (blue star). The offsets in panels (c) and (d) are
made up by hand; in lesson 04 a network predicts them, and later lessons measure such patterns
with autograd instead of drawing them.
"""),
("code", r"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, Rectangle

G, WIN = 16, 4                                   # 16 x 16 tokens, Swin windows of 4 x 4 tokens
OBJ_XY, OBJ_W, OBJ_H = (11.0, 5.5), 7.0, 5.0     # a toy "object" (x, y in token units)
queries = {"tab:red": (11.5, 5.5), "tab:blue": (3.5, 12.5)}   # (x, y) token centres
rng = np.random.default_rng(0)


def draw_map(ax, title):
    ax.add_patch(Ellipse(OBJ_XY, OBJ_W, OBJ_H, color="tab:green", alpha=0.25))
    for t in range(G + 1):                      # faint token grid
        ax.axhline(t, color="0.85", lw=0.5)
        ax.axvline(t, color="0.85", lw=0.5)
    for color, (qx, qy) in queries.items():
        ax.plot(qx, qy, marker="*", ms=16, color=color, mec="k", zorder=5)
    ax.set(xlim=(0, G), ylim=(G, 0), aspect="equal", title=title, xlabel="x (token)", ylabel="y (token)")


fig, axes = plt.subplots(1, 4, figsize=(17, 5.0))
centres = np.arange(G) + 0.5

# (a) dense: all 256 keys for every query
ax = axes[0]
draw_map(ax, "(a) ViT: all 256 keys\nfor every query")
xx, yy = np.meshgrid(centres, centres)
ax.scatter(xx, yy, s=6, color="purple", zorder=3)

# (b) windows: the 16 keys of the query's own window
ax = axes[1]
draw_map(ax, "(b) Swin: 16 keys in the\nquery's fixed window")
for t in range(0, G + 1, WIN):
    ax.axhline(t, color="k", lw=1.2)
    ax.axvline(t, color="k", lw=1.2)
for color, (qx, qy) in queries.items():
    x0, y0 = WIN * int(qx // WIN), WIN * int(qy // WIN)
    ax.add_patch(Rectangle((x0, y0), WIN, WIN, color=color, alpha=0.25))
    wx, wy = np.meshgrid(x0 + np.arange(WIN) + 0.5, y0 + np.arange(WIN) + 0.5)
    ax.scatter(wx, wy, s=10, color=color, zorder=3)

# (c) deformable convolution: 9 taps per query, each moved by its own offset
ax = axes[2]
draw_map(ax, "(c) DCN: 9 moved taps,\ndifferent for each query")
taps = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], dtype=float)
for color, (qx, qy) in queries.items():
    regular = np.array([qx, qy]) + taps
    moved = regular + rng.normal(0.0, 0.7, size=regular.shape) + 0.6 * taps
    ax.scatter(regular[:, 0], regular[:, 1], s=14, facecolors="none", edgecolors="0.4", zorder=3)
    for (x0, y0), (x1, y1) in zip(regular, moved):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color=color, lw=0.8))
    ax.scatter(moved[:, 0], moved[:, 1], s=14, color=color, zorder=4)

# (d) deformable attention: a 4 x 4 reference grid shifted towards the object, shared by all queries
ax = axes[3]
draw_map(ax, "(d) DAT: 16 shared keys,\nmoved towards the object")
ref = np.stack(np.meshgrid(np.arange(2, G, 4) + 0.0, np.arange(2, G, 4) + 0.0), -1).reshape(-1, 2)
pos = ref + 0.45 * (np.array(OBJ_XY) - ref) + rng.normal(0.0, 0.3, size=ref.shape)
ax.scatter(ref[:, 0], ref[:, 1], s=22, facecolors="none", edgecolors="0.4", zorder=3)
for (x0, y0), (x1, y1) in zip(ref, pos):
    ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color="tab:orange", lw=1.0))
ax.scatter(pos[:, 0], pos[:, 1], s=22, color="tab:orange", edgecolors="k", zorder=4)

handles = [
    Line2D([], [], marker="*", ms=12, color="tab:red", mec="k", ls="", label="query on the object"),
    Line2D([], [], marker="*", ms=12, color="tab:blue", mec="k", ls="", label="query on the background"),
    Line2D([], [], marker="o", color="purple", ls="", label="attended key"),
    Line2D([], [], marker="o", mfc="none", mec="0.4", ls="", label="regular / reference position"),
    Line2D([], [], marker="o", color="tab:orange", mec="k", ls="", label="sampled (moved) key"),
    Line2D([], [], marker="o", color="tab:green", alpha=0.4, ms=12, ls="", label="object"),
]
fig.legend(handles=handles, loc="lower center", ncol=6, frameon=False)
fig.suptitle("Which keys does a query use? (toy 16 x 16 token map, hand-made offsets)")
fig.tight_layout(rect=(0, 0.11, 1, 0.94))
plt.show()
"""),
("md", r"""
The cost of attention is proportional to the number of query–key pairs. Count them for the toy
map (256 tokens) and for the first stage of DAT-T on a 224×224 image (56×56 = 3136 tokens,
7×7 windows):
"""),
("code", r"""
def pairs_table(tokens_per_side, keys_per_query):
    n = tokens_per_side ** 2
    for name, k in keys_per_query.items():
        print(f"  {name:<34} keys per query {k:5d}   query-key pairs {n * k:>10,}")

print("toy map, 16 x 16 tokens:")
pairs_table(16, {"dense (ViT)": 16 * 16, "window 4 x 4 (Swin)": 4 * 4,
                 "deformable conv 3 x 3 (DCN)": 9, "deformable attention, 4 x 4 keys": 4 * 4})
print("DAT-T stage 1, 56 x 56 tokens:")
pairs_table(56, {"dense (ViT)": 56 * 56, "window 7 x 7 (Swin)": 7 * 7})
"""),
("md", r"""
Dense attention at full resolution costs 64× more than 7×7 windows here, which is why DAT, like
Swin, uses window attention in its first two (high-resolution) stages and deformable attention
only in the last two.

A fact that the course measures instead of glossing over: with a key grid downsampled by a stride
*r*, deformable attention uses (H/r)·(W/r) keys. The released DAT v1 models use stride 1 in their
deformable stages (as many keys as queries, so the same cost as dense attention there) and bound
the offsets to about ±0.9 pixel. Lessons 04, 07 and 10 look at what the offsets then do.
"""),
("md", r"""
## 2. DAT in six steps (and the lesson that builds each)

For an input feature map $x$ of shape (B, C, H, W):

1. **Queries**: $q$ = a 1×1 convolution of $x$ (lesson 01 shows that a 1×1 conv is a per-pixel linear layer).
2. **Reference points**: a uniform grid of $H_k \times W_k$ points in normalised coordinates
   $[-1, 1]$ (lesson 03).
3. **Offsets**: the channels are split into $g$ groups; one *offset network* shared by all groups —
   depthwise conv → LayerNorm → GELU → 1×1 conv — turns each group's queries into a shift $\Delta p$
   for every reference point (lessons 01, 02, 04).
4. **Sampling**: $\tilde{x}$ = $x$ read at $p + \Delta p$ by bilinear interpolation: each sample is a
   weighted average of the 4 nearest pixels (lesson 03).
5. **Attention**: $\tilde{k}$, $\tilde{v}$ = 1×1 convs of $\tilde{x}$, and for head $m$
   $$z^{(m)} = \mathrm{softmax}\!\left(\frac{q^{(m)} \tilde{k}^{(m)\top}}{\sqrt{d}} + \phi(\hat{B}; R)\right)\tilde{v}^{(m)},$$
   where $\phi(\hat{B}; R)$ is the **deformable relative position bias**: a table $\hat{B}$ of size
   $(2H-1)\times(2W-1)$, as in Swin, read by interpolation at the (continuous) query–key displacement
   $R$ (lessons 05, 06, 07). So DAT shifts twice: the keys move by the learned offsets, and the
   position bias follows them to their new, fractional positions.
6. **The model**: a four-stage pyramid like Swin; stages 1–2 alternate window and shifted-window
   attention, stages 3–4 alternate window and deformable attention; every block is
   pre-norm: $x \leftarrow x + \mathrm{attn}(\mathrm{LN}(x))$, $x \leftarrow x + \mathrm{MLP}(\mathrm{LN}(x))$
   (lessons 02, 08).

The paper reports DAT-T at 82.0% ImageNet-1K top-1, about 0.7 points above Swin-T, and about 0.8
mAP better than Swin on COCO detection. Its ablations (lesson 10) find that the offsets and the
deformable position bias each help on their own, that the early stages should keep local
(shifted-window) attention, and that a maximum offset of *s* = 2 works best.
"""),
("md", r"""
## 3. The lessons

| # | Lesson | You build | Library |
|---|--------|-----------|---------|
| 00 | Start here | the roadmap, an environment check | — |
| 01 | Convolutions | standard, depthwise, group, separable convs; parameter and multiply-add counts | `dat_edu.conv` |
| 02 | Normalization and the MLP | LayerNorm over channels, GELU, the MLP block, pre-norm residuals, DropPath | `dat_edu.norm`, `dat_edu.mlp` |
| 03 | Sampling | reference grids in $[-1, 1]$, `align_corners`, bilinear sampling from scratch | `dat_edu.sampling` |
| 04 | Offsets | the offset network and bounded offsets | `dat_edu.offsets` |
| 05 | Attention | scaled dot-product and multi-head attention (numerically stable softmax); window and shifted-window attention | `dat_edu.attention`, `dat_edu.windows` |
| 06 | Position bias | Swin's relative position table, DAT's interpolated bias, continuous (SwinV2-style) bias | `dat_edu.position_bias` |
| 07 | Deformable attention | the full DAT attention block, checked against the official code | `dat_edu.deformable` |
| 08 | The DAT model | stem, stages, downsampling, head; loading official weights | `dat_edu.model`, `dat_edu.weights` |
| 09 | Training | training a small DAT on CPU: data, augmentation (e.g. CutMix), curves | `dat_edu.train`, `dat_edu.data` |
| 10 | Ablations | offsets on/off, position bias variants, which stages deform | `dat_edu.model` |

Lessons are in `notebooks/`, their exercises in `exercises/` (same numbers and names, e.g.
`exercises/01_convolutions.ipynb`), worked solutions in `solutions/`.
"""),
("md", r"""
## 4. How to run the course

From the repository root:

```bash
make lab          # first time: creates .venv (CPU PyTorch), installs dat_edu, then opens JupyterLab
```

(`make lab` runs `python3 -m venv .venv`, `pip install torch==2.13.0` and `pip install -e ".[dev]"`,
then `jupyter lab notebooks/00_start_here.ipynb`.) Open the lessons in order and run each one top to
bottom (**Kernel → Restart Kernel and Run All Cells**). A laptop CPU is enough: every lesson runs in
well under a minute; a GPU only speeds up training in lesson 09.

## 5. Exercises, self-check and grading

Each lesson from 01 on has an exercise notebook with the same number. In it:

- fill in the cells marked `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line);
- run the locked **check cell** that follows each part: it prints `Part N (<name>): passed`, or
  stops with an error message that says what is wrong (without giving the answer away).

**Self-check**: from the repository root, run the whole notebook in a fresh kernel, top to bottom:

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/01_convolutions.ipynb
```

It passes when every cell runs without an error and every printed output matches what your saved
notebook shows (so save after a clean *Restart Kernel and Run All Cells*). Before you have solved
anything it fails at the first `NotImplementedError`; that is expected.

**Grading**: the instructor puts each learner's notebooks in `submissions/<learner>/` and runs
`make grade SUBMISSIONS=submissions OUT=gradebook.csv`. Every notebook is re-run in a fresh kernel,
top to bottom, continuing after errors. Each check cell is replaced by the instructor's version,
which adds **hidden tests** on other inputs, so a part earns its points only if your code solves
the task in general, not just the visible example, and editing a check cell changes nothing. You
may add cells, reorder your own work, or rename the file; the grader still finds each part. The
result is one line per part (points and a one-line message) in a CSV gradebook, plus a summary.
"""),
("md", r"""
## 6. Check your environment

The first cell prints versions; they differ between machines, so the test suite does not compare
them (the cell is marked `# NBVAL_IGNORE_OUTPUT`). The second cell must print `True` everywhere.
"""),
("code", r"""
# NBVAL_IGNORE_OUTPUT
import platform

import einops
import matplotlib
import numpy
import torch

print("python    ", platform.python_version())
print("torch     ", torch.__version__)
print("numpy     ", numpy.__version__)
print("matplotlib", matplotlib.__version__)
print("einops    ", einops.__version__)
print("CPU threads used by torch:", torch.get_num_threads())
print("GPU available:", torch.cuda.is_available())
"""),
("code", r"""
import importlib
import os
import sys

from matplotlib.cbook import get_sample_data


def imports(name):
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


print("python >= 3.10:            ", sys.version_info >= (3, 10))
print("torch >= 2.2:              ", torch.__version__ >= "2.2")
print("dat_edu imports:           ", imports("dat_edu"))
print("dat_edu.conv, .norm, .mlp: ", all(imports(m) for m in ("dat_edu.conv", "dat_edu.norm", "dat_edu.mlp")))
print("einops, ipywidgets:        ", imports("einops") and imports("ipywidgets"))
print("sample photo for lesson 01:", os.path.exists(get_sample_data("grace_hopper.jpg", asfileobj=False)))
"""),
("md", r"""
## Summary

- Dense attention (ViT) sees everything but is costly and easily distracted; window attention
  (Swin) is cheap but its sparse pattern ignores the data.
- DAT learns *where* to look: an offset network moves a grid of reference points, keys and values
  are sampled there by bilinear interpolation, and a deformable relative position bias follows the
  moved keys. All queries share the sampled keys.
- The model is a Swin-like pyramid with deformable attention in its last two stages.
- Run lessons with `make lab`; check an exercise with
  `pytest --nbval --nbval-current-env exercises/NN_name.ipynb`; grading re-runs it with hidden tests.

## What comes next

Lesson **01 · Convolutions**: the offset network starts with a *depthwise* convolution, and the
stem, the downsampling layers and the q/k/v projections are convolutions too. We count exactly
what each kind costs. Its exercise is `exercises/01_convolutions.ipynb`.
"""),
]

if __name__ == "__main__":
    print(write(cells, "00_start_here.ipynb"))
