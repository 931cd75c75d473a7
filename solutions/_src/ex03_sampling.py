"""Build solutions/03_sampling.ipynb (unexecuted); then run
`python -m dat_edu.course.execute solutions/03_sampling.ipynb` and `python -m dat_edu.course.exercises`.

One solution region per part, in part order (region N belongs to part N: tests/wrong_answers rely on it).
"""
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
NAME = "03_sampling"
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
# Exercise 03 · Sampling: reference grids, coordinates and bilinear interpolation

**What you practise:** building DAT's reference grid in the $(y, x)$ convention, converting pixel
coordinates to normalized ones for both `align_corners` settings, bilinear interpolation with
zero padding written from scratch, and the $(y, x) \\to (x, y)$ swap in front of `F.grid_sample`.

This exercise belongs to lesson `notebooks/03_sampling.ipynb`; reread it if a part is unclear.
Conventions: positions are stored last-dim $(y, x)$ (`[..., 0]` = row, `[..., 1]` = column),
normalized to $[-1, 1]$; `F.grid_sample` wants $(x, y)$. The checks use **non-square** maps, so a
swapped x and y shows.

**How to work:** in each part, replace `# YOUR CODE HERE` and `raise NotImplementedError()` inside
the function with your code, run the cell, then run the check cell below it. A check cell prints
`Part N (...): passed` or tells you which property is wrong. Do not edit the check cells (they are
read-only; the grader runs its own copy, with a few more tests). Check the whole notebook from the
repository root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/03_sampling.ipynb
```
""")

code("setup", """
import torch
import torch.nn.functional as F

from dat_edu.course.checks import check, check_close, check_shape, forbid_calls, part
from dat_edu.sampling import aligned_grid, reference_grid, sample_features

_ = torch.manual_seed(0)
""")

md("part1-md", """
## Part 1 · The reference grid (1 point)

Write `make_reference_grid(h, w)` returning a float32 tensor of shape **(h, w, 2)** with, at
`[i, j]`, the normalized position of the centre of pixel (row i, column j) under the official DAT
formula $\\left(\\frac{i + 0.5}{h}\\cdot 2 - 1,\\ \\frac{j + 0.5}{w}\\cdot 2 - 1\\right)$,
stored $(y, x)$: `grid[i, j, 0]` is the row coordinate, `grid[i, j, 1]` the column coordinate.
`torch.arange`, `torch.meshgrid(..., indexing="ij")` and `torch.stack` help. (Do not call the
library's `reference_grid` / `aligned_grid`.)
""")

code("part1-code", """
def make_reference_grid(h: int, w: int) -> torch.Tensor:
    \"\"\"(h, w, 2) float32 grid of pixel centres, normalized, last dim (y, x): ((i + 0.5) / h) * 2 - 1.\"\"\"
    ### BEGIN SOLUTION
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1  # (h,) row centres
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1  # (w,) column centres
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (h, w) each
    return torch.stack((grid_y, grid_x), dim=-1)  # (h, w, 2) as (y, x)
    ### END SOLUTION
""")

check("part1-check", 1, 1, """
with part(1, "reference grid"):
    g = forbid_calls(make_reference_grid, "dat_edu.sampling.reference_grid", "dat_edu.sampling.aligned_grid", args=(3, 5))
    check_shape(g, (3, 5, 2), "make_reference_grid(3, 5)")
    check(None, g.dtype == torch.float32, f"the grid should be float32, not {g.dtype}")
    check(None, bool((g[:, :, 0] == g[:, :1, 0]).all()) and bool((g[1:, 0, 0] > g[:-1, 0, 0]).all()),
          "grid[..., 0] should be the row coordinate y: constant along each row, increasing down the rows")
    check(None, bool((g[:, :, 1] == g[:1, :, 1]).all()) and bool((g[0, 1:, 1] > g[0, :-1, 1]).all()),
          "grid[..., 1] should be the column coordinate x: constant down each column, increasing along a row")
    check_close(g[:, :, 0] + g.flip(0)[:, :, 0], torch.zeros(3, 5), "y of row i plus y of row h-1-i (the grid should be symmetric about 0)", atol=1e-6)
    check(None, bool((g.abs() < 1).all()), "every position should lie strictly inside (-1, 1): a pixel centre is half a pixel away from the border")
    check_close(g[1:, 0, 0] - g[:-1, 0, 0], torch.full((2,), 2 / 3), "the spacing of y between neighbouring rows (one pixel is 2/h)", atol=1e-6)
    check_close(g[0, 1:, 1] - g[0, :-1, 1], torch.full((4,), 2 / 5), "the spacing of x between neighbouring columns (one pixel is 2/w)", atol=1e-6)
    ### BEGIN HIDDEN TESTS
    for h, w in [(3, 5), (1, 4), (7, 2), (14, 14)]:
        check_close(make_reference_grid(h, w), reference_grid(h, w), f"hidden test: the grid for h={h}, w={w}", atol=1e-6)
    ### END HIDDEN TESTS
""")

md("part2-md", """
## Part 2 · Pixel → normalized coordinates, both `align_corners` (1 point)

Pixel centres along an axis of `size` pixels sit at pixel coordinates $0, 1, \\dots, \\text{size}-1$.
Write `pixel_to_norm(p, size, align_corners)` returning the normalized coordinate $u$ of pixel
coordinate `p` (a float or a tensor, element-wise):

- `align_corners=True`: $u = -1$ and $u = +1$ are the **centres** of the first and last pixel;
- `align_corners=False`: $u = -1$ and $u = +1$ are the **outer edges** of the first and last pixel
  (pixel coordinates $-0.5$ and $\\text{size} - 0.5$).

In between, $u$ is linear in $p$. (You may assume `size >= 2`.)
""")

code("part2-code", """
def pixel_to_norm(p, size: int, align_corners: bool):
    \"\"\"Pixel coordinate p (float or tensor) -> normalized u in [-1, 1] for an axis of `size` pixels.\"\"\"
    ### BEGIN SOLUTION
    if align_corners:
        return p / (size - 1) * 2 - 1  # centres of pixels 0 and size-1 -> -1, +1
    return (2 * p + 1) / size - 1  # outer edges -0.5 and size-0.5 -> -1, +1
    ### END SOLUTION
""")

check("part2-check", 2, 1, """
with part(2, "pixel to normalized"):
    size = 5
    for ac in (True, False):
        first, last = (0.0, size - 1.0) if ac else (-0.5, size - 0.5)
        where = "pixel centres" if ac else "outer pixel edges"
        check_close(torch.tensor([float(pixel_to_norm(first, size, ac)), float(pixel_to_norm(last, size, ac))]),
                    torch.tensor([-1.0, 1.0]), f"align_corners={ac}: u at the {where} of the first and last pixel", atol=1e-6)
        check_close(float(pixel_to_norm((size - 1) / 2, size, ac)), 0.0, f"align_corners={ac}: u at the middle of the axis", atol=1e-6)
        p = torch.tensor([[0.0, 1.0, 2.5], [3.0, 4.0, -0.25]])
        u = pixel_to_norm(p, size, ac)
        check_shape(u, (2, 3), f"align_corners={ac}: pixel_to_norm of a (2, 3) tensor")
    u = pixel_to_norm(torch.arange(4.0), 4, True)
    check_close(u[1:] - u[:-1], torch.full((3,), 2 / 3), "align_corners=True: the step between pixel centres on a 4-pixel axis", atol=1e-6)
    u = pixel_to_norm(torch.arange(4.0), 4, False)
    check_close(u[1:] - u[:-1], torch.full((3,), 0.5), "align_corners=False: the step between pixel centres on a 4-pixel axis", atol=1e-6)
    ### BEGIN HIDDEN TESTS
    from dat_edu.sampling import pixel_to_normalized
    p = torch.rand(6, 7) * 12 - 2
    for size in (2, 8, 13):
        for ac in (True, False):
            check_close(pixel_to_norm(p, size, ac), pixel_to_normalized(p, size, ac), f"hidden test: size={size}, align_corners={ac}", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("part3-md", """
## Part 3 · Bilinear interpolation from scratch (2 points)

Write `bilinear_at(feat, py, px)`: `feat` is one feature map (C, H, W); `py`, `px` are 1-D tensors
of M **pixel** coordinates (row, column; pixel centres at integers, so $(0, 0)$ is the top-left
pixel). Return (C, M): for every point, the bilinear interpolation of its 4 neighbouring pixels
$(y_0, x_0), (y_0, x_0 + 1), (y_0 + 1, x_0), (y_0 + 1, x_0 + 1)$ with $y_0 = \\lfloor p_y \\rfloor$,
$x_0 = \\lfloor p_x \\rfloor$ and weights $(1-t_y)(1-t_x), (1-t_y)t_x, t_y(1-t_x), t_y t_x$ where
$t_y = p_y - y_0$, $t_x = p_x - x_0$. Neighbours **outside** the map count as zero (zero padding):
their weight is dropped, not moved to the border.

Use `torch.floor`, integer indexing (`feat[:, rows, cols]` with long tensors) and `clamp` to keep
indices legal before zeroing the outside ones. The check does not let your function call
`F.grid_sample` (or `torch.grid_sampler`) or `F.interpolate`; it compares with `F.grid_sample`.
""")

code("part3-code", """
def bilinear_at(feat: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    \"\"\"feat (C, H, W), py and px (M,) pixel coordinates -> (C, M) bilinear values, zero outside.\"\"\"
    ### BEGIN SOLUTION
    c, h, w = feat.shape
    y0, x0 = torch.floor(py), torch.floor(px)
    ty, tx = py - y0, px - x0  # fractional parts: weights of the lower / right neighbours
    y0, x0 = y0.long(), x0.long()
    out = feat.new_zeros(c, py.shape[0])
    for dy, dx, weight in ((0, 0, (1 - ty) * (1 - tx)), (0, 1, (1 - ty) * tx), (1, 0, ty * (1 - tx)), (1, 1, ty * tx)):
        yi, xi = y0 + dy, x0 + dx
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)  # zero padding: outside neighbours add nothing
        values = feat[:, yi.clamp(0, h - 1), xi.clamp(0, w - 1)]  # (C, M), indices clamped to be legal
        out = out + values * (weight * inside)
    return out
    ### END SOLUTION
""")

check("part3-check", 3, 2, """
def grid_sample_at(feat, py, px):
    # F.grid_sample on pixel coordinates: align_corners=True maps pixel p to p / (size - 1) * 2 - 1.
    c, h, w = feat.shape
    grid = torch.stack([px / (w - 1) * 2 - 1, py / (h - 1) * 2 - 1], dim=-1).view(1, 1, -1, 2)  # (x, y)
    return F.grid_sample(feat[None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0, :, 0]

with part(3, "bilinear interpolation"):
    feat = torch.arange(2 * 4 * 6, dtype=torch.float32).view(2, 4, 6)  # C=2, H=4, W=6
    py, px = torch.tensor([0.0, 3.0, 1.0, 2.0]), torch.tensor([0.0, 5.0, 4.0, 1.0])
    out = forbid_calls(bilinear_at, "F.grid_sample", "F.interpolate", args=(feat, py, px))
    check_shape(out, (2, 4), "the output for feat (2, 4, 6) and M=4 points")
    check_close(out, feat[:, py.long(), px.long()], "the values at integer positions (they should be the pixels, row py and column px)", atol=1e-5)
    check_close(bilinear_at(feat, torch.tensor([1.0, 1.5]), torch.tensor([2.5, 2.0])),
                torch.stack([(feat[:, 1, 2] + feat[:, 1, 3]) / 2, (feat[:, 1, 2] + feat[:, 2, 2]) / 2], dim=1),
                "the values half-way between two horizontal, and two vertical, neighbours", atol=1e-5)
    check_close(bilinear_at(feat, torch.tensor([-3.0, 1.0, 9.0]), torch.tensor([2.0, 20.0, -5.0])), torch.zeros(2, 3),
                "the values at points far outside the map (zero padding)", atol=1e-6)
    check_close(bilinear_at(feat, torch.tensor([-0.5, 1.0]), torch.tensor([1.0, 5.5])),
                torch.stack([feat[:, 0, 1] / 2, feat[:, 1, 5] / 2], dim=1),
                "the values half a pixel outside the border (half of the border pixel, the other half is zero padding)", atol=1e-5)
    feat = torch.randn(3, 5, 7)
    py, px = torch.rand(50) * 6 - 1, torch.rand(50) * 8 - 1
    check_close(bilinear_at(feat, py, px), grid_sample_at(feat, py, px), "the values at random points (compared with F.grid_sample)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    feat = torch.randn(4, 9, 3, dtype=torch.float64)
    py, px = torch.rand(200, dtype=torch.float64) * 12 - 2, torch.rand(200, dtype=torch.float64) * 6 - 2
    check_close(bilinear_at(feat, py, px), grid_sample_at(feat, py, px), "hidden test: random points on a (4, 9, 3) map", atol=1e-9)
    ### END HIDDEN TESTS
""")

md("part4-md", """
## Part 4 · Sampling at $(y, x)$ positions with `F.grid_sample` (1 point)

Write `sample_yx(x, pos, align_corners)`: `x` is a feature map (N, C, H, W); `pos` holds normalized
positions (N, Hk, Wk, 2) **in this course's $(y, x)$ order**. Return the features read there,
(N, C, Hk, Wk), with `F.grid_sample` (bilinear, zero padding), passing `align_corners` through.
`F.grid_sample` expects its grid in $(x, y)$ order: swap the last dimension first
(`pos[..., (1, 0)]` or `pos.flip(-1)`), and say so in a comment.
""")

code("part4-code", """
def sample_yx(x: torch.Tensor, pos: torch.Tensor, align_corners: bool) -> torch.Tensor:
    \"\"\"x (N, C, H, W), pos (N, Hk, Wk, 2) normalized (y, x) -> (N, C, Hk, Wk) with F.grid_sample.\"\"\"
    ### BEGIN SOLUTION
    grid = pos[..., (1, 0)]  # our (y, x) -> grid_sample's (x, y)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)
    ### END SOLUTION
""")

check("part4-check", 4, 1, """
with part(4, "sampling at (y, x)"):
    x = torch.randn(2, 3, 4, 7)  # non-square map
    pos = torch.rand(2, 5, 6, 2) * 2 - 1
    out = sample_yx(x, pos, align_corners=True)
    check_shape(out, (2, 3, 5, 6), "the output for x (2, 3, 4, 7) and pos (2, 5, 6, 2)")
    check_close(sample_yx(x, reference_grid(4, 7).expand(2, 4, 7, 2), align_corners=False), x,
                "sampling at the reference grid with align_corners=False (it should return the map itself)", atol=1e-5)
    check_close(sample_yx(x, aligned_grid(4, 7).expand(2, 4, 7, 2), align_corners=True), x,
                "sampling at the aligned grid with align_corners=True (it should return the map itself)", atol=1e-5)
    corner = torch.tensor([-1.0, 1.0]).view(1, 1, 1, 2).expand(2, 1, 1, 2)  # y = -1 (top), x = +1 (right)
    check_close(sample_yx(x, corner, align_corners=True)[:, :, 0, 0], x[:, :, 0, -1],
                "the value at (y, x) = (-1, +1) with align_corners=True (the top-right pixel)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    for ac in (True, False):
        pos = torch.rand(2, 3, 9, 2) * 2.4 - 1.2
        check_close(sample_yx(x, pos, align_corners=ac), sample_features(x, pos, align_corners=ac),
                    f"hidden test: random positions, align_corners={ac}", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("summary", """
## Summary

- The reference grid holds pixel centres $((i + 0.5)/h)\\cdot 2 - 1$, stored $(y, x)$, shape (h, w, 2).
- `align_corners=True` pins $\\pm 1$ to the centres of the border pixels, `False` to their outer edges.
- Bilinear sampling: floor, fractional parts, 4 weights, and zero for neighbours outside.
- `F.grid_sample` reads $(x, y)$: swap `pos[..., (1, 0)]` right before the call.

**Next:** lesson `notebooks/04_offsets.ipynb`, then `exercises/04_offsets.ipynb`.
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
