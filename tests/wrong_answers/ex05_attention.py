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

def _swa(roll_back=True, first="-shift", last="shift", mask=True, repeat="repeat(B, 1, 1)", dims="(2, 3)",
         merge="rearrange(out[:, 0], '(b r1 r2) (h1 w1) c -> b c (r1 h1) (r2 w1)', b=B, r1=H // window, h1=window)",
         scale="None"):
    shifts = "(s, s)" if dims == "(2, 3)" else "s"
    return (
        "B, C, H, W = x.shape\n"
        "if shift > 0:\n"
        f"    s = {first}\n"
        f"    x = torch.roll(x, shifts={shifts}, dims={dims})\n"
        "t = rearrange(partition_windows(x, window), 'n t c -> n 1 t c')\n"
        "bias = None\n"
        f"if shift > 0 and {mask}:\n"
        f"    bias = shift_mask(H, W, window, shift).{repeat}[:, None]\n"
        f"out, _ = scaled_dot_product_attention(t, t, t, bias=bias, scale={scale})\n"
        f"y = {merge}\n"
        f"if shift > 0 and {roll_back}:\n"
        f"    s = {last}\n"
        f"    y = torch.roll(y, shifts={shifts}, dims={dims})\n"
        "return y"
    )


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
        ("naive softmax computed in float64 (overflows later, but still overflows)",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "e = (torch.einsum('bhqd,bhkd->bhqk', q, k) * scale).double().exp()\n"
         "attn = (e / e.sum(dim=-1, keepdim=True)).to(q.dtype)\n"
         "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"),
        ("exp of log_softmax (a ready-made softmax in log space)",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "attn = F.log_softmax(torch.einsum('bhqd,bhkd->bhqk', q, k) * scale, dim=-1).exp()\n"
         "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"),
        ("exp(scores - logsumexp(scores))",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "scores = torch.einsum('bhqd,bhkd->bhqk', q, k) * scale\n"
         "attn = (scores - scores.logsumexp(dim=-1, keepdim=True)).exp()\n"
         "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"),
        ("calls the library's stable_softmax",
         "from dat_edu.attention import stable_softmax\n"
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "attn = stable_softmax(torch.einsum('bhqd,bhkd->bhqk', q, k) * scale)\n"
         "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"),
        ("an nn.Softmax module",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "attn = nn.Softmax(dim=-1)(torch.einsum('bhqd,bhkd->bhqk', q, k) * scale)\n"
         "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"),
        ("subtracts the maximum of the whole tensor, not of each row",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "scores = torch.einsum('bhqd,bhkd->bhqk', q, k) * scale\n"
         "e = (scores - scores.detach().max()).exp()\n"
         "attn = e / e.sum(dim=-1, keepdim=True)\n"
         "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"),
        ("clamps the scores at 80 instead of subtracting the maximum",
         "scale = q.shape[-1] ** -0.5 if scale is None else scale\n"
         "e = (torch.einsum('bhqd,bhkd->bhqk', q, k) * scale).clamp(max=80.0).exp()\n"
         "attn = e / e.sum(dim=-1, keepdim=True)\n"
         "return torch.einsum('bhqk,bhkd->bhqd', attn, v), attn"),
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
    5: [
        ("forgets to roll back at the end",
         _swa(roll_back=False)),
        ("rolls by +shift first and by -shift at the end",
         _swa(first="shift", last="-shift")),
        ("forgets the mask",
         _swa(mask=False)),
        ("repeats each window's mask per image (repeat_interleave) instead of the whole set per image",
         _swa(repeat="repeat_interleave(B, dim=0)")),
        ("rolls only along the rows",
         _swa(dims="2")),
        ("merges the windows with a reshape instead of the inverse rearrange",
         _swa(merge="out[:, 0].reshape(B, C, H, W)")),
        ("scale 1/sqrt(window**2) instead of 1/sqrt(C)",
         _swa(scale="window ** -1.0")),
    ],
    6: [
        ("dense attention on the map (294 x 294)",
         "window_entries_14x21 = (14 * 21) ** 2"),
        ("one score per window pair (49 x 49) for one window only",
         "window_entries_14x21 = 49 * 49"),
        ("number of windows times tokens per window (no key dimension)",
         "window_entries_14x21 = 6 * 49"),
        ("a float instead of an int",
         "window_entries_14x21 = 14406.0"),
    ],
}

# Wrong answers that passed the visible check before it was tightened (old_checks.py).
PASSED_OLD = [(1, d, c) for d, c, *_ in WRONG[1] if d in (
    "naive softmax computed in float64 (overflows later, but still overflows)", "exp of log_softmax (a ready-made softmax in log space)",
    "exp(scores - logsumexp(scores))", "calls the library's stable_softmax",
    "clamps the scores at 80 instead of subtracting the maximum")]
