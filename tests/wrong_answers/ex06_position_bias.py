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


def _bias(disp="0.5 * (q - k)", grid="disp.flip(-1)", align="True", heads="(g hg)", padding="zeros"):
    return (
        "B, g = pos.shape[:2]\n"
        "q = rearrange(q_grid, 'h w c -> 1 (h w) 1 c')\n"
        "k = rearrange(pos, 'b g hk wk c -> (b g) 1 (hk wk) c')\n"
        f"disp = {disp}\n"
        f"tbl = rearrange(table.expand(B, *table.shape), 'b {heads} y x -> (b g) hg y x', g=g)\n"
        f"bias = F.grid_sample(tbl, {grid}, mode='bilinear', padding_mode='{padding}', align_corners={align})\n"
        f"return rearrange(bias, '(b g) hg i j -> b {heads} i j', b=B)"
    )


def _corr(to_pixels="((u + 1) * size - 1) / 2", delta="to_pixels(q) - to_pixels(k)", coord="delta / (size - 1)",
          grid="coord.flip(-1)", padding="zeros", heads="(g hg)"):
    return (
        "H, W = q_grid.shape[:2]\n"
        "B, g = pos.shape[:2]\n"
        "size = torch.tensor([H, W], dtype=pos.dtype)\n"
        "q = rearrange(q_grid, 'h w c -> 1 (h w) 1 c')\n"
        "k = rearrange(pos, 'b g hk wk c -> (b g) 1 (hk wk) c')\n"
        "def to_pixels(u):\n"
        f"    return {to_pixels}\n"
        f"delta = {delta}\n"
        f"coord = {coord}\n"
        f"tbl = rearrange(table.expand(B, *table.shape), 'b {heads} y x -> (b g) hg y x', g=g)\n"
        f"bias = F.grid_sample(tbl, {grid}, mode='bilinear', padding_mode='{padding}', align_corners=True)\n"
        f"return rearrange(bias, '(b g) hg i j -> b {heads} i j', b=B)"
    )


def _dpp(d="4 * (q - k)", d_hat="torch.sign(d) * torch.log2(d.abs() + 1) / 3.0", act="torch.relu",
         split="b g i j (gh hg) -> b g gh hg i j", own="out[:, i, i]"):
    return (
        "import math\n"
        "g = pos.shape[1]\n"
        "q = rearrange(q_grid, 'h w c -> 1 1 (h w) 1 c')\n"
        "k = rearrange(pos, 'b g hk wk c -> b g 1 (hk wk) c')\n"
        f"d = {d}\n"
        f"d_hat = {d_hat}\n"
        f"out = fc2({act}(fc1(d_hat)))\n"
        f"out = rearrange(out, '{split}', gh=g)\n"
        f"own = torch.stack([{own} for i in range(g)], dim=1)\n"
        "return rearrange(own, 'b g hg i j -> b (g hg) i j')"
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
        ("padding_mode='border': keys outside the table read its edge",
         _bias(padding="border")),
        ("padding_mode='reflection'",
         _bias(padding="reflection")),
    ],
    4: [
        ("the official lookup (half the normalized displacement) instead of the corrected one",
         _corr(coord="0.5 * (q - k)")),
        ("pixels under align_corners=True instead of the centre grid's align_corners=False",
         _corr(to_pixels="(u + 1) / 2 * (size - 1)")),
        ("table coordinate divided by H instead of H - 1",
         _corr(coord="delta / size")),
        ("key minus query",
         _corr(delta="to_pixels(k) - to_pixels(q)")),
        ("passes (y, x) to grid_sample without swapping to (x, y)",
         _corr(grid="coord"), "(y, x)"),
        ("pixel displacement used directly as the grid coordinate",
         _corr(coord="delta")),
        ("padding_mode='border'",
         _corr(padding="border")),
        ("heads of the groups interleaved ((hg g) instead of (g hg))",
         _corr(heads="(hg g)")),
    ],
    5: [
        ("natural log instead of log2: log(1 + |d|) / 3",
         _dpp(d_hat="torch.sign(d) * torch.log1p(d.abs()) / 3.0")),
        ("forgets to scale the displacement by 4",
         _dpp(d="q - k")),
        ("forgets the division by log2(8)",
         _dpp(d_hat="torch.sign(d) * torch.log2(d.abs() + 1)")),
        ("drops the sign",
         _dpp(d_hat="torch.log2(d.abs() + 1) / 3.0")),
        ("the SwinV2 transform sign(d) log(1 + |d|) on the unscaled displacement",
         _dpp(d="q - k", d_hat="torch.sign(d) * torch.log1p(d.abs())")),
        ("key minus query",
         _dpp(d="4 * (k - q)")),
        ("GELU instead of ReLU in the MLP",
         _dpp(act="F.gelu")),
        ("every group keeps heads 0..hg-1 (group 0's heads)",
         _dpp(own="out[:, i, 0]")),
        ("heads of the groups interleaved ((hg gh) instead of (gh hg))",
         _dpp(split="b g i j (hg gh) -> b g gh hg i j")),
    ],
    6: [
        ("forgets the quirk: 3",
         "official_reads_3px_at_7 = 3.0"),
        ("scales by H / (H - 1) instead of (H - 1) / H",
         "official_reads_3px_at_7 = 3 * 7 / 6"),
        ("answers with the table column instead of the displacement (W - 1 + ...)",
         "official_reads_3px_at_7 = 6 + 3 * 6 / 7"),
        ("the stage-3 factor (H = 14) instead of H = 7",
         "official_reads_3px_at_7 = 3 * 13 / 14"),
    ],
}

# Wrong answers that passed the visible check before keys outside the map were tried (old_checks.py).
PASSED_OLD = [(3, d, c) for d, c, *_ in WRONG[3] if d.startswith("padding_mode=")]
