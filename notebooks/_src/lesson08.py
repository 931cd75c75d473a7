"""Generate notebooks/08_dat_model.ipynb (run: .venv/bin/python notebooks/_src/lesson08.py)."""

from lesson06_08_nbbuild import write

cells = [
("md", r"""
# 08 · The DAT model: stages, blocks, parameters, cost and official weights

Lesson 07 built one deformable attention block. A DAT model stacks many blocks into a four-stage
**pyramid**, like a CNN or the Swin Transformer: the map shrinks while the channels grow, local
window attention does the work at high resolution, and deformable attention joins in at the two
coarse stages. This lesson assembles the pyramid, counts its parameters and its multiply-adds stage
by stage (and checks them against the official numbers), introduces the small `dat_cifar` model
that the course trains, and loads weights stored under the official names.

## What you will learn
- Describe DAT's pyramid (stem 4×4 stride 4, downsampling 2×2 stride 2 convolutions) and print the
  shape after every stage for a 224×224 input.
- Tell the three block types apart: **L** (window attention), **S** (shifted window attention) and
  **D** (deformable attention), each a pre-norm residual block with an MLP.
- Count the parameters of DAT-T/-S/-B by hand, stage by stage, and match the official
  28.32M / 49.70M / 87.88M, without allocating the big models (`torch.device("meta")`).
- Compute the multiply-adds of every stage analytically and check them with
  `torch.utils.flop_counter.FlopCounterMode`.
- Explain the configuration of `dat_cifar`, the model trained in this course.
- Load a state dict with official key names with `dat_edu.weights.load_official_state_dict`, and read
  its error message when a key is wrong.
"""),
("code", r"""
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from dat_edu.conv import count_parameters
from dat_edu.deformable import DeformableAttention
from dat_edu.mlp import Mlp
from dat_edu.norm import LayerNorm2d
from dat_edu.windows import WindowAttention

_ = torch.manual_seed(0)   # (assigning hides the generator object's repr)
"""),
("md", r"""
## 1. The pyramid

| stage | map at 224×224 | DAT-T channels | depth | heads | blocks | offset groups |
|:-----:|:--------------:|:--------------:|:-----:|:-----:|:------:|:-------------:|
| 1 | 56×56 | 96  | 2 | 3  | L S         | – |
| 2 | 28×28 | 192 | 2 | 6  | L S         | – |
| 3 | 14×14 | 384 | 6 | 12 | (L D) × 3   | 3 |
| 4 | 7×7   | 768 | 2 | 24 | L D         | 6 |

Every head has $h_c = 32$ channels. The **stem** cuts the image into 4×4 patches (a 4×4 convolution
with stride 4, then layer norm); between stages a 2×2 convolution with stride 2 (no bias, then layer
norm) halves the map and doubles the channels. Blocks keep the shape. With only the stem and the
downsampling layers we can already trace the shapes:
"""),
("code", r"""
dims = [96, 192, 384, 768]                                   # DAT-T
stem = nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0]))
downs = [nn.Sequential(nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2, bias=False), LayerNorm2d(dims[i + 1]))
         for i in range(3)]

x = torch.randn(1, 3, 224, 224)
with torch.no_grad():
    x = stem(x)
    print("stem   :", tuple(x.shape), " (the blocks of stage 1 keep this shape)")
    for i, down in enumerate(downs):
        x = down(x)
        print(f"down {i + 1}:", tuple(x.shape), f" (input of stage {i + 2})")
"""),
("md", r"""
## 2. Three kinds of block

Every block is **pre-norm** with two residual branches, one drop-path rate per block shared by both:

$$x \leftarrow x + \mathrm{DropPath}(\mathrm{Attn}(\mathrm{LN}(x))),\qquad
x \leftarrow x + \mathrm{DropPath}(\mathrm{MLP}(\mathrm{LN}(x))).$$

Only the attention differs: **L** is Swin's window attention (7×7 windows, lesson 05), **S** the same
with the windows shifted, by $\lceil 7/2\rceil = 4$ pixels in DAT (Swin shifts by 3), and **D** is
deformable attention (lesson 07). A from-scratch block on a small 14×14 map with 64 channels:
"""),
("code", r"""
class Block(nn.Module):
    def __init__(self, dim, attn):
        super().__init__()
        self.norm1, self.attn, self.norm2, self.mlp = LayerNorm2d(dim), attn, LayerNorm2d(dim), Mlp(dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))        # attention branch (drop path is the identity at eval)
        return x + self.mlp(self.norm2(x))      # MLP branch: C -> 4C -> C

C, H = 64, 14
blocks = {
    "L": Block(C, WindowAttention(C, num_heads=2, window=7)),
    "S": Block(C, WindowAttention(C, num_heads=2, window=7, shift=4)),
    "D": Block(C, DeformableAttention(C, num_heads=2, num_groups=2, q_size=(H, H), kernel_size=5)),
}
x = torch.randn(1, C, H, H)
with torch.no_grad():
    for name, block in blocks.items():
        print(f"{name}: {tuple(block(x).shape)}  attention parameters {count_parameters(block.attn):>6d}  "
              f"MLP parameters {count_parameters(block.mlp)}")
"""),
("md", r"""
The MLP dominates: $8C^2 + 5C$ parameters against $4C^2 + 4C$ for either attention (plus a small
position table). The D block's extras, the offset network and a position table per head over the
whole map, are tiny.

## 3. Parameters, counted by hand

With the rules of lessons 01–07 the parameter count is a short sum. Per block: two layer norms
($4C$) and the MLP ($8C^2 + 5C$); L/S attention $4C^2 + 4C$ and a $((2w-1)^2, n_h)$ table; D attention
four 1×1 convolutions with bias ($4C^2 + 4C$), the offset network (depthwise $k\times k$ with bias,
layer norm, 1×1 to 2 channels: $C_g k^2 + C_g + 2C_g + 2C_g$, shared by the groups) and the
$(n_h, 2H-1, 2W-1)$ table. The offset kernel is $k = 9, 7, 5, 3$ for stages 1–4.
"""),
("code", r"""
CONFIGS = {   # the official configurations (224 x 224 input, 1000 classes)
    "DAT-T": dict(stem=96, dims=[96, 192, 384, 768], depths=[2, 2, 6, 2], heads=[3, 6, 12, 24], groups=[0, 0, 3, 6]),
    "DAT-S": dict(stem=96, dims=[96, 192, 384, 768], depths=[2, 2, 18, 2], heads=[3, 6, 12, 24], groups=[0, 0, 3, 6]),
    "DAT-B": dict(stem=128, dims=[128, 256, 512, 1024], depths=[2, 2, 18, 2], heads=[4, 8, 16, 32], groups=[0, 0, 4, 8]),
}
KERNELS, WINDOW = [9, 7, 5, 3], 7

def block_letter(stage, d):
    return ("L" if d % 2 == 0 else "S") if stage < 2 else ("L" if d % 2 == 0 else "D")

def count_by_hand(cfg, img=224, classes=1000):
    counts = {"stem": 3 * cfg["stem"] * 16 + cfg["stem"] + 2 * cfg["stem"]}      # conv 4x4 + bias, LN
    for s, (C, depth, nh, g) in enumerate(zip(cfg["dims"], cfg["depths"], cfg["heads"], cfg["groups"])):
        H = img // 2 ** (s + 2)                                                  # 56, 28, 14, 7
        n = cfg["dims"][s - 1] * C * 4 + 2 * C if s > 0 else 0                   # downsampling conv + LN
        for d in range(depth):
            n += 4 * C + 8 * C * C + 5 * C                                       # 2 LNs, MLP
            n += 4 * C * C + 4 * C                                               # q, k, v, out projections
            if block_letter(s, d) == "D":
                Cg, k = C // g, KERNELS[s]
                n += Cg * k * k + Cg + 2 * Cg + 2 * Cg + nh * (2 * H - 1) ** 2  # offset net, rpe_table
            else:
                n += (2 * WINDOW - 1) ** 2 * nh                                  # relative position table
        counts[f"stage {s + 1}"] = n
    counts["head"] = 2 * cfg["dims"][3] + cfg["dims"][3] * classes + classes     # LN, Linear
    return counts

OFFICIAL = {"DAT-T": 28.32, "DAT-S": 49.70, "DAT-B": 87.88}
for name, cfg in CONFIGS.items():
    counts = count_by_hand(cfg)
    total = sum(counts.values())
    parts = "  ".join(f"{k} {v / 1e6:6.3f}" for k, v in counts.items())
    print(f"{name}: {parts}  | total {total:,} = {total / 1e6:.2f}M (official {OFFICIAL[name]:.2f}M)")
"""),
("md", r"""
Stage 3 holds most of the blocks, stage 4 most of the parameters per block ($C^2$ grows 4× per
stage). DAT-S only adds 12 blocks to stage 3; DAT-B widens everything by 4/3.
"""),
("md", r"""
## 4. Cost: multiply-adds per stage

Count multiply-adds (MACs) the same way, for one 224×224 image. With $N = HW$ tokens and $C$
channels, per block: the MLP costs $8NC^2$; L/S attention $4NC^2$ for the projections plus
$2N w^2 C$ for scores and weighted sum inside 7×7 windows; D attention $2NC^2$ (q, out) $+ 2N_sC^2$
(k, v on the $N_s$ sampled keys) $+ 2NN_sC$ (scores, weighted sum) plus the offset network. With the
official stride 1, $N_s = N$: the D block's attention grows with $N^2$, like global attention.
Normalization, activations, softmax and the bilinear sampling are not counted (they cost time, but
few multiply-adds).
"""),
("code", r"""
def macs_by_hand(cfg, img=224, classes=1000, stride=1):
    macs = {"stem": (img // 4) ** 2 * cfg["stem"] * 3 * 16}
    for s, (C, depth, g) in enumerate(zip(cfg["dims"], cfg["depths"], cfg["groups"])):
        H = img // 2 ** (s + 2)
        N = H * H
        n = N * C * cfg["dims"][s - 1] * 4 if s > 0 else 0                      # downsampling conv
        for d in range(depth):
            n += 8 * N * C * C                                                   # MLP
            if block_letter(s, d) == "D":
                Ns, Cg, k = (H // stride) ** 2, C // g, KERNELS[s]
                n += 2 * N * C * C + 2 * Ns * C * C + 2 * N * Ns * C             # q, out; k, v; q k^T and attn v
                n += g * (Ns * Cg * k * k + Ns * Cg * 2)                         # offset net: depthwise + 1x1
            else:
                n += 4 * N * C * C + 2 * N * WINDOW**2 * C                       # projections; 7x7 windows
        macs[f"stage {s + 1}"] = n
    macs["head"] = cfg["dims"][3] * classes
    return macs

for name, cfg in CONFIGS.items():
    macs = macs_by_hand(cfg)
    parts = "  ".join(f"{k} {v / 1e9:.3f}" for k, v in macs.items())
    print(f"{name} GMACs: {parts}  | total {sum(macs.values()) / 1e9:.2f}")
"""),
("md", r"""
The paper reports 4.6 G FLOPs for DAT-T (multiply-adds, as usual in vision papers): our sum agrees.
Is the counting right? `FlopCounterMode` records the FLOPs (2 per multiply-add) of every
convolution and matrix product that runs. It does not need real numbers: on **meta** tensors
(`torch.device("meta")`: shape and dtype, no storage, no arithmetic) it counts in a blink. Check one
D block and one L block of DAT-T's stage 3 (C = 384, 14×14, 12 heads, 3 groups):
"""),
("code", r"""
C, H, nh, g = 384, 14, 12, 3
N = H * H
with torch.device("meta"):            # shapes only: FlopCounterMode counts without computing (section 5)
    x = torch.empty(1, C, H, H)
    d_attn = DeformableAttention(C, nh, g, (H, H), kernel_size=5)
    l_attn = WindowAttention(C, nh, window=7)

for name, attn, by_hand in [
    ("D attention", d_attn, 4 * N * C * C + 2 * N * N * C + g * (N * (C // g) * 25 + N * (C // g) * 2)),
    ("L attention", l_attn, 4 * N * C * C + 2 * N * 49 * C),
]:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        attn(x)
    measured = counter.get_total_flops() // 2
    print(f"{name}: by hand {by_hand:,} MACs, FlopCounterMode {measured:,} MACs, equal: {measured == by_hand}")
"""),
("code", r"""
counts, macs = count_by_hand(CONFIGS["DAT-T"]), macs_by_hand(CONFIGS["DAT-T"])
stages = [f"stage {s}" for s in range(1, 5)]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].bar(stages, [counts[s] / 1e6 for s in stages], color="tab:blue", label="parameters")
axes[0].set(title="DAT-T parameters per stage", xlabel="stage", ylabel="parameters (millions)")
axes[1].bar(stages, [macs[s] / 1e9 for s in stages], color="tab:orange", label="multiply-adds")
axes[1].set(title="DAT-T multiply-adds per stage (224 x 224)", xlabel="stage", ylabel="GMACs")
for ax in axes:
    ax.legend()
plt.tight_layout()
plt.show()
"""),
("md", r"""
Parameters and compute live in different places: stage 4 holds over half the parameters but costs
little (a 7×7 map), stages 1–2 hold almost no parameters but cost a third of the compute (large
maps), and stage 3 is heavy in both.

## 5. The same numbers from `dat_edu.model`

`dat_edu.model` builds the official configurations: `dat_tiny()`, `dat_small()`, `dat_base()`. DAT-B
has 88 million parameters; to count them we do not need their values, only their shapes. Under
`torch.device("meta")` PyTorch creates tensors that have a shape and a dtype but no storage, so the
model is built without allocating its 350 MB (88M float32 numbers) or running any initializer, which
takes seconds on a 2-core CPU for real (the check of section 4 already ran on meta tensors).
"""),
("code", r"""
from dat_edu.model import dat_base, dat_cifar, dat_small, dat_tiny

def count_model(model):
    counts = {"stem": count_parameters(model.stem)}
    for s, stage in enumerate(model.stages):
        down = count_parameters(model.downsamples[s - 1]) if s > 0 else 0   # same grouping as count_by_hand
        counts[f"stage {s + 1}"] = count_parameters(stage) + down
    counts["head"] = count_parameters(model.head_norm) + count_parameters(model.head)
    return counts

for name, build in [("DAT-T", dat_tiny), ("DAT-S", dat_small), ("DAT-B", dat_base)]:
    with torch.device("meta"):                  # shapes only: no memory, no initialization
        model = build()
    counts = count_model(model)
    total = sum(counts.values())
    print(f"{name}: {total:,} parameters = {total / 1e6:.2f}M (official {OFFICIAL[name]:.2f}M); "
          f"every stage equals the hand count: {counts == count_by_hand(CONFIGS[name])}; "
          f"on meta: {next(model.parameters()).is_meta}")
"""),
("md", r"""
The model also tells us its block letters and map sizes, and a forward pass on meta tensors traces
the shapes and counts the FLOPs of the whole network in about a second, without computing a single
number. Forward hooks print the output of every stage.
"""),
("code", r"""
with torch.device("meta"):
    tiny = dat_tiny().eval()
    image = torch.empty(1, 3, 224, 224)
print("blocks:", "".join(tiny.block_letters), " map sizes:", tiny.feature_sizes)

hooks = [stage.register_forward_hook(lambda module, inputs, out, s=s: print(f"stage {s + 1} output:", tuple(out[0].shape)))
         for s, stage in enumerate(tiny.stages)]
with FlopCounterMode(display=False) as counter, torch.no_grad():
    logits = tiny(image)
for h in hooks:
    h.remove()
print("logits:", tuple(logits.shape))

flops = {module: sum(ops.values()) for module, ops in counter.get_flop_counts().items()}
measured = {"stem": flops["DAT.stem"] // 2, "head": flops["DAT.head"] // 2}
for s in range(4):
    measured[f"stage {s + 1}"] = (flops[f"DAT.stages.{s}"] + (flops[f"DAT.downsamples.{s - 1}"] if s else 0)) // 2
by_hand = macs_by_hand(CONFIGS["DAT-T"])
print(f"total {counter.get_total_flops() // 2:,} MACs; every stage equals the hand count: "
      f"{all(measured[k] == by_hand[k] for k in by_hand)}")
"""),
("md", r"""
## 6. `dat_cifar`: a DAT that trains on a laptop

DAT-T needs 4.6 G multiply-adds per 224×224 image; training it on ImageNet took the authors 300
epochs on many GPUs. The course trains on CIFAR-10 (32×32 images, 10 classes) on a CPU, so
`dat_cifar()` keeps the *design* and shrinks the *sizes*:
"""),
("code", r"""
torch.manual_seed(0)
cifar = dat_cifar().eval()
dims = [stage.blocks[0].norm1.channels for stage in cifar.stages]
heads = [stage.blocks[0].attn.num_heads for stage in cifar.stages]
print("patch size      :", cifar.stem.conv.kernel_size[0])
print("stage specs     :", cifar.stage_spec)
print("map sizes       :", cifar.feature_sizes)
print("channels        :", dims, " heads:", heads, " channels per head:", [c // h for c, h in zip(dims, heads)])
print("windows         :", [stage.blocks[0].attn.window for stage in cifar.stages])
print("offset groups   :", [blk.attn.num_groups for stage in cifar.stages for blk in stage.blocks if blk.letter == "D"],
      " offset kernels:", [blk.attn.kernel_size for stage in cifar.stages for blk in stage.blocks if blk.letter == "D"])

counts = count_model(cifar)
print("parameters      :", {k: v for k, v in counts.items()}, f"total {sum(counts.values()) / 1e6:.2f}M")
x = torch.randn(1, 3, 32, 32)
with FlopCounterMode(display=False) as counter, torch.no_grad():
    logits, positions, references = cifar(x, return_positions=True)
macs_per_image = counter.get_total_flops() // 2 // x.shape[0]
print("logits          :", tuple(logits.shape), f" MACs per image {macs_per_image / 1e6:.1f}M")
print(f"vs DAT-T        : {sum(counts.values()) / 28_319_138:.3f} x the parameters, "
      f"{macs_per_image / 4_563_459_840:.4f} x the multiply-adds")
print("positions       :", [None if p is None else tuple(p.shape) for p in positions])
"""),
("md", r"""
Why these sizes:

- **Patch 2, not 4.** A 32×32 image cut into 4×4 patches leaves an 8×8 map, and two more halvings
  leave 2×2, too little for attention to be interesting; 2×2 patches start at 16×16.
- **Three stages instead of four**: 16×16 → 8×8 → 4×4; a fourth stage would be 2×2.
- **Windows of 4** divide every map (the 7×7 windows of ImageNet DAT divide none of them); on the
  last 4×4 map one window covers everything, so the L block there is global attention.
- **Local first, deformable later**, as in DAT: the first stage only has window blocks, the D blocks
  sit at the coarser stages. At stride 1 a D block reads all $HW$ keys, about 10× the cost of a window
  block at 16×16 on a CPU (course notes), but little at 8×8 and 4×4.
- **Channels double per stage and the heads double with them**, so every head keeps the same
  width (printed above; 24 here, 32 in the official models): narrower heads keep the model small.
- **The offset kernels follow the official rule** (bigger maps, bigger kernels): 5 at 8×8, 3 at 4×4.
- **Size**: a few percent of DAT-T's parameters and about a hundredth of its multiply-adds (ratios
  printed above), about the compute of a ResNet-20 (41M multiply-adds). With the speeds measured
  in the course notes (roughly 120–220 images per second for 1.6–3.5M-parameter models on 2 CPU
  cores) an epoch of CIFAR-10 takes minutes, not hours.

## 7. Loading official weights

The official code and `dat_edu` hold the same tensors under different names: the official stages
keep one list per kind (`layer_norms`, `attns`, `mlps`), `dat_edu` groups each block's parts
(`blocks.{d}.norm1`, `.attn`, `.norm2`, `.mlp`). `dat_edu.weights.official_key_map(model)` spells
out the translation, official name → `dat_edu` name, for every parameter.
"""),
("code", r"""
from dat_edu.weights import load_official_state_dict, official_key_map

key_map = official_key_map(tiny)                          # works on the meta model: names only
examples = ["patch_proj.0.weight", "stages.0.layer_norms.1.norm.weight", "stages.2.mlps.1.chunk.linear1.weight",
            "stages.2.attns.1.conv_offset.0.weight", "stages.2.attns.1.rpe_table", "cls_head.weight"]
for official in examples:
    print(f"{official:40s} -> {key_map[official]}")
window_blocks = sum(letter in "LS" for letter in tiny.block_letters)
shifted_blocks = tiny.block_letters.count("S")
print(f"DAT-T: {len(key_map)} parameters + {window_blocks} relative_position_index + {shifted_blocks} attn_mask buffers "
      f"= {len(key_map) + window_blocks + shifted_blocks} entries in an official state dict")
"""),
("md", r"""
The buffers (`relative_position_index`, `attn_mask`) follow from the configuration; the loader
recomputes them and only checks that the file agrees. To see loading work without a download, make
an "official" state dict ourselves: take a model, store its tensors under the official names, and
wrap them as the released files do (`{"model": state_dict}`). Loading it into a second model with
different random weights must make the two models compute the same outputs.
"""),
("code", r"""
torch.manual_seed(0)
source = dat_cifar().eval()
ours = source.state_dict()
cifar_map = official_key_map(source)
checkpoint = {"model": {official: ours[name].clone() for official, name in cifar_map.items()}}
print("official names, e.g.:", sorted(checkpoint["model"])[:2])

torch.manual_seed(1)
target = dat_cifar().eval()                              # other random weights
images = torch.randn(1, 3, 32, 32)
with torch.no_grad():
    print("before loading, outputs equal:", torch.allclose(target(images), source(images), atol=1e-6))
    load_official_state_dict(target, checkpoint)
    print("after loading, outputs equal :", torch.allclose(target(images), source(images), atol=1e-6))
"""),
("md", r"""
Checkpoint files go wrong in two typical ways: a key that does not exist in the model (a typo, a
file from another model version) and a tensor of the wrong shape (another number of classes,
another configuration). Both stop the loader with a message that names the key:
"""),
("code", r"""
typo = dict(checkpoint["model"])
typo["stages.1.attns.1.rpe_tabel"] = typo.pop("stages.1.attns.1.rpe_table")
try:
    load_official_state_dict(target, typo)
except KeyError as err:
    print(f"{type(err).__name__}: {err}")

wrong_head = dict(checkpoint["model"], **{"cls_head.weight": torch.zeros(100, source.head.in_features)})   # 100 classes
try:
    load_official_state_dict(target, wrong_head)
except ValueError as err:
    print(f"{type(err).__name__}: {err}")
"""),
("md", r"""
### The real checkpoints

The learner downloads them; nothing in the course does. The DAT v1 weights are listed in the 2022
README of the official repository (LeapLabTHU/DAT, table "DAT-Tiny / DAT-Small / DAT-Base",
Google Drive and Tsinghua Cloud links), as `dat_tiny_in1k_224.pth` (82.0 % top-1),
`dat_small_in1k_224.pth` (83.7 %), `dat_base_in1k_224.pth` (84.0 %) and a 384×384 DAT-B. The current
README lists **DAT++** checkpoints instead (`dat_pp_*`), a different architecture: the loader
rejects them with "unexpected key(s)". Load a v1 file exactly as above:

```python
model = dat_tiny().eval()                                   # the checkpoint's configuration
checkpoint = torch.load("dat_tiny_in1k_224.pth", map_location="cpu", weights_only=True)
load_official_state_dict(model, checkpoint)                 # unwraps {"model": ...}
```

If `torch.load` refuses because the file also stores training objects (optimizer, config) and you
trust its source, pass `weights_only=False`. Feed the model 224×224 images normalized with the
ImageNet mean and standard deviation, as in the official evaluation.

## Summary
- DAT is a four-stage pyramid: a 4×4/4 stem, 2×2/2 downsampling with layer norm, maps 56 → 28 → 14 →
  7 and channels 96 → 768 for DAT-T; pre-norm residual blocks L (window), S (shifted by 4) and D
  (deformable) with an MLP each; layer norm, average pooling and a linear head.
- Parameters counted by hand match the official 28.32M / 49.70M / 87.88M and `dat_edu.model`
  stage by stage; `torch.device("meta")` builds even DAT-B without memory.
- Multiply-adds by hand (4.56 G for DAT-T) match `FlopCounterMode` exactly; stage 3 costs most, stage 4
  holds most parameters; at stride 1 a D block's attention grows with $N^2$.
- `dat_cifar` keeps DAT's design at CIFAR scale: patch 2, three stages 16 → 8 → 4, windows of 4, D
  blocks in the later stages, equal head widths, small channels.
- `official_key_map` and `load_official_state_dict` load official checkpoints, with clear errors for
  wrong keys and shapes.

## What comes next
Lesson 09 trains `dat_cifar` on a CPU: data, augmentation, learning-rate schedule, and curves.

## Exercises
Open `exercises/08_dat_model.ipynb`. Check your work with

    pytest --nbval exercises/08_dat_model.ipynb
"""),
]

if __name__ == "__main__":
    print(write(cells, "08_dat_model.ipynb"))
