"""Build solutions/07_deformable_attention.ipynb (unexecuted); then run
`python -m dat_edu.course.execute solutions/07_deformable_attention.ipynb` and `python -m dat_edu.course.exercises`.

One solution region per part, in part order (region N belongs to part N: tests/wrong_answers rely on it).
No part's solution calls another part's function, so a wrong answer fails only its own check.
"""
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
NAME = "07_deformable_attention"
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
# Exercise 07 · Deformable attention by hand

**What you practise:** one forward pass of DAT's deformable attention, written with the block's own
weights and compared number for number with `dat_edu.deformable.DeformableAttention` (the official
DAT v1 computation): the sampling positions from the offset network (groups, the tanh bound
factor/Hk, factor/Wk, reference points), the keys sampled from the input (the (y, x) → (x, y) swap,
`align_corners=True`), and the attention itself (heads, scale, deformable position bias, softmax,
output projection).

This exercise belongs to lesson `notebooks/07_deformable_attention.ipynb` (sections 1–11); reread
them if a part is unclear. Part 3 uses the position bias of lesson 06.

**How to work:** in each part, replace `# YOUR CODE HERE` and `raise NotImplementedError()` inside
the function with your code, run the cell, then run the check cell below it. A check cell prints
`Part N (...): passed` or tells you which property is wrong. Do not edit the check cells (they are
read-only; the grader runs its own copy, with a few more tests). Check the whole notebook from the
repository root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/07_deformable_attention.ipynb
```
""")

code("setup", """
import copy

import torch
import torch.nn.functional as F
from einops import rearrange

from dat_edu.course.checks import check, check_close, check_shape, forbid_calls, part
from dat_edu.deformable import DeformableAttention
from dat_edu.position_bias import deformable_position_bias
from dat_edu.sampling import reference_grid

_ = torch.manual_seed(0)
""")

md("block-md", """
## The block you will reproduce

A small D block on a **non-square** 6 × 10 map with C = 24 channels, 4 heads (h_c = 6 channels per
head), 2 offset groups (C_g = 12 channels and 2 heads per group), the official offset range factor 2,
and key stride 2, so the offset network returns a 3 × 5 key grid (Hk × Wk). Its position table is
filled with larger values than at initialisation so that a forgotten bias shows.

The parts use these attributes of `block`: `num_heads`, `num_groups`, `head_dim`, `scale`,
`offset_range_factor` (> 0 here), the 1×1 convolutions `proj_q`, `proj_k`, `proj_v`, `proj_out`,
the offset network `conv_offset` ((B·g, C_g, H, W) → (B·g, 2, Hk, Wk), channel 0 = Δy, channel 1 = Δx,
raw, before the bound) and the table `rpe_table` (n_h, 2H − 1, 2W − 1).
""")

code("block", """
B, C, H, W = 2, 24, 6, 10
block = DeformableAttention(C, num_heads=4, num_groups=2, q_size=(H, W), stride=2, kernel_size=3).eval()
with torch.no_grad():
    block.rpe_table.normal_(0.0, 0.5)
x = torch.randn(B, C, H, W)
print("x:", tuple(x.shape), "| heads", block.num_heads, "| groups", block.num_groups, "| head channels", block.head_dim)
print("key grid (Hk, Wk):", block.key_grid_size(H, W), "| rpe_table:", tuple(block.rpe_table.shape))
""")

md("part1-md", """
## Part 1 · Sampling positions from the offsets (2 points)

Write `sampling_positions(block, q)` for queries `q` = `block.proj_q(x)` of shape (B, C, H, W).
Return the positions `pos` of shape (B·g, Hk, Wk, 2), normalized, **(y, x)**, where row b·g + i
belongs to image b and group i:

1. split the channels into g groups of C_g consecutive channels: (B·g, C_g, H, W), image-major;
2. raw offsets from `block.conv_offset`: (B·g, 2, Hk, Wk);
3. bound them: tanh, times `block.offset_range_factor`, times 1/Hk for Δy and 1/Wk for Δx
   (normalized units); move the 2 channels last;
4. add the reference points, the centres of the Hk × Wk key cells (lesson 07, section 5).

Write the bound and the reference points yourself: `block.sampling_positions`,
`dat_edu.offsets.bound_offsets` and `dat_edu.sampling.reference_grid` are not allowed here (the check
looks for those names, so give helpers of your own other names).
""")

code("part1-code", """
def sampling_positions(block: DeformableAttention, q: torch.Tensor) -> torch.Tensor:
    \"\"\"q (B, C, H, W) -> pos (B*g, Hk, Wk, 2), normalized, (y, x): reference points + bounded offsets.\"\"\"
    ### BEGIN SOLUTION
    g = block.num_groups
    q_groups = rearrange(q, "b (g c) h w -> (b g) c h w", g=g)  # group i = channels [i*Cg, (i+1)*Cg)
    offset = block.conv_offset(q_groups)  # (B*g, 2, Hk, Wk), raw (Δy, Δx)
    Hk, Wk = offset.shape[2:]
    bound = torch.tensor([1.0 / Hk, 1.0 / Wk]).view(1, 2, 1, 1) * block.offset_range_factor
    offset = rearrange(torch.tanh(offset) * bound, "n p h w -> n h w p")  # (B*g, Hk, Wk, 2), (y, x)
    ys = (torch.arange(Hk) + 0.5) / Hk * 2 - 1  # centres of the Hk key cells
    xs = (torch.arange(Wk) + 0.5) / Wk * 2 - 1
    ref = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)  # (Hk, Wk, 2), (y, x)
    return ref + offset
    ### END SOLUTION
""")

check("part1-check", 1, 2, """
FORBIDDEN_1 = ("dat_edu.deformable.DeformableAttention.sampling_positions", "dat_edu.offsets.bound_offsets",
               "dat_edu.sampling.reference_grid")

def block_with_offsets(times):
    # a copy of the block whose raw offsets are multiplied by `times` (0: no offsets, 1000: saturated tanh)
    b = copy.deepcopy(block)
    with torch.no_grad():
        b.conv_offset.proj.weight.mul_(times)
    return b

with part(1, "sampling positions"):
    with torch.no_grad():
        q = block.proj_q(x)
        pos = forbid_calls(sampling_positions, *FORBIDDEN_1, args=(block, q))
        check_shape(pos, (B * 2, 3, 5, 2), "pos for B = 2, 2 groups, a 3 x 5 key grid")
        ref = reference_grid(3, 5).expand(B * 2, 3, 5, 2)
        check_close(sampling_positions(block_with_offsets(0.0), q), ref,
                    "with zero offsets the positions should be the reference points (lesson 07, section 5)", atol=1e-6)
        shift = sampling_positions(block_with_offsets(1000.0), q) - ref  # offsets at their bound
        dy, dx = shift[..., 0].abs().max(), shift[..., 1].abs().max()
        check(None, dy <= 2.0 / 3 + 1e-5 and dy >= 0.9 * 2.0 / 3,
              "with huge raw offsets the largest y offset should be exactly the bound factor / Hk")
        check(None, dx <= 2.0 / 5 + 1e-5 and dx >= 0.9 * 2.0 / 5,
              "with huge raw offsets the largest x offset should be exactly the bound factor / Wk")
        q_edit = q.clone()
        q_edit[:, :12] += torch.randn(B, 12, H, W)  # change only the channels of group 0
        moved = (sampling_positions(block, q_edit) - pos).abs().amax(dim=(1, 2, 3)) > 1e-6  # per row b*g + i
        check(None, bool(moved[0::2].all()) and not bool(moved[1::2].any()),
              "changing the query channels of group 0 should move exactly the positions of group 0 (rows b*g + 0)")
        check_close(pos, block.sampling_positions(q)[0], "the positions (compared with DeformableAttention)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    with torch.no_grad():
        for kw, shape in [(dict(num_heads=2, num_groups=1, q_size=(5, 3), stride=1, kernel_size=3), (1, 8, 5, 3)),
                          (dict(num_heads=6, num_groups=3, q_size=(8, 6), stride=3, kernel_size=5, offset_range_factor=3.0), (2, 12, 8, 6))]:
            other = DeformableAttention(shape[1], **kw).eval()
            qo = other.proj_q(torch.randn(shape))
            check_close(sampling_positions(other, qo), other.sampling_positions(qo)[0], "hidden test: positions", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("part2-md", """
## Part 2 · Sample the keys (1 point)

Write `sample_keys(x, pos, groups)`: read the block input `x` (B, C, H, W) (not the queries) at
the positions `pos` (B·g, Hk, Wk, 2), (y, x), each group's C_g channels at that group's positions, with
`F.grid_sample(..., mode="bilinear", padding_mode="zeros", align_corners=True)` as the official
code does. `grid_sample` wants the last dimension of its grid in **(x, y)** order. Return
(B, C, Hk, Wk) with the groups' channels back in their places.

`dat_edu.sampling.sample_features` and `block.sample_keys` are not allowed here.
""")

code("part2-code", """
def sample_keys(x: torch.Tensor, pos: torch.Tensor, groups: int) -> torch.Tensor:
    \"\"\"x (B, C, H, W), pos (B*g, Hk, Wk, 2) in (y, x) -> samples (B, C, Hk, Wk), group i's channels at group i's positions.\"\"\"
    ### BEGIN SOLUTION
    x_groups = rearrange(x, "b (g c) h w -> (b g) c h w", g=groups)  # (B*g, Cg, H, W)
    sampled = F.grid_sample(x_groups, pos.flip(-1),  # (y, x) -> (x, y) for grid_sample
                            mode="bilinear", padding_mode="zeros", align_corners=True)  # (B*g, Cg, Hk, Wk)
    return rearrange(sampled, "(b g) c h w -> b (g c) h w", g=groups)
    ### END SOLUTION
""")

check("part2-check", 2, 1, """
def on_pixels(rows, cols, h, w):
    # normalized (y, x) of pixel centres under align_corners=True: -1 and +1 are the first and last pixel
    ys, xs = torch.tensor(rows) / (h - 1) * 2 - 1, torch.tensor(cols) / (w - 1) * 2 - 1
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)  # (len(rows), len(cols), 2)

with part(2, "sampled keys"):
    with torch.no_grad():
        pos, _ = block.sampling_positions(block.proj_q(x))
        xs = forbid_calls(sample_keys, "dat_edu.sampling.sample_features", "dat_edu.deformable.DeformableAttention.sample_keys",
                          args=(x, pos, 2))
        check_shape(xs, (B, C, 3, 5), "the samples for x (2, 24, 6, 10) and a 3 x 5 key grid")
        rows, cols = [0, 2, 5], [1, 3, 4, 8, 9]
        exact = on_pixels(rows, cols, H, W).expand(B * 2, 3, 5, 2)
        check_close(sample_keys(x, exact, 2), x[:, :, rows][:, :, :, cols],
                    "keys placed exactly on pixel centres (align_corners=True convention) should read those pixels", atol=1e-5)
        mixed = torch.stack([exact[0], exact[0].flip(0, 1)] * B)  # group 1 reads the pixels in reverse order
        both = sample_keys(x, mixed, 2)
        check_close(both[:, 12:], x[:, 12:, rows[::-1]][:, :, :, cols[::-1]],
                    "the channels of group 1 should be read at group 1's positions", atol=1e-5)
        check_close(xs, block.sample_keys(x, pos), "the samples at the block's positions (compared with DeformableAttention)", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    with torch.no_grad():
        xh = torch.randn(3, 12, 7, 4)
        ph = torch.rand(9, 2, 6, 2) * 2.2 - 1.1  # also outside [-1, 1]: zero padding
        expected = rearrange(F.grid_sample(rearrange(xh, "b (g c) h w -> (b g) c h w", g=3), ph.flip(-1), align_corners=True),
                             "(b g) c h w -> b (g c) h w", g=3)
        check_close(sample_keys(xh, ph, 3), expected, "hidden test: samples", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("part3-md", """
## Part 3 · The attention output (2 points)

Write `attend(block, x, x_sampled, pos)`: the rest of the block, given the input `x` (B, C, H, W),
the samples `x_sampled` (B, C, Hk, Wk) of Part 2 and the positions `pos` (B, g, Hk, Wk, 2):

1. q = `block.proj_q(x)`, k = `block.proj_k(x_sampled)`, v = `block.proj_v(x_sampled)`;
2. split the channels into n_h heads of h_c consecutive channels: q (B, n_h, H·W, h_c), k and v
   (B, n_h, Hk·Wk, h_c), positions row-major;
3. scores q kᵀ scaled by $h_c^{-1/2}$, plus the deformable position bias of lesson 06 (call
   `deformable_position_bias(block.rpe_table, q_grid, pos)` with the query grid `q_grid` built by the
   same centre formula as the reference points, over H × W: `reference_grid(H, W)`);
4. softmax over the keys, weighted sum of v, heads merged back to (B, C, H, W), then `block.proj_out`.

Write the scores and the softmax yourself (no `F.scaled_dot_product_attention`, no
`dat_edu.attention.scaled_dot_product_attention`); calling the block itself is not allowed. Do not
call your Part 1 or Part 2 functions: everything you need is passed in.
""")

code("part3-code", """
def attend(block: DeformableAttention, x: torch.Tensor, x_sampled: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    \"\"\"x (B, C, H, W), x_sampled (B, C, Hk, Wk), pos (B, g, Hk, Wk, 2) -> y (B, C, H, W).\"\"\"
    ### BEGIN SOLUTION
    H, W = x.shape[2:]
    nh = block.num_heads
    q = rearrange(block.proj_q(x), "b (h c) y x -> b h (y x) c", h=nh)  # (B, nh, HW, hc)
    k = rearrange(block.proj_k(x_sampled), "b (h c) y x -> b h (y x) c", h=nh)  # (B, nh, Ns, hc)
    v = rearrange(block.proj_v(x_sampled), "b (h c) y x -> b h (y x) c", h=nh)
    scores = torch.einsum("bhmc,bhnc->bhmn", q, k) * block.head_dim ** -0.5  # (B, nh, HW, Ns)
    scores = scores + deformable_position_bias(block.rpe_table, reference_grid(H, W), pos)
    attn = scores.softmax(dim=-1)  # over the keys
    z = torch.einsum("bhmn,bhnc->bhmc", attn, v)  # (B, nh, HW, hc)
    z = rearrange(z, "b h (y x) c -> b (h c) y x", y=H)  # heads merged, head 0 first
    return block.proj_out(z)
    ### END SOLUTION
""")

check("part3-check", 3, 2, """
FORBIDDEN_3 = ("dat_edu.deformable.DeformableAttention.forward", "dat_edu.deformable.DeformableAttention.relative_position_bias",
               "F.scaled_dot_product_attention", "dat_edu.attention.scaled_dot_product_attention")

def block_inputs(blk, x):
    pos, _ = blk.sampling_positions(blk.proj_q(x))  # (B*g, Hk, Wk, 2)
    return blk.sample_keys(x, pos), rearrange(pos, "(b g) h w p -> b g h w p", g=blk.num_groups)

with part(3, "attention output"):
    with torch.no_grad():
        xs, pos = block_inputs(block, x)
        y = forbid_calls(attend, *FORBIDDEN_3, args=(block, x, xs, pos))
        check_shape(y, (B, C, H, W), "the output for x (2, 24, 6, 10)")
        no_bias = copy.deepcopy(block)
        no_bias.rpe_table.zero_()
        check_close(attend(no_bias, x, xs, pos), no_bias(x),
                    "with a zero position table the output differs from DeformableAttention's: check the projections, the heads, the scale, the softmax axis and proj_out", atol=1e-5)
        check_close(y, block(x), "with the position table the output differs from DeformableAttention's: check the position bias and where it is added", atol=1e-5)
    ### BEGIN HIDDEN TESTS
    with torch.no_grad():
        other = DeformableAttention(12, num_heads=3, num_groups=3, q_size=(4, 7), stride=1, kernel_size=5).eval()
        other.rpe_table.normal_(0.0, 1.0)
        xo = torch.randn(1, 12, 4, 7)
        xs, pos = block_inputs(other, xo)
        check_close(attend(other, xo, xs, pos), other(xo), "hidden test: an output", atol=1e-5)
    ### END HIDDEN TESTS
""")

md("summary", """
## Summary

- Positions: groups of consecutive channels, raw offsets from the offset network, tanh × factor /
  (Hk, Wk), channels last, plus the reference points $((i + 0.5)/H_k)\\,2 - 1$.
- Keys: `grid_sample` of the **input** per group, $(y, x) \\to (x, y)$, `align_corners=True`.
- Attention: heads of $h_c$ consecutive channels, $q k^\\top / \\sqrt{h_c}$ + the deformable position
  bias, softmax over the keys, heads merged, `proj_out`. This is exactly
  `dat_edu.deformable.DeformableAttention` (and the official `DAttentionBaseline`).

**Next:** lesson `notebooks/08_dat_model.ipynb`, then `exercises/08_dat_model.ipynb`.
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
