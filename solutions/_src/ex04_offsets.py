"""Build solutions/04_offsets.ipynb (unexecuted); then run
`python -m dat_edu.course.execute solutions/04_offsets.ipynb` and `python -m dat_edu.course.exercises`.

One solution region per part, in part order (region N belongs to part N: tests/wrong_answers rely on it).
"""
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
NAME = "04_offsets"
cells = []


def md(cid, text):
    cells.append(new_markdown_cell(dedent(text).strip("\n"), id=cid))


def code(cid, text):
    cells.append(new_code_cell(dedent(text).strip("\n"), id=cid))


def check(cid, n, points, text):
    c = new_code_cell(dedent(text).strip("\n"), id=cid)
    c.metadata["tags"] = [f"check:part{n}"]
    c.metadata["dat_edu"] = {"points": points}
    cells.append(c)


md("intro", """
# Exercise 04 · Offsets: the offset network, the key grid and bounded offsets

**What you practise:** building DAT's offset network (depthwise conv with stride → LayerNorm over
channels → GELU → 1×1 conv to 2 channels), the key grid size from conv arithmetic, bounding raw
offsets with $\\tanh(\\cdot)\\cdot \\text{factor} / H_k$ per axis, and turning one offset field per
group into sampling positions.

This exercise belongs to lesson `notebooks/04_offsets.ipynb`; reread it if a part is unclear.
Conventions: feature maps are NCHW; the offset network outputs (N, 2, Hk, Wk) with channel 0 = Δy
and channel 1 = Δx; positions are normalized and stored last-dim $(y, x)$. The examples use a
**non-square** 12 × 10 query map so that mixed-up axes show.

**How to work:** in each part, replace `# YOUR CODE HERE` and `raise NotImplementedError()` inside
the function with your code, run the cell, then run the check cell below it. A check cell prints
`Part N (...): passed` or tells you which property is wrong. Do not edit the check cells (they are
read-only; the grader runs its own copy, with a few more tests). Check the whole notebook from the
repository root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/04_offsets.ipynb
```
""")

code("setup", """
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from dat_edu.course.checks import check, check_close, check_shape, forbid_calls, part
from dat_edu.norm import LayerNorm2d
from dat_edu.offsets import OffsetNetwork, bound_offsets
from dat_edu.sampling import reference_grid

_ = torch.manual_seed(0)
B, C, H, W = 2, 12, 12, 10  # a batch of 2 query maps: 12 channels, 12 x 10 pixels (not square)
groups = 3  # offset groups: 4 channels each
""")

md("part1-md", """
## Part 1 · The offset network (2 points)

Write `build_offset_network(channels, kernel_size, stride)` returning an `nn.Sequential` of four
layers, in this order, for the $C_g$ = `channels` query channels of one group:

1. a **depthwise** `kernel_size` × `kernel_size` convolution with stride `stride`, padding
   `kernel_size // 2` and a bias;
2. LayerNorm over the channels of the NCHW map (use `LayerNorm2d(channels)`; note that
   `nn.LayerNorm(channels)` alone would normalize the last axis, W);
3. GELU;
4. a 1×1 convolution from `channels` to 2 channels (Δy, Δx) **without** bias.

Input (N, Cg, H, W) → output (N, 2, Hk, Wk). The check copies random weights into your network in
the order of `.parameters()` and compares with `dat_edu.offsets.OffsetNetwork` (which it does not
let you call).
""")

code("part1-code", """
def build_offset_network(channels: int, kernel_size: int, stride: int) -> nn.Sequential:
    \"\"\"Offset network of one group: (N, channels, H, W) -> (N, 2, Hk, Wk) raw (Δy, Δx).\"\"\"
    ### BEGIN SOLUTION
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel_size, stride=stride, padding=kernel_size // 2,
                  groups=channels, bias=True),  # depthwise: one filter per channel; stride sets the key grid
        LayerNorm2d(channels),  # LayerNorm over C of the NCHW map
        nn.GELU(),
        nn.Conv2d(channels, 2, kernel_size=1, bias=False),  # -> (Δy, Δx)
    )
    ### END SOLUTION
""")

check("part1-check", 1, 2, """
def same_weights_as_library(net, channels, k, s):
    # Random weights in the library network, copied into `net` in the order of .parameters().
    ref = OffsetNetwork(channels, k, s)
    with torch.no_grad():
        for p_ref, p in zip(ref.parameters(), net.parameters()):
            p_ref.normal_(0, 0.5)
            p.copy_(p_ref)
    return ref

with part(1, "offset network"):
    net = forbid_calls(build_offset_network, "dat_edu.offsets.OffsetNetwork", args=(4, 5, 2))
    check(None, isinstance(net, nn.Module), f"build_offset_network should return an nn.Module, not a {type(net).__name__}")
    q = torch.randn(B * groups, 4, H, W)  # one group of 4 query channels per (image, group)
    with torch.no_grad():
        out = net(q)
    check_shape(out, (B * groups, 2, 6, 5), "the output for q (6, 4, 12, 10) with kernel 5, stride 2")
    shapes = [tuple(p.shape) for p in net.parameters()]
    check(None, len(shapes) > 0 and shapes[0] == (4, 1, 5, 5),
          "the first parameter should be the weight of a depthwise 5x5 conv on 4 channels")
    check(None, sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in OffsetNetwork(4, 5, 2).parameters()),
          "the number of parameters differs from the offset network's (check which layers have a bias)")
    ref = same_weights_as_library(net, 4, 5, 2)
    with torch.no_grad():
        check_close(net(q), ref(q), "the output with the same weights as the library network", atol=1e-4)
    ### BEGIN HIDDEN TESTS
    for channels, k, s, hw in [(8, 3, 1, (7, 9)), (6, 9, 4, (14, 11))]:
        net = build_offset_network(channels, k, s)
        ref = same_weights_as_library(net, channels, k, s)
        q = torch.randn(2, channels, *hw)
        with torch.no_grad():
            check_close(net(q), ref(q), f"hidden test: channels={channels}, kernel {k}, stride {s}", atol=1e-4)
    ### END HIDDEN TESTS
""")

md("part2-md", """
## Part 2 · The key grid size (1 point)

The offset network's depthwise conv (kernel $k$, stride $s$, padding $\\lfloor k/2 \\rfloor$) sets
how many keys there are. Write `key_grid(h, w, kernel_size, stride)` returning the tuple of Python
ints `(Hk, Wk)`, the output size of that conv on an h × w map, using conv arithmetic (the check
does not let your function run a convolution or call the library's `key_grid_size` /
`conv_output_size`).
""")

code("part2-code", """
def key_grid(h: int, w: int, kernel_size: int, stride: int) -> tuple[int, int]:
    \"\"\"(Hk, Wk): output size of a k x k conv with stride s and padding k // 2 on an h x w map.\"\"\"
    ### BEGIN SOLUTION
    pad = kernel_size // 2
    hk = (h + 2 * pad - kernel_size) // stride + 1  # floor((H + 2p - k) / s) + 1
    wk = (w + 2 * pad - kernel_size) // stride + 1
    return hk, wk
    ### END SOLUTION
""")

check("part2-check", 2, 1, """
def conv_out_hw(h, w, k, s):
    return tuple(nn.Conv2d(1, 1, k, stride=s, padding=k // 2)(torch.zeros(1, 1, h, w)).shape[-2:])

with part(2, "key grid size"):
    hk_wk = forbid_calls(key_grid, "F.conv2d", "nn.Conv2d", "dat_edu.offsets.key_grid_size", "dat_edu.conv.conv_output_size",
                         args=(H, W, 5, 1))
    check(None, isinstance(hk_wk, tuple) and len(hk_wk) == 2 and all(type(n) is int for n in hk_wk),
          "key_grid should return a tuple of two Python ints (Hk, Wk)")
    check(None, hk_wk == conv_out_hw(H, W, 5, 1), "stride 1: (Hk, Wk) differs from the conv's output size")
    for h, w, k, s in [(12, 10, 5, 2), (14, 9, 5, 3), (14, 14, 3, 4), (7, 13, 9, 2)]:
        check(None, key_grid(h, w, k, s) == conv_out_hw(h, w, k, s),
              f"key_grid({h}, {w}, kernel_size={k}, stride={s}) differs from the conv's output size")
    ### BEGIN HIDDEN TESTS
    for h, w, k, s in [(56, 56, 9, 8), (28, 21, 7, 4), (5, 3, 3, 5), (1, 2, 3, 1), (15, 16, 1, 2)]:
        check(None, key_grid(h, w, k, s) == conv_out_hw(h, w, k, s), f"hidden test: key_grid({h}, {w}, {k}, {s})")
    ### END HIDDEN TESTS
""")

md("part3-md", """
## Part 3 · Bounding the offsets (1 point)

DAT v1 squashes the raw offsets with `tanh` and scales them **per axis** by the range factor over
the key grid size (normalized units):
$\\Delta y = \\tanh(\\text{raw}_y)\\cdot\\text{factor}/H_k$, $\\Delta x = \\tanh(\\text{raw}_x)\\cdot\\text{factor}/W_k$.
Write `bound(offset, factor)` for raw offsets (N, 2, Hk, Wk) (channel 0 = Δy, 1 = Δx); read
$H_k$, $W_k$ from `offset` itself (they are not the query map's H, W). Return the same shape. (The
check does not let your function call the library's `bound_offsets`.)
""")

code("part3-code", """
def bound(offset: torch.Tensor, factor: float) -> torch.Tensor:
    \"\"\"Raw offsets (N, 2, Hk, Wk), channels (Δy, Δx) -> tanh(offset) * factor / (Hk, Wk) per channel.\"\"\"
    ### BEGIN SOLUTION
    hk, wk = offset.shape[-2:]
    scale = torch.tensor([1.0 / hk, 1.0 / wk], dtype=offset.dtype).view(1, 2, 1, 1)  # Δy by Hk, Δx by Wk
    return torch.tanh(offset) * factor * scale
    ### END SOLUTION
""")

check("part3-check", 3, 1, """
with part(3, "bounded offsets"):
    raw = torch.randn(B * groups, 2, 6, 5)  # Hk = 6, Wk = 5 (a key grid of the 12 x 10 map at stride 2)
    out = forbid_calls(bound, "dat_edu.offsets.bound_offsets", args=(raw, 2.0))
    check_shape(out, (B * groups, 2, 6, 5), "the output for raw offsets (6, 2, 6, 5)")
    check_close(bound(torch.zeros(1, 2, 6, 5), 2.0), torch.zeros(1, 2, 6, 5), "bounded zero offsets", atol=1e-7)
    sat = bound(torch.full((1, 2, 6, 5), 50.0), 2.0)  # a saturated network
    check_close(sat[0, 0], torch.full((6, 5), 2.0 / 6), "the largest Δy (channel 0) for a saturated raw offset (factor / Hk)", atol=1e-5)
    check_close(sat[0, 1], torch.full((6, 5), 2.0 / 5), "the largest Δx (channel 1) for a saturated raw offset (factor / Wk)", atol=1e-5)
    check_close(out, bound_offsets(raw, 2.0), "the bounded offsets for moderate raw values", atol=1e-6)
    ### BEGIN HIDDEN TESTS
    raw = torch.randn(3, 2, 4, 7, dtype=torch.float64) * 3
    check_close(bound(raw, 0.5), bound_offsets(raw, 0.5), "hidden test: factor 0.5 on a 4 x 7 key grid", atol=1e-9)
    ### END HIDDEN TESTS
""")

md("part4-md", """
## Part 4 · One offset field per group: sampling positions (2 points)

Put the pieces together. Write `sample_positions(q, net, groups, factor)`:

- `q` is the query map (B, C, H, W); split its channels into `groups` **consecutive** blocks of
  $C_g = C / g$ channels and fold the groups into the batch: (B·g, Cg, H, W) (`rearrange` helps);
- run the **shared** offset network `net` (a module like `OffsetNetwork(Cg, k, s)`) on them:
  raw offsets (B·g, 2, Hk, Wk);
- bound them (with your `bound` or the library's `bound_offsets`);
- move the offset channels last, so (Δy, Δx) lines up with the $(y, x)$ of the reference grid,
  and add the reference grid of the **key** grid, `reference_grid(Hk, Wk)` (lesson 03's centre
  formula; you may use the library function);
- return the positions as (B, g, Hk, Wk, 2), normalized, last dim $(y, x)$.
""")

code("part4-code", """
def sample_positions(q: torch.Tensor, net: nn.Module, groups: int, factor: float) -> torch.Tensor:
    \"\"\"q (B, C, H, W) -> positions (B, groups, Hk, Wk, 2), normalized, (y, x): reference grid + bounded offsets.\"\"\"
    ### BEGIN SOLUTION
    b = q.shape[0]
    q_groups = rearrange(q, "b (g c) h w -> (b g) c h w", g=groups)  # groups folded into the batch
    offset = bound_offsets(net(q_groups), factor)  # (B*g, 2, Hk, Wk), channels (Δy, Δx)
    hk, wk = offset.shape[-2:]
    offset = rearrange(offset, "(b g) p h w -> b g h w p", b=b)  # (B, g, Hk, Wk, 2): (Δy, Δx) last
    return reference_grid(hk, wk, dtype=q.dtype) + offset  # (Hk, Wk, 2) broadcasts over (B, g)
    ### END SOLUTION
""")

check("part4-check", 4, 2, """
with part(4, "positions per group"):
    net = OffsetNetwork(C // groups, 5, 2)  # shared by the 3 groups of 4 channels; 12 x 10 -> 6 x 5 keys
    q = torch.randn(B, C, H, W)
    with torch.no_grad():
        pos = sample_positions(q, net, groups, 2.0)
        check_shape(pos, (B, groups, 6, 5, 2), "the positions for q (2, 12, 12, 10), 3 groups, stride 2")
        net.proj.weight.zero_()  # a network that predicts zero offsets
        check_close(sample_positions(q, net, groups, 2.0), reference_grid(6, 5).expand(B, groups, 6, 5, 2),
                    "the positions for zero offsets (they should be the key grid's reference points, (y, x))", atol=1e-6)
        net.proj.weight.normal_()
        pos = sample_positions(q, net, groups, 2.0)
        q_edit = q.clone()
        q_edit[:, 4:8] += 1.0  # change the query channels of group 1 only
        moved = (sample_positions(q_edit, net, groups, 2.0) - pos).abs().amax(dim=(0, 2, 3, 4)) > 1e-6  # (groups,)
        check(None, moved.tolist() == [False, True, False],
              "changing the query channels of group 1 (channels 4-7) should move the positions of group 1 only")
        net.proj.weight.mul_(1000.0)  # saturate tanh: every offset sits at its bound
        delta = sample_positions(q, net, groups, 2.0) - reference_grid(6, 5)
        check_close(delta.abs().amax(dim=(0, 1, 2, 3)), torch.tensor([2.0 / 6, 2.0 / 5]),
                    "the largest |Δy| and |Δx| of a saturated network (the bounds factor / Hk and factor / Wk)", atol=1e-4)
    ### BEGIN HIDDEN TESTS
    net = OffsetNetwork(C // groups, 3, 1)
    q = torch.randn(B, C, H, W)
    with torch.no_grad():
        raw = net(rearrange(q, "b (g c) h w -> (b g) c h w", g=groups))
        expected = reference_grid(H, W) + rearrange(bound_offsets(raw, 2.0), "(b g) p h w -> b g h w p", b=B)
        check_close(sample_positions(q, net, groups, 2.0), expected, "hidden test: positions at stride 1", atol=1e-5)
        net6 = OffsetNetwork(2, 5, 3)
        q6 = torch.randn(1, 12, 9, 7)
        raw = net6(rearrange(q6, "b (g c) h w -> (b g) c h w", g=6))
        expected = reference_grid(3, 3) + rearrange(bound_offsets(raw, 4.0), "(b g) p h w -> b g h w p", b=1)
        check_close(sample_positions(q6, net6, 6, 4.0), expected, "hidden test: 6 groups, stride 3, factor 4", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("summary", """
## Summary

- Offset network: depthwise k×k conv (stride s, bias) → LayerNorm over channels → GELU → 1×1 conv
  to (Δy, Δx) without bias; one network, shared by all groups.
- Key grid: $H_k = \\lfloor (H + 2\\lfloor k/2\\rfloor - k)/s\\rfloor + 1$ per axis.
- Bounded offsets: $\\tanh(\\cdot)\\cdot\\text{factor}/H_k$ for Δy and $/W_k$ for Δx.
- Positions: split q into consecutive channel groups, one offset field per group, added to the key
  grid's reference points, stored $(y, x)$.

**Next:** lesson `notebooks/05_attention.ipynb`.
""")

def main():
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "dat_edu": {"exercise": NAME},
    })
    path = ROOT / "solutions" / f"{NAME}.ipynb"
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"wrote {path} ({len(cells)} cells)")


if __name__ == "__main__":
    main()
