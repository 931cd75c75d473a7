"""Realistic wrong answers for exercises/05_attention.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/05_attention.ipynb belongs to part N) and
must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""

_STABLE = (
    "shifted = scores - scores.detach().amax(dim=-1, keepdim=True)\n"
    "e = shifted.exp()\n"
    "attn = e / e.sum(dim=-1, keepdim=True)\n"
    "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"
)

def _mask(shift_line, fill="masked_fill(lab[:, :, None] != lab[:, None, :], -100.0)"):
    return (
        shift_line + "\n"
        "labels = torch.zeros(h, w)\n"
        "cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))\n"
        "region = 0\n"
        "for rows in cuts:\n"
        "    for cols in cuts:\n"
        "        labels[rows, cols] = region\n"
        "        region += 1\n"
        "lab = rearrange(labels, '(r1 h1) (r2 w1) -> (r1 r2) (h1 w1)', h1=window, w1=window)\n"
        "return torch.zeros(lab.shape[0], lab.shape[1], lab.shape[1])." + fill
    )


_CEIL = "shift = math.ceil(window / 2) if shift is None else shift"

WRONG = {
    1: [
        ("forgets the 1/sqrt(d) scale",
         "scores = torch.einsum('bhqd,bhkd->bhqk', q, k) * (1.0 if scale is None else scale)\n" + _STABLE),
        ("scales by 1/d instead of 1/sqrt(d)",
         "scores = torch.einsum('bhqd,bhkd->bhqk', q, k) * (1.0 / q.shape[-1] if scale is None else scale)\n" + _STABLE),
        ("softmax over the queries (dim=-2) instead of the keys",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "scores = torch.einsum('bhqd,bhkd->bhqk', q, k) * scale\n"
         "e = (scores - scores.amax(dim=-2, keepdim=True)).exp()\n"
         "attn = e / e.sum(dim=-2, keepdim=True)\n"
         "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"),
        ("textbook softmax without subtracting the maximum (overflows)",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "e = (torch.einsum('bhqd,bhkd->bhqk', q, k) * scale).exp()\n"
         "attn = e / e.sum(dim=-1, keepdim=True)\n"
         "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"),
        ("calls torch.softmax instead of writing the stable softmax",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "attn = torch.softmax(torch.einsum('bhqd,bhkd->bhqk', q, k) * scale, dim=-1)\n"
         "return attn @ v, attn"),
        ("calls the tensor method .softmax(dim=-1)",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "attn = (torch.einsum('bhqd,bhkd->bhqk', q, k) * scale).softmax(dim=-1)\n"
         "return attn @ v, attn"),
        ("ignores the scale argument",
         "scores = torch.einsum('bhqd,bhkd->bhqk', q, k) * q.shape[-1] ** -0.5\n" + _STABLE),
    ],
    2: [
        ("splits the channels as (d h) instead of (h d)",
         "q, k, v = (tokens @ w_qkv.T + b_qkv).chunk(3, dim=-1)\n"
         "q, k, v = (rearrange(t, 'b n (d h) -> b h n d', h=heads) for t in (q, k, v))\n"
         "out, _ = scaled_dot_product_attention(q, k, v)\n"
         "return rearrange(out, 'b h n d -> b n (d h)') @ w_out.T + b_out"),
        ("merges the heads as (d h) after splitting them as (h d)",
         "q, k, v = (tokens @ w_qkv.T + b_qkv).chunk(3, dim=-1)\n"
         "q, k, v = (rearrange(t, 'b n (h d) -> b h n d', h=heads) for t in (q, k, v))\n"
         "out, _ = scaled_dot_product_attention(q, k, v)\n"
         "return rearrange(out, 'b h n d -> b n (d h)') @ w_out.T + b_out"),
        ("scales by 1/sqrt(C) (all channels) instead of 1/sqrt(d) per head",
         "q, k, v = (tokens @ w_qkv.T + b_qkv).chunk(3, dim=-1)\n"
         "q, k, v = (rearrange(t, 'b n (h d) -> b h n d', h=heads) for t in (q, k, v))\n"
         "out, _ = scaled_dot_product_attention(q, k, v, scale=tokens.shape[-1] ** -0.5)\n"
         "return rearrange(out, 'b h n d -> b n (h d)') @ w_out.T + b_out"),
        ("reads q, k, v interleaved per channel ((c three)) instead of three contiguous blocks",
         "qkv = rearrange(tokens @ w_qkv.T + b_qkv, 'b n (c three) -> three b n c', three=3)\n"
         "q, k, v = (rearrange(t, 'b n (h d) -> b h n d', h=heads) for t in qkv)\n"
         "out, _ = scaled_dot_product_attention(q, k, v)\n"
         "return rearrange(out, 'b h n d -> b n (h d)') @ w_out.T + b_out"),
        ("forgets the output projection",
         "q, k, v = (tokens @ w_qkv.T + b_qkv).chunk(3, dim=-1)\n"
         "q, k, v = (rearrange(t, 'b n (h d) -> b h n d', h=heads) for t in (q, k, v))\n"
         "out, _ = scaled_dot_product_attention(q, k, v)\n"
         "return rearrange(out, 'b h n d -> b n (h d)')"),
    ],
    3: [
        ("reshapes instead of rearranging (scrambles pixels across windows)",
         "B, C, H, W = x.shape\n"
         "return x.reshape(B * (H // window) * (W // window), window * window, C)"),
        ("numbers the windows column by column ((b r2 r1))",
         "return rearrange(x, 'b c (r1 h1) (r2 w1) -> (b r2 r1) (h1 w1) c', h1=window, w1=window)"),
        ("tokens column-major inside a window ((w1 h1))",
         "return rearrange(x, 'b c (r1 h1) (r2 w1) -> (b r1 r2) (w1 h1) c', h1=window, w1=window)"),
        ("channels before tokens",
         "return rearrange(x, 'b c (r1 h1) (r2 w1) -> (b r1 r2) c (h1 w1)', h1=window, w1=window)"),
    ],
    4: [
        ("default shift window // 2 (Swin's 3) instead of DAT's ceil(window / 2)",
         _mask("shift = window // 2 if shift is None else shift")),
        ("-inf instead of -100 for blocked pairs",
         _mask(_CEIL, "masked_fill(lab[:, :, None] != lab[:, None, :], float('-inf'))")),
        ("labels only the rows (3 regions instead of 9)",
         "shift = math.ceil(window / 2) if shift is None else shift\n"
         "labels = torch.zeros(h, w)\n"
         "for r, rows in enumerate((slice(0, -window), slice(-window, -shift), slice(-shift, None))):\n"
         "    labels[rows, :] = r\n"
         "lab = rearrange(labels, '(r1 h1) (r2 w1) -> (r1 r2) (h1 w1)', h1=window, w1=window)\n"
         "return torch.zeros(lab.shape[0], lab.shape[1], lab.shape[1]).masked_fill(lab[:, :, None] != lab[:, None, :], -100.0)"),
        ("cuts the regions at the shift and the window the other way round",
         "shift = math.ceil(window / 2) if shift is None else shift\n"
         "labels = torch.zeros(h, w)\n"
         "cuts = (slice(0, -shift), slice(-shift, -window), slice(-window, None))\n"
         "region = 0\n"
         "for rows in cuts:\n"
         "    for cols in cuts:\n"
         "        labels[rows, cols] = region\n"
         "        region += 1\n"
         "lab = rearrange(labels, '(r1 h1) (r2 w1) -> (r1 r2) (h1 w1)', h1=window, w1=window)\n"
         "return torch.zeros(lab.shape[0], lab.shape[1], lab.shape[1]).masked_fill(lab[:, :, None] != lab[:, None, :], -100.0)"),
        ("mask inverted (-100 between tokens of the same region)",
         _mask(_CEIL, "masked_fill(lab[:, :, None] == lab[:, None, :], -100.0)")),
        ("windows of the label map numbered column by column",
         "shift = math.ceil(window / 2) if shift is None else shift\n"
         "labels = torch.zeros(h, w)\n"
         "cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))\n"
         "region = 0\n"
         "for rows in cuts:\n"
         "    for cols in cuts:\n"
         "        labels[rows, cols] = region\n"
         "        region += 1\n"
         "lab = rearrange(labels, '(r1 h1) (r2 w1) -> (r2 r1) (h1 w1)', h1=window, w1=window)\n"
         "return torch.zeros(lab.shape[0], lab.shape[1], lab.shape[1]).masked_fill(lab[:, :, None] != lab[:, None, :], -100.0)"),
    ],
}
