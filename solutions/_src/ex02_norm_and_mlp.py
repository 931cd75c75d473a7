"""Build solutions/02_norm_and_mlp.ipynb (unexecuted); then run
`python -m dat_edu.course.execute solutions/02_norm_and_mlp.ipynb` and `python -m dat_edu.course.exercises`.

One solution region per part, in part order (region N belongs to part N: tests/wrong_answers rely on it).
"""
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
NAME = "02_norm_and_mlp"
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
# Exercise 02 · LayerNorm over channels, GELU and the transformer MLP

**What you practise:** LayerNorm over the channels of an NCHW feature map written from scratch, the
exact GELU, the transformer MLP applied to every pixel of a map, and the pre-norm residual block.

This exercise belongs to lesson `notebooks/02_norm_and_mlp.ipynb` (sections 2, 4, 5 and 6); reread
them if a part is unclear.

**How to work:** in each part, replace `# YOUR CODE HERE` and `raise NotImplementedError()` inside
the function with your code, run the cell, then run the check cell below it. A check cell prints
`Part N (...): passed` or tells you which property is wrong. Do not edit the check cells (they are
read-only; the grader runs its own copy, with a few more tests). Check the whole notebook from the
repository root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/02_norm_and_mlp.ipynb
```
""")

code("setup", """
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from dat_edu.course.checks import check, check_close, check_shape, forbid_calls, part
from dat_edu.mlp import Mlp
from dat_edu.norm import LayerNorm2d

_ = torch.manual_seed(0)
""")

md("part1-md", """
## Part 1 · LayerNorm over the channels of an NCHW map (2 points)

Write `layer_norm_channels(x, weight, bias, eps=1e-5)` for a feature map `x` of shape (B, C, H, W)
and affine parameters `weight`, `bias` of shape (C,). Every pixel of every sample is normalized
**over its C channels** (mean 0, variance 1, using the *biased* variance like `nn.LayerNorm`, with
`eps` added to the variance inside the square root), then scaled by `weight` and shifted by `bias`
per channel. Return shape (B, C, H, W).

Write it from scratch with tensor operations (`mean`, `var`, `sqrt`, broadcasting): the check does
not let your function use `F.layer_norm`, `nn.LayerNorm`, `F.group_norm` or the library's
`LayerNorm2d`.
""")

code("part1-code", """
def layer_norm_channels(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    \"\"\"LayerNorm over C of an NCHW map: x (B, C, H, W), weight and bias (C,) -> (B, C, H, W).\"\"\"
    ### BEGIN SOLUTION
    mean = x.mean(dim=1, keepdim=True)  # (B, 1, H, W): one mean per pixel, over its channels
    var = x.var(dim=1, keepdim=True, unbiased=False)  # biased, as nn.LayerNorm
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return x_hat * weight[:, None, None] + bias[:, None, None]  # (C,) -> (C, 1, 1) broadcasts over H, W
    ### END SOLUTION
""")

check("part1-check", 1, 2, """
with part(1, "layer norm over channels"):
    x = torch.randn(2, 6, 4, 5) * 3 + 1  # B=2, C=6, non-square 4x5 map, not normalized
    ones, zeros = torch.ones(6), torch.zeros(6)
    y = forbid_calls(layer_norm_channels, "F.layer_norm", "nn.LayerNorm", "F.group_norm", "dat_edu.norm.LayerNorm2d",
                     args=(x, ones, zeros))
    check_shape(y, (2, 6, 4, 5), "the output for x of shape (2, 6, 4, 5)")
    check_close(y.mean(dim=1), torch.zeros(2, 4, 5), "the mean over the C channels of each pixel (weight 1, bias 0)", atol=1e-5)
    check_close(y.std(dim=1, unbiased=False), torch.ones(2, 4, 5),
                "the standard deviation over the C channels of each pixel (weight 1, bias 0; divide by C, not C - 1)", atol=1e-3)
    ref = LayerNorm2d(6)
    with torch.no_grad():
        ref.norm.weight.uniform_(0.5, 1.5)
        ref.norm.bias.uniform_(-0.5, 0.5)
        check_close(layer_norm_channels(x, ref.norm.weight, ref.norm.bias), ref(x),
                    "the output with a non-trivial weight and bias (compared with LayerNorm2d)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    ref = LayerNorm2d(5)
    x = torch.randn(3, 5, 2, 7) * 0.1 - 2
    with torch.no_grad():
        ref.norm.weight.normal_()
        ref.norm.bias.normal_()
        check_close(layer_norm_channels(x, ref.norm.weight, ref.norm.bias), ref(x), "hidden test: the output", atol=1e-5)
        x = torch.randn(1, 5, 3, 3)
        check_close(layer_norm_channels(x, ref.norm.weight, ref.norm.bias, eps=0.5),
                    F.layer_norm(x.permute(0, 2, 3, 1), (5,), ref.norm.weight, ref.norm.bias, eps=0.5).permute(0, 3, 1, 2),
                    "hidden test: the output with eps=0.5", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("part2-md", """
## Part 2 · GELU (1 point)

Write `gelu(x)`, the exact Gaussian Error Linear Unit used by DAT,
$\\mathrm{GELU}(x) = x\\,\\Phi(x) = \\frac{x}{2}\\left(1 + \\operatorname{erf}\\frac{x}{\\sqrt 2}\\right)$,
element-wise for a tensor of any shape (`torch.erf` and `math.sqrt` help). Not the tanh
approximation: the check compares with `F.gelu` to 10⁻⁶ and does not let your function call
`F.gelu` or `nn.GELU`.
""")

code("part2-code", """
def gelu(x: torch.Tensor) -> torch.Tensor:
    \"\"\"Exact GELU, element-wise: x * Phi(x), Phi the standard normal CDF. Any shape -> same shape.\"\"\"
    ### BEGIN SOLUTION
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    ### END SOLUTION
""")

check("part2-check", 2, 1, """
with part(2, "GELU"):
    xs = torch.linspace(-5, 5, 1001)
    ys = forbid_calls(gelu, "F.gelu", "nn.GELU", args=(xs,))
    check_shape(ys, (1001,), "gelu of a 1-D tensor of 1001 values")
    check_shape(gelu(torch.zeros(2, 3, 4)), (2, 3, 4), "gelu of a (2, 3, 4) tensor")
    check_close(gelu(torch.tensor([0.0, 30.0, -30.0])), torch.tensor([0.0, 30.0, 0.0]),
                "gelu at 0, at a large positive and at a large negative input", atol=1e-6)
    check(None, bool((ys[xs < 0] < 0).all()), "gelu should be slightly negative for negative inputs")
    check_close(ys, F.gelu(xs), "gelu on [-5, 5] (compared with the exact F.gelu)", atol=1e-6)
    ### BEGIN HIDDEN TESTS
    x = torch.randn(4, 3, 5, dtype=torch.float64) * 3
    check_close(gelu(x), F.gelu(x), "hidden test: gelu in float64", atol=1e-12)
    ### END HIDDEN TESTS
""")

md("part3-md", """
## Part 3 · The transformer MLP on a feature map (2 points)

Write `mlp_forward(x, fc1, fc2)`: `x` is an NCHW map (B, C, H, W), `fc1` an `nn.Linear(C, hidden)`
and `fc2` an `nn.Linear(hidden, C)`. Apply, to **every pixel independently**, `fc1` → GELU →
`fc2`, and return a map of shape (B, C, H, W). `nn.Linear` acts on the *last* dimension, so the
channels must become the last dimension first (`rearrange` or `permute`), and go back at the
end. Use `F.gelu` (exact) or your `gelu` from Part 2.
""")

code("part3-code", """
def mlp_forward(x: torch.Tensor, fc1: nn.Linear, fc2: nn.Linear) -> torch.Tensor:
    \"\"\"Per-pixel MLP: x (B, C, H, W) -> fc1 -> GELU -> fc2 -> (B, C, H, W).\"\"\"
    ### BEGIN SOLUTION
    h, w = x.shape[-2:]
    t = rearrange(x, "b c h w -> b (h w) c")  # tokens, channels last for nn.Linear
    t = fc2(F.gelu(fc1(t)))  # (B, HW, C)
    return rearrange(t, "b (h w) c -> b c h w", h=h, w=w)
    ### END SOLUTION
""")

check("part3-check", 3, 2, """
with part(3, "MLP forward"):
    C = 6
    mlp = Mlp(C)  # the library MLP: fc1 (6 -> 24), GELU, fc2 (24 -> 6)
    x = torch.randn(2, C, 3, 5)  # non-square map
    with torch.no_grad():
        y = mlp_forward(x, mlp.fc1, mlp.fc2)
        check_shape(y, (2, C, 3, 5), "the output for x of shape (2, 6, 3, 5)")
        x_edit = x.clone()
        x_edit[1, :, 2, 4] += 1.0  # change one pixel of sample 1
        changed = (mlp_forward(x_edit, mlp.fc1, mlp.fc2) - y).abs().amax(dim=1) > 1e-6  # (B, H, W)
        check(None, changed[1, 2, 4] and int(changed.sum()) == 1,
              "changing one pixel's channels should change that pixel's output and no other pixel")
        check_close(y, mlp(x), "the output (compared with dat_edu.mlp.Mlp with the same weights)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    mlp = Mlp(4, hidden_dim=10)
    x = torch.randn(3, 4, 7, 2)
    with torch.no_grad():
        check_close(mlp_forward(x, mlp.fc1, mlp.fc2), mlp(x), "hidden test: the output with hidden width 10", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("part4-md", """
## Part 4 · The pre-norm residual MLP branch (1 point)

A DAT block is **pre-norm**: the branch sees a normalized copy of the input and its output is
*added* to the unnormalized input. Write `pre_norm_mlp(x, norm, mlp)` returning
$x + \\mathrm{MLP}(\\mathrm{LN}(x))$ for a map `x` (B, C, H, W), a `LayerNorm2d` module `norm` and an `Mlp`
module `mlp` (call the modules; both take and return (B, C, H, W)).
""")

code("part4-code", """
def pre_norm_mlp(x: torch.Tensor, norm: nn.Module, mlp: nn.Module) -> torch.Tensor:
    \"\"\"Pre-norm residual branch: x (B, C, H, W) -> x + mlp(norm(x)), same shape.\"\"\"
    ### BEGIN SOLUTION
    return x + mlp(norm(x))  # the residual stream itself is never normalized
    ### END SOLUTION
""")

check("part4-check", 4, 1, """
with part(4, "pre-norm residual"):
    C = 8
    norm, mlp = LayerNorm2d(C), Mlp(C)
    x = torch.randn(2, C, 3, 4) * 5 + 2
    with torch.no_grad():
        y = pre_norm_mlp(x, norm, mlp)
        check_shape(y, (2, C, 3, 4), "the output for x of shape (2, 8, 3, 4)")
        mlp.fc2.weight.zero_()
        mlp.fc2.bias.zero_()  # a silent branch
        check_close(pre_norm_mlp(x, norm, mlp), x, "the output when the MLP branch outputs zero (it should be x itself)", atol=1e-6)
        mlp = Mlp(C)
        check_close(pre_norm_mlp(x, norm, mlp), x + mlp(norm(x)), "the output (the branch should see the normalized input)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    norm, mlp = LayerNorm2d(3), Mlp(3, hidden_dim=5)
    x = torch.randn(1, 3, 5, 2) * 10
    with torch.no_grad():
        norm.norm.weight.uniform_(0.5, 2.0)
        check_close(pre_norm_mlp(x, norm, mlp), x + mlp(norm(x)), "hidden test: the output", atol=1e-4)
    ### END HIDDEN TESTS
""")

md("summary", """
## Summary

- LayerNorm over channels: per sample and pixel, over C, biased variance, `eps` inside the root;
  `weight` and `bias` broadcast as (C, 1, 1).
- GELU(x) = x Φ(x), with Φ written through `erf`.
- The MLP is Linear → GELU → Linear on the channels of every pixel: channels last, apply, back.
- Pre-norm: x + MLP(LN(x)); with a silent branch the block is the identity.

**Next:** lesson `notebooks/03_sampling.ipynb`, then `exercises/03_sampling.ipynb`.
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
