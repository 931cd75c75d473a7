"""Build solutions/06_position_bias.ipynb (unexecuted); then run
`python -m dat_edu.course.execute solutions/06_position_bias.ipynb` and `python -m dat_edu.course.exercises`.

One solution region per part, in part order (region N belongs to part N: tests/wrong_answers rely on it).
No part's solution calls another part's function, so a wrong answer fails only its own check.
"""
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
NAME = "06_position_bias"
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
# Exercise 06 · Position bias: Swin's index, the deformable lookup, log-spaced displacements

**What you practise:** Swin's `relative_position_index` by hand and the gather of a bias table into
an $(n_h, N, N)$ bias, DAT's deformable position bias (the table read with bilinear `grid_sample`
at $0.5\\,(q - p)$, $(y, x) \\to (x, y)$, `align_corners=True`, offset groups → heads), and the
$\\mathrm{sign}(\\Delta)\\log(1 + |\\Delta|)$ input of a continuous position bias.

This exercise belongs to lesson `notebooks/06_position_bias.ipynb` (sections 2, 3 and 5); reread
them if a part is unclear.

**How to work:** in each part, replace `# YOUR CODE HERE` and `raise NotImplementedError()` inside
the function with your code, run the cell, then run the check cell below it. A check cell prints
`Part N (...): passed` or tells you which property is wrong. Do not edit the check cells (they are
read-only; the grader runs its own copy, with a few more tests). Check the whole notebook from the
repository root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/06_position_bias.ipynb
```
""")

code("setup", """
import torch
import torch.nn.functional as F
from einops import rearrange

from dat_edu.course.checks import check, check_close, check_shape, forbid_calls, part
from dat_edu.position_bias import deformable_position_bias, relative_position_index, signed_log
from dat_edu.sampling import reference_grid

_ = torch.manual_seed(0)
""")

md("part1-md", """
## Part 1 · Swin's relative position index (1 point)

Write `relative_index(window)` returning a `torch.long` tensor of shape (w², w²), w = `window`.
Tokens of a w × w window are numbered row-major (token t sits at row t // w, column t % w).
Entry [i, j] is the row of the ((2w − 1)², n_h) bias table for query token i and key token j:

- the displacement is **query minus key**, (Δy, Δx) = (y_i − y_j, x_i − x_j), each in [−(w − 1), w − 1];
- shift both by w − 1 so they are non-negative, then number the (2w − 1) × (2w − 1) cells row by
  row (Δy selects the row of cells, Δx the column).

`torch.meshgrid(..., indexing="ij")` and broadcasting are enough. The library's
`relative_position_index` is not allowed here.
""")

code("part1-code", """
def relative_index(window: int) -> torch.Tensor:
    \"\"\"(w*w, w*w) long: table row for every (query token, key token) pair of a w x w window.\"\"\"
    ### BEGIN SOLUTION
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    coords = torch.stack((ys.flatten(), xs.flatten()))  # (2, w*w): (y, x) of every token, row-major
    rel = coords[:, :, None] - coords[:, None, :] + (window - 1)  # (2, N, N): query minus key, in [0, 2w-2]
    return rel[0] * (2 * window - 1) + rel[1]  # row-major cell of the (2w-1) x (2w-1) table
    ### END SOLUTION
""")

check("part1-check", 1, 1, """
with part(1, "relative position index"):
    idx = forbid_calls(relative_index, "dat_edu.position_bias.relative_position_index", args=(4,))
    check_shape(idx, (16, 16), "relative_index(4)")
    check(None, idx.dtype == torch.long, f"the index should be a torch.long tensor (it indexes the table), not {idx.dtype}")
    check(None, bool((idx >= 0).all() and (idx < 49).all()), "every entry should be a valid row of a (2w-1)^2 = 49-row table")
    check(None, bool((idx.diagonal() == idx[0, 0]).all()), "every token paired with itself (displacement 0) should get the same table row")
    check(None, idx.unique().numel() == 49, "relative_index(4) should use each of the 49 table rows (one per displacement)")
    check_close(idx, relative_position_index(4), "relative_index(4): check the direction (query minus key) and which of Δy, Δx selects the row of cells", atol=0)
    ### BEGIN HIDDEN TESTS
    for w in (1, 2, 3, 7):
        check_close(relative_index(w), relative_position_index(w), "hidden test: an index", atol=0)
    ### END HIDDEN TESTS
""")

md("part2-md", """
## Part 2 · Gather the Swin bias (1 point)

Write `swin_bias(table, index)`: `table` has shape ((2w − 1)², n_h) (one column per head), `index`
is the (N, N) output of Part 1 (N = w²). Return the bias of shape (n_h, N, N) with
`bias[h, i, j] = table[index[i, j], h]`, ready to be added to the (…, n_h, N, N) attention scores.
Be careful with the order of the dimensions: a plain `reshape` does not move the head dimension.
""")

code("part2-code", """
def swin_bias(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    \"\"\"table ((2w-1)**2, nh), index (N, N) long -> bias (nh, N, N), bias[h, i, j] = table[index[i, j], h].\"\"\"
    ### BEGIN SOLUTION
    n = index.shape[0]
    gathered = table[index.reshape(-1)]  # (N*N, nh): one table row per (query, key) pair
    return rearrange(gathered, "(i j) h -> h i j", i=n)  # heads first
    ### END SOLUTION
""")

check("part2-check", 2, 1, """
def reference_swin_bias(table, index):
    n, nh = index.shape[0], table.shape[1]
    return torch.stack([torch.stack([table[index[i], h] for i in range(n)]) for h in range(nh)])

with part(2, "Swin bias gather"):
    w, nh = 4, 3
    table, index = torch.randn((2 * w - 1) ** 2, nh), relative_position_index(w)
    bias = swin_bias(table, index)
    check_shape(bias, (nh, w * w, w * w), "the bias for a (49, 3) table and a (16, 16) index")
    centre = index[0, 0]
    check_close(bias.diagonal(dim1=1, dim2=2), table[centre][:, None].expand(nh, w * w),
                "the diagonal of every head (query = key) should hold that head's zero-displacement entry", atol=0)
    check_close(bias, reference_swin_bias(table, index), "the bias (are query and key, and the heads, in the right dimensions?)", atol=0)
    ### BEGIN HIDDEN TESTS
    for w, nh in [(2, 1), (7, 4), (3, 6)]:
        table, index = torch.randn((2 * w - 1) ** 2, nh), relative_position_index(w)
        check_close(swin_bias(table, index), reference_swin_bias(table, index), "hidden test: a bias", atol=0)
    ### END HIDDEN TESTS
""")

md("part3-md", """
## Part 3 · DAT's deformable position bias (2 points)

Write `deformable_bias(table, q_grid, pos)`, the official DAT v1 lookup (lesson 06, section 3):

- `table` (n_h, 2H − 1, 2W − 1); `q_grid` (H, W, 2) the query positions; `pos` (B, g, Hk, Wk, 2) the
  key positions of each offset group; all positions normalized to [−1, 1] and stored **(y, x)**;
- for every query i (row-major over H × W) and key j (row-major over Hk × Wk) of a group, the
  lookup coordinate is **0.5 · (query − key)**;
- read the table there with `F.grid_sample(..., mode="bilinear", align_corners=True)` (heads as
  channels). Remember which coordinate order `grid_sample` wants;
- heads are grouped: with hg = n_h / g, group 0's keys serve heads 0 … hg − 1, group 1's keys the next
  hg heads, and so on;
- return (B, n_h, H·W, Hk·Wk).

H ≠ W and Hk ≠ Wk in the check. The library's `deformable_position_bias` is not allowed here.
""")

code("part3-code", """
def deformable_bias(table: torch.Tensor, q_grid: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    \"\"\"table (nh, 2H-1, 2W-1), q_grid (H, W, 2), pos (B, g, Hk, Wk, 2), both (y, x) -> (B, nh, H*W, Hk*Wk).\"\"\"
    ### BEGIN SOLUTION
    B, g = pos.shape[:2]
    q = rearrange(q_grid, "h w c -> 1 (h w) 1 c")  # (1, HW, 1, 2)
    k = rearrange(pos, "b g hk wk c -> (b g) 1 (hk wk) c")  # (B*g, 1, Ns, 2)
    disp = 0.5 * (q - k)  # (B*g, HW, Ns, 2), (y, x), in (-1, 1)
    tbl = rearrange(table.expand(B, *table.shape), "b (g hg) y x -> (b g) hg y x", g=g)  # group i: heads [i*hg, (i+1)*hg)
    bias = F.grid_sample(tbl, disp.flip(-1), mode="bilinear", align_corners=True)  # grid_sample wants (x, y)
    return rearrange(bias, "(b g) hg i j -> b (g hg) i j", b=B)  # (B, nh, HW, Ns)
    ### END SOLUTION
""")

check("part3-check", 3, 2, """
def key_positions(B, g, hk, wk, spread=0.15):
    return (reference_grid(hk, wk)[None, None] + spread * torch.randn(B, g, hk, wk, 2)).clamp(-0.9, 0.9)

with part(3, "deformable position bias"):
    H, W, nh, g, B, hk, wk = 5, 7, 4, 2, 2, 3, 4
    table, q_grid, pos = torch.randn(nh, 2 * H - 1, 2 * W - 1), reference_grid(H, W), key_positions(B, g, hk, wk)
    bias = forbid_calls(deformable_bias, "dat_edu.position_bias.deformable_position_bias", args=(table, q_grid, pos))
    check_shape(bias, (B, nh, H * W, hk * wk), "the bias for H, W = 5, 7, 4 heads, 2 groups, B = 2, 3 x 4 keys")
    # a table that changes only along its x axis (columns) gives a bias that depends only on x displacements
    x_table = torch.randn(2 * W - 1).expand(nh, 2 * H - 1, 2 * W - 1)
    moved_y = pos.clone()
    moved_y[..., 0] = torch.rand(B, g, hk, wk) * 1.6 - 0.8  # new y positions, same x positions
    check_close(deformable_bias(x_table, q_grid, moved_y), deformable_bias(x_table, q_grid, pos),
                "with a table that varies only along x (columns), moving the keys in y changed the bias: check the (y, x) order of the lookup coordinates and that they stay inside the table", atol=1e-5)
    per_group = torch.cat([deformable_bias(table[2 * i:2 * i + 2], q_grid, pos[:, i:i + 1]) for i in range(g)], dim=1)
    check_close(bias, per_group, "heads 0-1 should use group 0's keys and heads 2-3 group 1's (compared with your own function run per group)", atol=1e-5)
    check_close(bias, deformable_position_bias(table, q_grid, pos), "the bias (compared with the official lookup)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    for H, W, nh, g, B, hk, wk in [(4, 4, 2, 1, 1, 4, 4), (6, 3, 6, 3, 2, 2, 5), (7, 7, 8, 2, 1, 7, 7)]:
        table, q_grid, pos = torch.randn(nh, 2 * H - 1, 2 * W - 1), reference_grid(H, W), key_positions(B, g, hk, wk, 0.3)
        check_close(deformable_bias(table, q_grid, pos), deformable_position_bias(table, q_grid, pos), "hidden test: a bias", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("part4-md", """
## Part 4 · Log-spaced displacements for a continuous bias (1 point)

A continuous position bias (SwinV2, lucidrains; `ContinuousPositionBias` in lesson 06, section 5)
feeds an MLP with the displacement of every query–key pair, compressed as
$\\mathrm{sign}(\\Delta)\\,\\log(1 + |\\Delta|)$: linear near 0, logarithmic far away, odd in Δ.

Write `log_displacements(q_grid, pos)` with `q_grid` (H, W, 2) and `pos` (B, g, Hk, Wk, 2), both
normalized (y, x). Return (B, g, H·W, Hk·Wk, 2): for query i and key j, Δ = query − key
(componentwise, keep the (y, x) order), then the signed log of each component. Displacements lie in
(−2, 2), so some are below −1: mind the sign. Write it with basic tensor operations (the library's
`signed_log` is not allowed here; the check looks for that name, so give a helper of
your own another name).
""")

code("part4-code", """
def log_displacements(q_grid: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    \"\"\"q_grid (H, W, 2), pos (B, g, Hk, Wk, 2), (y, x) -> sign(d) * log(1 + |d|) of d = query - key: (B, g, H*W, Hk*Wk, 2).\"\"\"
    ### BEGIN SOLUTION
    q = rearrange(q_grid, "h w c -> 1 1 (h w) 1 c")  # (1, 1, HW, 1, 2)
    k = rearrange(pos, "b g hk wk c -> b g 1 (hk wk) c")  # (B, g, 1, Ns, 2)
    d = q - k  # (B, g, HW, Ns, 2): query minus key
    return torch.sign(d) * torch.log1p(d.abs())  # odd, linear near 0, log far away
    ### END SOLUTION
""")

check("part4-check", 4, 1, """
def reference_log_displacements(q_grid, pos):
    d = q_grid.reshape(1, 1, -1, 1, 2) - pos.flatten(2, 3)[:, :, None]
    return signed_log(d)

with part(4, "log-spaced displacements"):
    q_grid = reference_grid(4, 6)
    pos = (reference_grid(3, 5)[None, None] + 0.2 * torch.randn(2, 2, 3, 5, 2)).clamp(-1, 1)
    feat = forbid_calls(log_displacements, "dat_edu.position_bias.signed_log", "dat_edu.position_bias.ContinuousPositionBias",
                        args=(q_grid, pos))
    check_shape(feat, (2, 2, 24, 15, 2), "the features for a 4 x 6 query grid and keys (2, 2, 3, 5, 2)")
    same = log_displacements(q_grid, q_grid[None, None])  # every query is also a key
    check_close(same.diagonal(dim1=2, dim2=3), torch.zeros(1, 1, 2, 24), "a key at the query's own position (displacement 0) should give 0", atol=1e-6)
    check_close(feat, reference_log_displacements(q_grid, pos), "the features (check the direction query - key, the sign and the log)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    q_grid, pos = reference_grid(5, 2), torch.rand(1, 3, 2, 4, 2) * 2 - 1
    check_close(log_displacements(q_grid, pos), reference_log_displacements(q_grid, pos), "hidden test: features", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("summary", """
## Summary

- Swin: `index = (Δy + w − 1)(2w − 1) + (Δx + w − 1)` with Δ = query − key; `table[index]` then heads
  first gives the $(n_h, w^2, w^2)$ bias.
- DAT: one $(2H-1) \\times (2W-1)$ table per head, read bilinearly at $0.5\\,(q - p)$ with
  `align_corners=True`; `grid_sample` wants $(x, y)$; group $i$'s keys serve heads
  $[i\\,n_h/g, (i+1)\\,n_h/g)$. Library: `dat_edu.position_bias.deformable_position_bias`.
- Continuous bias: an MLP on $\\mathrm{sign}(\\Delta)\\log(1+|\\Delta|)$ of the displacement.

**Next:** lesson `notebooks/07_deformable_attention.ipynb`, then `exercises/07_deformable_attention.ipynb`.
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
