"""Build solutions/08_dat_model.ipynb (unexecuted); then run
`python -m dat_edu.course.execute solutions/08_dat_model.ipynb` and `python -m dat_edu.course.exercises`.

One solution region per part, in part order (region N belongs to part N: tests/wrong_answers rely on it).
No part's solution calls another part's function, so a wrong answer fails only its own check.
"""
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
NAME = "08_dat_model"
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
# Exercise 08 · The DAT model: drop-path schedule, block letters, pre-norm blocks, parameters

**What you practise:** the stochastic-depth schedule over all blocks of a DAT, turning a block letter
(L, S, D) into the right attention module (with DAT's shift $\\lceil w/2 \\rceil$), the pre-norm
residual block, and counting a block's parameters by hand.

This exercise belongs to lesson `notebooks/08_dat_model.ipynb` (sections 1–3); reread them if a part
is unclear.

**How to work:** in each part, replace `# YOUR CODE HERE` and `raise NotImplementedError()` inside
the function with your code, run the cell, then run the check cell below it. A check cell prints
`Part N (...): passed` or tells you which property is wrong. Do not edit the check cells (they are
read-only; the grader runs its own copy, with a few more tests). Check the whole notebook from the
repository root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/08_dat_model.ipynb
```
""")

code("setup", """
import math

import torch
import torch.nn as nn

from dat_edu.conv import count_parameters
from dat_edu.course.checks import check, check_close, check_shape, forbid_calls, part
from dat_edu.deformable import DeformableAttention
from dat_edu.mlp import DropPath, Mlp
from dat_edu.norm import LayerNorm2d
from dat_edu.windows import WindowAttention

_ = torch.manual_seed(0)
""")

md("part1-md", """
## Part 1 · The drop-path schedule (1 point)

DAT gives every block its own stochastic-depth (drop-path) rate, growing **linearly over all blocks
of the model**: the first block gets 0, the last block gets `drop_path_rate`, and the rates are
evenly spaced in between, counting through the stages in order (`torch.linspace` over the total
depth, as in the official code).

Write `drop_path_rates(stage_spec, drop_path_rate)`: `stage_spec` lists one string of block letters
per stage (e.g. DAT-T's `["LS", "LS", "LDLDLD", "LD"]`, 12 blocks). Return a list with one list per
stage, holding that stage's rates as Python floats in block order.
""")

code("part1-code", """
def drop_path_rates(stage_spec: list[str], drop_path_rate: float) -> list[list[float]]:
    \"\"\"One list of drop-path rates per stage; the rates grow linearly from 0 to drop_path_rate over all blocks.\"\"\"
    ### BEGIN SOLUTION
    depths = [len(spec) for spec in stage_spec]
    rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()  # one per block, over the whole model
    out, start = [], 0
    for d in depths:
        out.append(rates[start:start + d])
        start += d
    return out
    ### END SOLUTION
""")

check("part1-check", 1, 1, """
def reference_rates(stage_spec, rate):
    flat = torch.linspace(0, rate, sum(map(len, stage_spec))).tolist()
    return flat

with part(1, "drop-path schedule"):
    spec = ["LS", "LS", "LDLDLD", "LD"]
    rates = drop_path_rates(spec, 0.2)
    check(None, isinstance(rates, list) and len(rates) == 4 and all(isinstance(r, list) for r in rates),
          "drop_path_rates should return a list with one list per stage")
    check(None, [len(r) for r in rates] == [2, 2, 6, 2], "each stage's list should hold one rate per block of that stage")
    check(None, all(isinstance(v, float) for r in rates for v in r), "the rates should be Python floats (use .tolist())")
    flat = [v for r in rates for v in r]
    check(None, abs(flat[0]) < 1e-9 and abs(flat[-1] - 0.2) < 1e-6, "the first block of the model should get 0 and the last drop_path_rate")
    check_close(torch.tensor(flat), torch.tensor(reference_rates(spec, 0.2)),
                "the rates (evenly spaced over all blocks of the model, stage after stage)", atol=1e-6)
    ### BEGIN HIDDEN TESTS
    for spec, rate in [(["LS", "LS", "LD" * 9, "LD"], 0.3), (["LS", "LD", "LD"], 0.1), (["L"], 0.5), (["LSLS", "D"], 0.0)]:
        flat = [v for r in drop_path_rates(spec, rate) for v in r]
        check_close(torch.tensor(flat), torch.tensor(reference_rates(spec, rate)), "hidden test: rates", atol=1e-6)
    ### END HIDDEN TESTS
""")

md("part2-md", """
## Part 2 · From a block letter to its attention (1 point)

Write `make_attention(letter, dim, heads, window, groups, q_size)` returning the token mixer of a
block:

- `"L"`: window attention, `WindowAttention(dim, heads, window)` (no shift);
- `"S"`: shifted window attention with **DAT's** shift (lesson 08, section 2; for window 7 it is not
  Swin's 3);
- `"D"`: deformable attention, `DeformableAttention(dim, heads, groups, q_size)` with `q_size` = (H, W)
  of the stage's map (keep the other arguments at their defaults);
- any other letter: raise a `ValueError` that names the letter.
""")

code("part2-code", """
def make_attention(letter: str, dim: int, heads: int, window: int, groups: int | None, q_size: tuple[int, int]) -> nn.Module:
    \"\"\"The attention module of an L, S or D block.\"\"\"
    ### BEGIN SOLUTION
    if letter == "L":
        return WindowAttention(dim, heads, window)
    if letter == "S":
        return WindowAttention(dim, heads, window, shift=math.ceil(window / 2))  # 4 for window 7
    if letter == "D":
        return DeformableAttention(dim, heads, groups, q_size)
    raise ValueError(f"unknown block letter {letter!r}: use 'L', 'S' or 'D'")
    ### END SOLUTION
""")

check("part2-check", 2, 1, """
with part(2, "attention by letter"):
    a = make_attention("L", 32, 2, 7, None, (14, 21))
    check(None, isinstance(a, WindowAttention) and a.shift == 0, "'L' should give a WindowAttention without shift")
    check(None, (a.dim, a.num_heads, a.window) == (32, 2, 7), "'L': dim, heads or window are not the ones asked for")
    s7 = make_attention("S", 32, 2, 7, None, (14, 21))
    check(None, isinstance(s7, WindowAttention) and s7.shift > 0, "'S' should give a WindowAttention with a shift")
    check(None, (s7.dim, s7.num_heads, s7.window) == (32, 2, 7), "'S': dim, heads or window are not the ones asked for")
    check(None, s7.shift == 4, "'S' with window 7: the shift is not DAT's (lesson 08, section 2)")
    check(None, make_attention("S", 16, 1, 5, None, (10, 10)).shift == 3, "'S' with window 5: the shift is not DAT's")
    d = make_attention("D", 32, 4, 7, 2, (6, 10))
    check(None, isinstance(d, DeformableAttention), "'D' should give a DeformableAttention")
    check(None, (d.dim, d.num_heads, d.num_groups) == (32, 4, 2), "'D': dim, heads or offset groups are not the ones asked for")
    check(None, d.q_size == (6, 10), "'D': the block should be built for the (H, W) map it is given (a 6 x 10 map here)")
    try:
        make_attention("X", 32, 2, 7, None, (14, 21))
        raised = False
    except ValueError as err:
        raised = "X" in str(err)
    check(None, raised, "an unknown letter ('X') should raise a ValueError that names it")
    ### BEGIN HIDDEN TESTS
    for w in (2, 3, 4, 8):
        check(None, make_attention("S", 8, 1, w, None, (16, 24)).shift == math.ceil(w / 2), "hidden test: a shift")
    check(None, make_attention("D", 48, 6, 4, 3, (4, 8)).rpe_table.shape == (6, 7, 15), "hidden test: a D block's table")
    ### END HIDDEN TESTS
""")

md("part3-md", """
## Part 3 · A pre-norm block (2 points)

Write `block_forward(x, norm1, attn, norm2, mlp, drop_path)`, one DAT block on an NCHW map
(lesson 08, section 2): two **pre-norm** residual branches, one after the other,

$$x \\leftarrow x + \\mathrm{DropPath}(\\mathrm{Attn}(\\mathrm{LN}_1(x))),\\qquad
x \\leftarrow x + \\mathrm{DropPath}(\\mathrm{MLP}(\\mathrm{LN}_2(x))).$$

All arguments after `x` are modules (call them); the same `drop_path` module serves both branches.
The check passes in a stand-in `drop_path` that halves its input, so that it can see where you
apply it.
""")

code("part3-code", """
def block_forward(x: torch.Tensor, norm1: nn.Module, attn: nn.Module, norm2: nn.Module, mlp: nn.Module,
                  drop_path: nn.Module) -> torch.Tensor:
    \"\"\"Pre-norm transformer block: x (B, C, H, W) -> (B, C, H, W).\"\"\"
    ### BEGIN SOLUTION
    x = x + drop_path(attn(norm1(x)))  # attention branch, residual around it
    x = x + drop_path(mlp(norm2(x)))  # MLP branch sees the attention branch's output
    return x
    ### END SOLUTION
""")

check("part3-check", 3, 2, """
class Halve(nn.Module):  # stand-in for DropPath: shows where drop_path is applied
    def forward(self, t):
        return 0.5 * t

class Zero(nn.Module):  # a branch that contributes nothing
    def forward(self, t):
        return torch.zeros_like(t)

def random_norm(c):
    n = LayerNorm2d(c)
    with torch.no_grad():
        n.norm.weight.normal_(1.0, 0.5)
        n.norm.bias.normal_(0.0, 0.5)
    return n

with part(3, "pre-norm block"):
    C = 16
    x = torch.randn(2, C, 8, 12)
    n1, n2, attn, mlp, dp = random_norm(C), random_norm(C), WindowAttention(C, 2, 4), Mlp(C), Halve()
    with torch.no_grad():
        y = block_forward(x, n1, attn, n2, mlp, dp)
        check_shape(y, (2, C, 8, 12), "the output for x (2, 16, 8, 12)")
        check_close(block_forward(x, n1, attn, n2, Zero(), dp), x + dp(attn(n1(x))),
                    "with an MLP that returns zeros, the output should be x plus the attention branch (pre-norm, drop_path on the branch)", atol=1e-5)
        check_close(block_forward(x, n1, Zero(), n2, mlp, dp), x + dp(mlp(n2(x))),
                    "with an attention that returns zeros, the output should be x plus the MLP branch (pre-norm with norm2, drop_path on the branch)", atol=1e-5)
        x1 = x + dp(attn(n1(x)))
        check_close(y, x1 + dp(mlp(n2(x1))), "the block output (the MLP branch should see the result of the attention branch)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    with torch.no_grad():
        C = 24
        x = torch.randn(1, C, 6, 10)
        n1, n2, mlp = random_norm(C), random_norm(C), Mlp(C)
        attn = DeformableAttention(C, 4, 2, (6, 10)).eval()
        x1 = x + attn(n1(x))
        check_close(block_forward(x, n1, attn, n2, mlp, DropPath(0.0)), x1 + mlp(n2(x1)), "hidden test: a D block", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("part4-md", """
## Part 4 · Parameters of a block, by hand (2 points)

Write `block_param_count(letter, dim, heads, window, groups, q_size, kernel_size)`: the exact number
of parameters of one block built as in Parts 2–3 (lesson 08, section 3), as a Python `int`:

- two `LayerNorm2d(dim)` and an `Mlp(dim)` (Linear C → 4C → C, with biases);
- `"L"` or `"S"`: `WindowAttention(dim, heads, window)`: a q/k/v Linear (C → 3C) and an output Linear
  (C → C), with biases, and a relative position table of shape ((2w − 1)², n_h);
- `"D"`: `DeformableAttention(dim, heads, groups, q_size, kernel_size=kernel_size)`: four 1×1
  convolutions C → C with bias, the offset network (lesson 04: depthwise k × k conv with bias on C_g
  channels, layer norm over C_g, 1×1 conv C_g → 2 without bias; **one** network shared by the groups),
  and the table (n_h, 2H − 1, 2W − 1) for `q_size` = (H, W).

Count with arithmetic: the check does not let your function build modules (`nn.Linear`,
`nn.Conv2d`, the attention classes, `Mlp`) or call `count_parameters`.
""")

code("part4-code", """
def block_param_count(letter: str, dim: int, heads: int, window: int, groups: int | None,
                      q_size: tuple[int, int], kernel_size: int = 3) -> int:
    \"\"\"Parameters of one L/S/D block: 2 layer norms + attention + MLP (4x).\"\"\"
    ### BEGIN SOLUTION
    C = dim
    n = 2 * (2 * C)  # two layer norms: weight and bias each
    n += (C * 4 * C + 4 * C) + (4 * C * C + C)  # MLP: fc1 and fc2 with biases
    if letter in ("L", "S"):
        n += (3 * C * C + 3 * C) + (C * C + C)  # proj_qkv, proj_out
        n += (2 * window - 1) ** 2 * heads  # relative position table
    elif letter == "D":
        H, W = q_size
        Cg = C // groups
        n += 4 * (C * C + C)  # proj_q, proj_k, proj_v, proj_out (1x1 convs with bias)
        n += Cg * kernel_size * kernel_size + Cg + 2 * Cg + 2 * Cg  # offset net: depthwise + bias, LN, 1x1 to 2
        n += heads * (2 * H - 1) * (2 * W - 1)  # rpe_table
    else:
        raise ValueError(f"unknown block letter {letter!r}")
    return n
    ### END SOLUTION
""")

check("part4-check", 4, 2, """
FORBIDDEN_4 = ("nn.Linear", "nn.Conv2d", "dat_edu.windows.WindowAttention", "dat_edu.deformable.DeformableAttention",
               "dat_edu.mlp.Mlp", "dat_edu.conv.count_parameters")

def built_count(letter, dim, heads, window, groups, q_size, kernel_size=3):
    if letter == "D":
        attn = DeformableAttention(dim, heads, groups, q_size, kernel_size=kernel_size)
    else:
        attn = WindowAttention(dim, heads, window, shift=math.ceil(window / 2) if letter == "S" else 0)
    return count_parameters(nn.ModuleList([LayerNorm2d(dim), attn, LayerNorm2d(dim), Mlp(dim)]))

with part(4, "block parameters"):
    n = forbid_calls(block_param_count, *FORBIDDEN_4, args=("L", 96, 3, 7, None, (56, 56)))
    check(None, type(n) is int, f"block_param_count should return a Python int, not a {type(n).__name__}")
    check(None, n == built_count("L", 96, 3, 7, None, (56, 56)), "an L block (96 channels, 3 heads, window 7): the count differs from the built block's")
    check(None, block_param_count("S", 64, 2, 4, None, (8, 8)) == built_count("S", 64, 2, 4, None, (8, 8)),
          "an S block (64 channels, 2 heads, window 4): the count differs from the built block's")
    check(None, block_param_count("D", 384, 12, 7, 3, (14, 14), 5) == built_count("D", 384, 12, 7, 3, (14, 14), 5),
          "a D block (384 channels, 12 heads, 3 groups, 14 x 14, kernel 5): the count differs from the built block's")
    check(None, block_param_count("D", 48, 4, 4, 2, (6, 10), 3) == built_count("D", 48, 4, 4, 2, (6, 10), 3),
          "a D block on a non-square 6 x 10 map (48 channels, 4 heads, 2 groups): the count differs from the built block's")
    ### BEGIN HIDDEN TESTS
    for args in [("D", 768, 24, 7, 6, (7, 7), 3), ("L", 192, 6, 7, None, (28, 28), 3), ("D", 96, 4, 4, 4, (4, 8), 5), ("D", 32, 1, 4, 1, (3, 5), 9)]:
        check(None, block_param_count(*args) == built_count(*args), "hidden test: a block's parameter count")
    ### END HIDDEN TESTS
""")

md("summary", """
## Summary

- Drop-path rates: `linspace(0, rate, total depth)`, split by stage.
- L = window attention, S = shifted windows with DAT's shift $\\lceil w/2 \\rceil$, D = deformable
  attention built for the stage's (H, W) map.
- A block is pre-norm: $x + \\mathrm{DropPath}(\\mathrm{Attn}(\\mathrm{LN}(x)))$, then the same with the
  MLP on the updated $x$.
- Parameters per block: $4C$ (norms) $+ 8C^2 + 5C$ (MLP) $+ 4C^2 + 4C$ (attention projections) plus a
  $((2w-1)^2, n_h)$ table (L/S) or the offset network and an $(n_h, 2H-1, 2W-1)$ table (D).

**Next:** lesson 09, which trains the small `dat_cifar` model built from these blocks.
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
