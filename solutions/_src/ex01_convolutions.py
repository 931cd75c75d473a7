"""Build solutions/01_convolutions.ipynb (unexecuted); then run
`python -m dat_edu.course.execute solutions/01_convolutions.ipynb` and `python -m dat_edu.course.exercises`.

One solution region per part, in part order (region N belongs to part N: tests/wrong_answers rely on it).
"""
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
NAME = "01_convolutions"
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
# Exercise 01 · Convolutions: counting costs and group convolutions by hand

**What you practise:** the parameter count of standard, group and depthwise-separable convolutions,
the multiply-adds (MACs) of a convolution, and a group convolution written as
split → convolve → concatenate.

This exercise belongs to lesson `notebooks/01_convolutions.ipynb` (sections 2, 4 and 5); reread
them if a part is unclear.

**How to work:** in each part, replace `# YOUR CODE HERE` and `raise NotImplementedError()` inside
the function with your code, run the cell, then run the check cell below it. A check cell prints
`Part N (...): passed` or tells you which property is wrong. Do not edit the check cells (they are
read-only; the grader runs its own copy, with a few more tests). Check the whole notebook from the
repository root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/01_convolutions.ipynb
```
""")

code("setup", """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from dat_edu.course.checks import check, check_close, check_shape, forbid_calls, part

_ = torch.manual_seed(0)
""")

md("part1-md", """
## Part 1 · Parameters of a (group) convolution (1 point)

Write `conv_param_count(in_ch, out_ch, kernel_size, groups=1, bias=False)` that returns, as a
Python `int`, the exact number of parameters of
`nn.Conv2d(in_ch, out_ch, kernel_size, groups=groups, bias=bias)` (a square `kernel_size` ×
`kernel_size` kernel). Think about the shape of the weight tensor of a convolution with `groups`
groups, and about the bias. Use arithmetic only: the check does not let your function build an
`nn.Conv2d` or call the library's `dat_edu.conv.conv_params`.

The lesson's worked example (16 → 32 channels, 3×3, no bias) is a good first test.
""")

code("part1-code", """
def conv_param_count(in_ch: int, out_ch: int, kernel_size: int, groups: int = 1, bias: bool = False) -> int:
    \"\"\"Number of parameters of nn.Conv2d(in_ch, out_ch, kernel_size, groups=groups, bias=bias).\"\"\"
    ### BEGIN SOLUTION
    weights = out_ch * (in_ch // groups) * kernel_size * kernel_size  # weight (C_out, C_in/g, k, k)
    return weights + (out_ch if bias else 0)  # one bias per output channel
    ### END SOLUTION
""")

check("part1-check", 1, 1, """
def torch_count(in_ch, out_ch, k, groups=1, bias=False):
    # What PyTorch allocates, for comparison.
    return sum(p.numel() for p in nn.Conv2d(in_ch, out_ch, k, groups=groups, bias=bias).parameters())

with part(1, "parameter count"):
    n = forbid_calls(conv_param_count, "nn.Conv2d", "dat_edu.conv.conv_params", args=(16, 32, 3))
    check(None, type(n) is int, f"conv_param_count should return a Python int, not a {type(n).__name__}")
    check(None, n == torch_count(16, 32, 3), "16 -> 32 channels, 3x3, no bias: the count differs from nn.Conv2d's (see the lesson's worked example)")
    for args in [(16, 32, 3, 2, False), (12, 18, 5, 3, False), (6, 10, 1, 1, True), (8, 16, 3, 4, True)]:
        check(None, conv_param_count(*args) == torch_count(*args),
              "conv_param_count(in_ch={}, out_ch={}, kernel_size={}, groups={}, bias={}) differs from nn.Conv2d's parameter count".format(*args))
    ### BEGIN HIDDEN TESTS
    for args in [(8, 8, 3, 8, False), (24, 48, 7, 6, True), (3, 96, 4, 1, True), (384, 384, 1, 1, True), (9, 6, 2, 3, False)]:
        check(None, conv_param_count(*args) == torch_count(*args), "hidden test: a parameter count differs from nn.Conv2d's")
    ### END HIDDEN TESTS
""")

md("part2-md", """
## Part 2 · Parameters of a depthwise-separable convolution (1 point)

A depthwise-separable convolution is a **depthwise** k×k convolution on the `in_ch` input channels
(one filter per channel) followed by a **pointwise** 1×1 convolution from `in_ch` to `out_ch`
channels. When `bias=True`, *both* convolutions have a bias (as in
`dat_edu.conv.depthwise_separable_conv`).

Write `separable_param_count(in_ch, out_ch, kernel_size, bias=False)` returning its number of
parameters as a Python `int`. You may call your `conv_param_count` from Part 1, but not
`nn.Conv2d` or the library's `separable_params` / `depthwise_separable_conv`.
""")

code("part2-code", """
def separable_param_count(in_ch: int, out_ch: int, kernel_size: int, bias: bool = False) -> int:
    \"\"\"Parameters of depthwise k x k (in_ch -> in_ch) followed by pointwise 1 x 1 (in_ch -> out_ch).\"\"\"
    ### BEGIN SOLUTION
    depthwise = in_ch * kernel_size * kernel_size + (in_ch if bias else 0)  # weight (C_in, 1, k, k)
    pointwise = out_ch * in_ch + (out_ch if bias else 0)  # weight (C_out, C_in, 1, 1)
    return depthwise + pointwise
    ### END SOLUTION
""")

check("part2-check", 2, 1, """
def torch_separable_count(in_ch, out_ch, k, bias=False):
    layers = nn.Sequential(nn.Conv2d(in_ch, in_ch, k, groups=in_ch, bias=bias), nn.Conv2d(in_ch, out_ch, 1, bias=bias))
    return sum(p.numel() for p in layers.parameters())

with part(2, "separable parameter count"):
    n = forbid_calls(separable_param_count, "nn.Conv2d", "dat_edu.conv.separable_params",
                     "dat_edu.conv.depthwise_separable_conv", args=(16, 32, 3))
    check(None, type(n) is int, f"separable_param_count should return a Python int, not a {type(n).__name__}")
    check(None, n == torch_separable_count(16, 32, 3), "16 -> 32 channels, 3x3, no bias: the count differs from the depthwise + pointwise layers' (see the lesson's worked example)")
    check(None, separable_param_count(12, 20, 5) == torch_separable_count(12, 20, 5),
          "separable_param_count(12, 20, 5) differs from the parameter count of the two layers")
    check(None, separable_param_count(12, 20, 5, bias=True) == torch_separable_count(12, 20, 5, bias=True),
          "with bias=True the count differs from the two layers' (both layers have a bias)")
    ### BEGIN HIDDEN TESTS
    for args in [(3, 3, 3, False), (128, 2, 5, True), (7, 30, 7, False), (64, 128, 1, True)]:
        check(None, separable_param_count(*args) == torch_separable_count(*args), "hidden test: a separable count differs from the two layers'")
    ### END HIDDEN TESTS
""")

md("part3-md", """
## Part 3 · Multiply-adds of a convolution (1 point)

Write `conv_mac_count(in_ch, out_ch, kernel_size, out_h, out_w, groups=1)`: the number of
multiply-adds (MACs) of one forward pass of a (group) convolution on **one image**, whose output
map is `out_h` × `out_w` (not necessarily square). Bias additions are not counted, and zero padding
counts as if it were real input (PyTorch's `FlopCounterMode` counts the same way, with
2 FLOPs per multiply-add; the check compares with it). Return a Python `int`.
""")

code("part3-code", """
def conv_mac_count(in_ch: int, out_ch: int, kernel_size: int, out_h: int, out_w: int, groups: int = 1) -> int:
    \"\"\"Multiply-adds of one conv forward pass for one image with an out_h x out_w output map.\"\"\"
    ### BEGIN SOLUTION
    per_output = (in_ch // groups) * kernel_size * kernel_size  # one dot product per output value
    return out_h * out_w * out_ch * per_output
    ### END SOLUTION
""")

check("part3-check", 3, 1, """
def torch_macs(in_ch, out_ch, k, in_hw, groups=1, stride=1):
    # Run the conv once and let PyTorch count (2 FLOPs per multiply-add); also return the output size.
    conv = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2, groups=groups, bias=False)
    with FlopCounterMode(display=False) as counter:
        out = conv(torch.zeros(1, in_ch, *in_hw))
    return counter.get_total_flops() // 2, tuple(out.shape[-2:])

with part(3, "multiply-adds"):
    macs, (oh, ow) = torch_macs(16, 32, 3, (32, 32))
    n = conv_mac_count(16, 32, 3, oh, ow)
    check(None, type(n) is int, f"conv_mac_count should return a Python int, not a {type(n).__name__}")
    check(None, n == macs, "16 -> 32 channels, 3x3 on a 32x32 output: the count differs from PyTorch's")
    macs, (oh, ow) = torch_macs(8, 12, 3, (15, 9), stride=2)
    check(None, conv_mac_count(8, 12, 3, oh, ow) == macs, "a non-square output map (8 x 5): the count differs from PyTorch's")
    macs, (oh, ow) = torch_macs(8, 12, 3, (6, 10), groups=4)
    check(None, conv_mac_count(8, 12, 3, oh, ow, groups=4) == macs, "a group conv (groups=4): the count differs from PyTorch's")
    ### BEGIN HIDDEN TESTS
    for in_ch, out_ch, k, hw, g, s in [(128, 128, 5, (14, 14), 128, 1), (3, 96, 5, (16, 12), 3, 4), (6, 4, 1, (7, 3), 2, 1)]:
        macs, (oh, ow) = torch_macs(in_ch, out_ch, k, hw, groups=g, stride=s)
        check(None, conv_mac_count(in_ch, out_ch, k, oh, ow, groups=g) == macs, "hidden test: a MAC count differs from PyTorch's")
    ### END HIDDEN TESTS
""")

md("part4-md", """
## Part 4 · A group convolution by hand (2 points)

Write `group_conv_by_hand(x, weight, groups, padding)` that computes the same result as
`F.conv2d(x, weight, padding=padding, groups=groups)` (stride 1, no bias), **using only ordinary
convolutions** (`F.conv2d` with the default `groups=1`):

- `x` has shape (N, C_in, H, W); `weight` has shape (C_out, C_in / groups, k, k);
- split the input channels into `groups` consecutive blocks, convolve block *i* with the filters of
  group *i* (the *i*-th block of C_out / groups filters), and concatenate the results along the
  channels: output (N, C_out, H_out, W_out).

`torch.chunk` or slicing both work. The check records every convolution your function runs and
fails if one of them has `groups > 1`.
""")

code("part4-code", """
def group_conv_by_hand(x: torch.Tensor, weight: torch.Tensor, groups: int, padding: int) -> torch.Tensor:
    \"\"\"x (N, C_in, H, W), weight (C_out, C_in/groups, k, k) -> (N, C_out, H_out, W_out), groups=1 convs only.\"\"\"
    ### BEGIN SOLUTION
    x_parts = torch.chunk(x, groups, dim=1)  # groups x (N, C_in/g, H, W): consecutive input channels
    w_parts = torch.chunk(weight, groups, dim=0)  # groups x (C_out/g, C_in/g, k, k): each group's filters
    outs = [F.conv2d(xp, wp, padding=padding) for xp, wp in zip(x_parts, w_parts)]
    return torch.cat(outs, dim=1)  # (N, C_out, H_out, W_out)
    ### END SOLUTION
""")

check("part4-check", 4, 2, """
def run_recording_groups(fn, *args, **kwargs):
    # Call fn while recording the `groups` of every convolution it runs (F.conv2d, torch.conv2d, nn.Conv2d).
    seen, real = [], torch.conv2d

    def spy(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        seen.append(groups)
        return real(input, weight, bias, stride, padding, dilation, groups)

    F.conv2d = torch.conv2d = spy
    try:
        return fn(*args, **kwargs), seen
    finally:
        F.conv2d = torch.conv2d = real

with part(4, "group conv by hand"):
    x = torch.randn(2, 8, 6, 9)  # non-square map
    w = torch.randn(12, 2, 3, 3)  # 4 groups: 2 input channels and 3 filters per group
    out, seen = run_recording_groups(group_conv_by_hand, x, w, groups=4, padding=1)
    check(None, all(g == 1 for g in seen), "your function ran a convolution with groups > 1: split the channels yourself and use ordinary convolutions")
    check_shape(out, (2, 12, 6, 9), "the output for x (2, 8, 6, 9), weight (12, 2, 3, 3), padding 1")
    x_edit = x.clone()
    x_edit[:, :2] += 1.0  # change only the input channels of group 0
    changed = (group_conv_by_hand(x_edit, w, 4, 1) - out).abs().amax(dim=(0, 2, 3)) > 1e-6
    check(None, changed[:3].all() and not changed[3:].any(),
          "changing the input channels of group 0 should change exactly the output channels of group 0")
    check_close(out, F.conv2d(x, w, padding=1, groups=4), "the output (compared with a groups=4 convolution)", atol=1e-4)
    ### BEGIN HIDDEN TESTS
    for shape_x, shape_w, g, p in [((1, 6, 5, 7), (4, 6, 3, 3), 1, 1), ((2, 4, 7, 5), (8, 1, 3, 3), 4, 0), ((1, 6, 4, 6), (6, 3, 5, 5), 2, 2)]:
        x, w = torch.randn(shape_x), torch.randn(shape_w)
        out, seen = run_recording_groups(group_conv_by_hand, x, w, groups=g, padding=p)
        check(None, all(s == 1 for s in seen), "hidden test: a convolution with groups > 1 was run")
        check_close(out, F.conv2d(x, w, padding=p, groups=g), "hidden test: the output", atol=1e-4)
    ### END HIDDEN TESTS
""")

md("summary", """
## Summary

- A conv's weight is (C_out, C_in / g, k, k), plus C_out biases: that is its parameter count.
- A depthwise-separable conv pays for k×k filters once per input channel plus a 1×1 channel mix.
- MACs = one dot product of length (C_in / g)·k² per output value, times H_out·W_out·C_out.
- A group conv is `groups` independent ordinary convs on consecutive channel blocks, concatenated.

**Next:** lesson `notebooks/02_norm_and_mlp.ipynb`, then `exercises/02_norm_and_mlp.ipynb`.
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
