"""Realistic wrong answers for exercises/06_position_bias.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/06_position_bias.ipynb belongs to part N) and
must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""


def _index(rel_line, combine="rel[0] * (2 * window - 1) + rel[1]"):
    return (
        "ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing='ij')\n"
        "coords = torch.stack((ys.flatten(), xs.flatten()))\n"
        f"{rel_line}\n"
        f"return {combine}"
    )


_REL = "rel = coords[:, :, None] - coords[:, None, :] + (window - 1)"


def _bias(disp="0.5 * (q - k)", grid="disp.flip(-1)", align="True", heads="(g hg)"):
    return (
        "B, g = pos.shape[:2]\n"
        "q = rearrange(q_grid, 'h w c -> 1 (h w) 1 c')\n"
        "k = rearrange(pos, 'b g hk wk c -> (b g) 1 (hk wk) c')\n"
        f"disp = {disp}\n"
        f"tbl = rearrange(table.expand(B, *table.shape), 'b {heads} y x -> (b g) hg y x', g=g)\n"
        f"bias = F.grid_sample(tbl, {grid}, mode='bilinear', align_corners={align})\n"
        f"return rearrange(bias, '(b g) hg i j -> b {heads} i j', b=B)"
    )


def _logd(expr, d="q - k"):
    return (
        "q = rearrange(q_grid, 'h w c -> 1 1 (h w) 1 c')\n"
        "k = rearrange(pos, 'b g hk wk c -> b g 1 (hk wk) c')\n"
        f"d = {d}\n"
        f"return {expr}"
    )


WRONG = {
    1: [
        ("key minus query instead of query minus key",
         _index("rel = coords[:, None, :] - coords[:, :, None] + (window - 1)")),
        ("x selects the row of cells (Δy and Δx swapped)",
         _index(_REL, "rel[1] * (2 * window - 1) + rel[0]")),
        ("multiplies by w instead of 2w - 1",
         _index(_REL, "rel[0] * window + rel[1]")),
        ("forgets to shift the displacements by w - 1 (negative indices)",
         _index("rel = coords[:, :, None] - coords[:, None, :]")),
        ("returns a float tensor",
         _index(_REL, "(rel[0] * (2 * window - 1) + rel[1]).float()")),
    ],
    2: [
        ("reshapes (N*N, nh) to (nh, N, N) instead of moving the head dimension",
         "n = index.shape[0]\n"
         "return table[index.reshape(-1)].reshape(table.shape[1], n, n)"),
        ("queries and keys transposed (transpose(0, 2) of (N, N, nh))",
         "return table[index].transpose(0, 2)"),
        ("leaves the heads last: (N, N, nh)",
         "return table[index]"),
    ],
    3: [
        ("passes (y, x) to grid_sample without swapping to (x, y)",
         _bias(grid="disp")),
        ("align_corners=False",
         _bias(align="False")),
        ("displacement not halved",
         _bias(disp="q - k")),
        ("key minus query",
         _bias(disp="0.5 * (k - q)")),
        ("heads of the groups interleaved ((hg g) instead of (g hg))",
         _bias(heads="(hg g)")),
    ],
    4: [
        ("log1p without the sign (nan below -1)",
         _logd("torch.log1p(d)")),
        ("log(|d|) without the 1 + (−inf at 0)",
         _logd("torch.sign(d) * torch.log(d.abs())")),
        ("drops the sign: log(1 + |d|)",
         _logd("torch.log1p(d.abs())")),
        ("key minus query",
         _logd("torch.sign(d) * torch.log1p(d.abs())", d="k - q")),
        ("log base 2",
         _logd("torch.sign(d) * torch.log2(1 + d.abs())")),
    ],
}
