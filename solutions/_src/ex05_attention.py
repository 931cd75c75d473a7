"""Build solutions/05_attention.ipynb (unexecuted); then run
`python -m dat_edu.course.execute solutions/05_attention.ipynb` and `python -m dat_edu.course.exercises`.

One solution region per part, in part order (region N belongs to part N: tests/wrong_answers rely on it).
No part's solution calls another part's function, so a wrong answer fails only its own check.
"""
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
NAME = "05_attention"
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
# Exercise 05 · Attention: the stable softmax, heads, windows and the shifted-window mask

**What you practise:** scaled dot-product attention with a softmax that cannot overflow, splitting
channels into heads and merging them back with `rearrange`, cutting a feature map into Swin windows
in the right order, and the $-100$ mask of shifted windows (with DAT's shift $\\lceil w/2 \\rceil$).

This exercise belongs to lesson `notebooks/05_attention.ipynb` (sections 1, 2, 3 and 5); reread
them if a part is unclear.

**How to work:** in each part, replace `# YOUR CODE HERE` and `raise NotImplementedError()` inside
the function with your code, run the cell, then run the check cell below it. A check cell prints
`Part N (...): passed` or tells you which property is wrong. Do not edit the check cells (they are
read-only; the grader runs its own copy, with a few more tests). Check the whole notebook from the
repository root with

```bash
.venv/bin/python -m pytest --nbval --nbval-current-env exercises/05_attention.ipynb
```
""")

code("setup", """
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from dat_edu.attention import scaled_dot_product_attention
from dat_edu.course.checks import check, check_close, check_shape, forbid_calls, part
from dat_edu.windows import shifted_window_mask, window_partition

_ = torch.manual_seed(0)
""")

md("part1-md", """
## Part 1 · Scaled dot-product attention with a stable softmax (2 points)

Write `attention(q, k, v, scale=None)` returning `(out, attn)`:

- `q` (B, h, Nq, d), `k` (B, h, Nk, d), `v` (B, h, Nk, dv); `Nq`, `Nk`, `d` and `dv` may all differ;
- scores = $q k^\\top$ times `scale` (default $1/\\sqrt{d}$), shape (B, h, Nq, Nk);
- `attn` = the softmax of the scores **over the keys**, written out by you so that it cannot
  overflow (lesson 05, section 2): huge scores such as $10^4$ must not give `inf` or `nan`;
- `out` = `attn` applied to the values, (B, h, Nq, dv).

Do not call `torch.softmax`, `F.softmax`, `Tensor.softmax` or any ready-made attention
(`F.scaled_dot_product_attention`, `dat_edu.attention.scaled_dot_product_attention`): the check
refuses them (it looks for those names in your function, so call a helper of your own
`my_softmax`, say, rather than `softmax`). `torch.einsum` (or `@`), `exp`, `amax`/`max` and `sum`
are all you need.
""")

code("part1-code", """
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None):
    \"\"\"softmax(q k^T * scale) v. q (B, h, Nq, d), k (B, h, Nk, d), v (B, h, Nk, dv) -> (out (B, h, Nq, dv), attn (B, h, Nq, Nk)).\"\"\"
    ### BEGIN SOLUTION
    if scale is None:
        scale = q.shape[-1] ** -0.5  # 1/sqrt(d): unit-variance scores
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) * scale  # (B, h, Nq, Nk)
    # subtract the row maximum (a constant per row, so no gradient needed): every exponent <= 0
    shifted = scores - scores.detach().amax(dim=-1, keepdim=True)
    e = shifted.exp()
    attn = e / e.sum(dim=-1, keepdim=True)  # rows (over the keys) sum to 1
    out = torch.einsum("bhqk,bhkd->bhqd", attn, v)  # (B, h, Nq, dv)
    return out, attn
    ### END SOLUTION
""")

check("part1-check", 1, 2, """
FORBIDDEN_1 = ("torch.softmax", "F.softmax", "F.scaled_dot_product_attention",  # also catches `scores.softmax(...)`
               "dat_edu.attention.scaled_dot_product_attention")

with part(1, "attention with a stable softmax"):
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    res = forbid_calls(attention, *FORBIDDEN_1, args=(q, k, v))
    check(None, isinstance(res, tuple) and len(res) == 2, "attention should return a pair (out, attn)")
    out, attn = res
    check_shape(attn, (2, 3, 5, 7), "attn for q (2, 3, 5, 8), k (2, 3, 7, 8)")
    check_shape(out, (2, 3, 5, 4), "out for v (2, 3, 7, 4)")
    check_close(attn.sum(-1), torch.ones(2, 3, 5), "the attention weights of every query summed over the keys", atol=1e-5)
    check(None, bool((attn >= 0).all()), "attention weights should never be negative")
    check_close(out, F.scaled_dot_product_attention(q, k, v), "out (compared with F.scaled_dot_product_attention at the default scale)", atol=1e-5)
    check_close(attention(q, k, v, scale=0.3)[0], F.scaled_dot_product_attention(q, k, v, scale=0.3),
                "out with scale=0.3 (the scale argument should replace the default)", atol=1e-5)
    qb = q * 60.0  # scores around 1e3 .. 1e4: exp() overflows unless the softmax is stable
    out_b, attn_b = attention(qb, k, v)
    check(None, bool(torch.isfinite(attn_b).all() and torch.isfinite(out_b).all()),
          "with very large scores your softmax returns inf or nan: it is not stable yet (lesson 05, section 2)")
    check_close(out_b, F.scaled_dot_product_attention(qb, k, v), "out for very large scores", atol=1e-4)
    ### BEGIN HIDDEN TESTS
    for shape_q, shape_k, dv in [((1, 1, 1, 3), (1, 1, 9, 3), 2), ((3, 2, 6, 16), (3, 2, 4, 16), 16)]:
        q, k = torch.randn(shape_q, dtype=torch.float64), torch.randn(shape_k, dtype=torch.float64)
        v = torch.randn(*shape_k[:-1], dv, dtype=torch.float64)
        out, attn = attention(q, k, v)
        check_close(out, F.scaled_dot_product_attention(q, k, v), "hidden test: out", atol=1e-9)
        check_close(attn, torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(shape_q[-1]), dim=-1), "hidden test: attn", atol=1e-9)
    q = torch.randn(2, 2, 3, 4, requires_grad=True)
    out, _ = attention(q, k=torch.randn(2, 2, 5, 4), v=torch.randn(2, 2, 5, 4))
    out.sum().backward()
    check(None, q.grad is not None and bool(torch.isfinite(q.grad).all()), "hidden test: the gradient with respect to q")
    ### END HIDDEN TESTS
""")

md("part2-md", """
## Part 2 · Multi-head self-attention on tokens (2 points)

Write `multi_head_self_attention(tokens, w_qkv, b_qkv, w_out, b_out, heads)` for tokens (B, N, C):

1. `qkv = tokens @ w_qkv.T + b_qkv`, shape (B, N, 3C); its last dimension is the q block, then the
   k block, then the v block (C channels each), exactly like `nn.MultiheadAttention.in_proj_weight`
   and the official DAT `proj_qkv`;
2. inside each block the channels are ordered **head by head**: head 0's d = C / heads channels,
   then head 1's, ... Split each block into (B, heads, N, d) with `rearrange`;
3. attention per head with the scale $1/\\sqrt{d}$ (here you may call
   `dat_edu.attention.scaled_dot_product_attention(q, k, v)`, which returns `(out, attn)`, or write it
   out; do not call your Part 1 function, so that this part is graded on its own);
4. merge the heads back into (B, N, C) (head 0's channels first), then apply the output projection
   `@ w_out.T + b_out`.

The check compares with PyTorch's `nn.MultiheadAttention` (which you may not call) holding the same
weights.
""")

code("part2-code", """
def multi_head_self_attention(tokens: torch.Tensor, w_qkv: torch.Tensor, b_qkv: torch.Tensor,
                              w_out: torch.Tensor, b_out: torch.Tensor, heads: int) -> torch.Tensor:
    \"\"\"tokens (B, N, C), w_qkv (3C, C), b_qkv (3C,), w_out (C, C), b_out (C,) -> (B, N, C).\"\"\"
    ### BEGIN SOLUTION
    qkv = tokens @ w_qkv.T + b_qkv  # (B, N, 3C): [q block | k block | v block]
    q, k, v = qkv.chunk(3, dim=-1)  # 3 x (B, N, C)
    q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=heads) for t in (q, k, v))  # channel = head * d + i
    out, _ = scaled_dot_product_attention(q, k, v)  # (B, heads, N, d), scale 1/sqrt(d)
    out = rearrange(out, "b h n d -> b n (h d)")  # heads concatenated, head 0 first
    return out @ w_out.T + b_out  # (B, N, C)
    ### END SOLUTION
""")

check("part2-check", 2, 2, """
def torch_mha(tokens, w_qkv, b_qkv, w_out, b_out, heads):
    C = tokens.shape[-1]
    ref = nn.MultiheadAttention(C, heads, batch_first=True, dtype=tokens.dtype)
    with torch.no_grad():
        ref.in_proj_weight.copy_(w_qkv)
        ref.in_proj_bias.copy_(b_qkv)
        ref.out_proj.weight.copy_(w_out)
        ref.out_proj.bias.copy_(b_out)
        return ref(tokens, tokens, tokens, need_weights=False)[0]

def mha_weights(C, dtype=torch.float32):
    return (torch.randn(3 * C, C, dtype=dtype) / math.sqrt(C), torch.randn(3 * C, dtype=dtype),
            torch.randn(C, C, dtype=dtype) / math.sqrt(C), torch.randn(C, dtype=dtype))

with part(2, "multi-head self-attention"):
    tokens, weights = torch.randn(2, 6, 12), mha_weights(12)
    y = forbid_calls(multi_head_self_attention, "nn.MultiheadAttention", "F.multi_head_attention_forward",
                     args=(tokens, *weights, 1))
    check_shape(y, (2, 6, 12), "the output for tokens (2, 6, 12)")
    check_close(y, torch_mha(tokens, *weights, 1), "with heads=1 the output (compared with nn.MultiheadAttention): check the projections and the scale", atol=1e-4)
    y4 = multi_head_self_attention(tokens, *weights, 4)
    check_shape(y4, (2, 6, 12), "the output for 4 heads")
    check_close(y4, torch_mha(tokens, *weights, 4), "with heads=4 the output (compared with nn.MultiheadAttention): check how the channels are split into heads, the per-head scale, and how the heads are merged", atol=1e-4)
    ### BEGIN HIDDEN TESTS
    for B, N, C, h in [(1, 9, 16, 2), (3, 4, 24, 6), (1, 1, 8, 8)]:
        tokens, weights = torch.randn(B, N, C, dtype=torch.float64), mha_weights(C, torch.float64)
        check_close(multi_head_self_attention(tokens, *weights, h), torch_mha(tokens, *weights, h), "hidden test: the output", atol=1e-9)
    ### END HIDDEN TESTS
""")

md("part3-md", """
## Part 3 · Window partition (1 point)

Write `partition_windows(x, window)`: cut a (B, C, H, W) map into non-overlapping `window` ×
`window` squares and return the tokens of every window, shape (B·nW, window², C) with
nW = (H / window)·(W / window). The order matters, because the shifted-window mask (Part 4) and the
relative position bias (lesson 06) are built for it:

- windows: batch outermost, then window **row**, then window **column**;
- inside a window, tokens in row-major order (token t = row · window + column);
- channels last.

H and W may differ (the check uses non-square maps). One `rearrange` does it; the library's
`window_partition` is not allowed here.
""")

code("part3-code", """
def partition_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    \"\"\"x (B, C, H, W) -> (B * nW, window * window, C); windows row by row, tokens row-major.\"\"\"
    ### BEGIN SOLUTION
    # h = r1 * window + h1, w = r2 * window + w1: (r1, r2) pick the window, (h1, w1) the pixel inside
    return rearrange(x, "b c (r1 h1) (r2 w1) -> (b r1 r2) (h1 w1) c", h1=window, w1=window)
    ### END SOLUTION
""")

check("part3-check", 3, 1, """
with part(3, "window partition"):
    x = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).reshape(2, 3, 8, 12)  # non-square, every value distinct
    wins = forbid_calls(partition_windows, "dat_edu.windows.window_partition", args=(x, 4))
    check_shape(wins, (12, 16, 3), "the windows of a (2, 3, 8, 12) map with window 4")
    check_close(wins[0], rearrange(x[0, :, :4, :4], "c h w -> (h w) c"),
                "window 0 (the top-left 4x4 square of image 0, tokens row-major, channels last)", atol=0)
    check_close(wins[1], rearrange(x[0, :, :4, 4:8], "c h w -> (h w) c"),
                "window 1 (windows are numbered along a window row first)", atol=0)
    check_close(wins, window_partition(x, 4), "all windows", atol=0)
    ### BEGIN HIDDEN TESTS
    for shape, w in [((1, 5, 6, 9), 3), ((3, 2, 14, 7), 7), ((1, 1, 4, 4), 1)]:
        x = torch.randn(shape)
        check_close(partition_windows(x, w), window_partition(x, w), "hidden test: the windows", atol=0)
    ### END HIDDEN TESTS
""")

md("part4-md", """
## Part 4 · The shifted-window mask (2 points)

Write `shift_mask(h, w, window, shift=None)` returning the additive attention mask of shifted
window attention on an `h` × `w` map (lesson 05, "Shifted windows"):

- `shift=None` means **DAT's** shift, $\\lceil \\text{window}/2 \\rceil$ (4 for window 7, not Swin's 3);
- label every pixel of the *rolled* map with its region (3 ranges of rows × 3 ranges of columns),
  cut the label map into windows **in the order of Part 3**, and for every window and every pair
  (query token i, key token j) put 0 if both carry the same label and −100 otherwise;
- return a float tensor of shape (nW, window², window²).

`h` and `w` may differ. The library's `shifted_window_mask` is not allowed here (the check compares
with it).
""")

code("part4-code", """
def shift_mask(h: int, w: int, window: int, shift: int | None = None) -> torch.Tensor:
    \"\"\"Shifted-window attention mask (nW, window**2, window**2): 0 = same region, -100 = blocked.\"\"\"
    ### BEGIN SOLUTION
    if shift is None:
        shift = math.ceil(window / 2)  # DAT: 4 for window 7 (Swin: window // 2 = 3)
    labels = torch.zeros(h, w)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    region = 0
    for rows in cuts:
        for cols in cuts:
            labels[rows, cols] = region
            region += 1
    win_labels = rearrange(labels, "(r1 h1) (r2 w1) -> (r1 r2) (h1 w1)", h1=window, w1=window)  # (nW, N)
    different = win_labels[:, :, None] != win_labels[:, None, :]  # (nW, N, N): query i, key j
    return torch.zeros(different.shape).masked_fill(different, -100.0)
    ### END SOLUTION
""")

check("part4-check", 4, 2, """
with part(4, "shifted-window mask"):
    m = forbid_calls(shift_mask, "dat_edu.windows.shifted_window_mask", args=(14, 21, 7))
    check_shape(m, (6, 49, 49), "the mask of a 14x21 map with window 7")
    check(None, m.is_floating_point(), "the mask should be a float tensor (it is added to the scores)")
    check(None, bool(((m == 0) | (m == -100)).all()), "every mask entry should be either 0 or -100")
    check(None, bool((m == m.transpose(1, 2)).all()), "the mask should be symmetric (i may see j exactly when j may see i)")
    check(None, bool((m.diagonal(dim1=1, dim2=2) == 0).all()), "every token should be allowed to attend to itself")
    check(None, bool((m[0] == 0).all()), "window 0 (top-left, far from the wrapped borders) should not block anything")
    check_close(shift_mask(14, 21, 7, shift=2), shifted_window_mask(14, 21, 7, 2), "the mask for an explicit shift=2", atol=0)
    check_close(m, shifted_window_mask(14, 21, 7, 4), "the mask for the default shift (which shift does DAT use for window 7?)", atol=0)
    ### BEGIN HIDDEN TESTS
    for h, w, win, s in [(8, 12, 4, None), (10, 15, 5, None), (12, 6, 3, 1), (21, 14, 7, 3)]:
        expected = shifted_window_mask(h, w, win, s if s is not None else math.ceil(win / 2))
        check_close(shift_mask(h, w, win, s), expected, "hidden test: a mask", atol=0)
    ### END HIDDEN TESTS
""")

md("summary", """
## Summary

- Attention = two products and a softmax over the keys, with scores scaled by $1/\\sqrt{d}$;
  subtracting the row maximum keeps every exponent $\\le 0$, so the softmax cannot overflow.
- Multi-head attention splits each of q, k, v into heads as `(h d)` channels, attends per head and
  concatenates the heads in the same order.
- `rearrange(x, "b c (r1 h1) (r2 w1) -> (b r1 r2) (h1 w1) c")` is Swin's window partition.
- The shifted-window mask labels 9 regions of the rolled map and blocks (−100) pairs of tokens from
  different regions; DAT shifts by $\\lceil w/2 \\rceil$.

**Next:** lesson `notebooks/06_position_bias.ipynb`, then `exercises/06_position_bias.ipynb`.
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
