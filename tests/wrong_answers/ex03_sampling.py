"""Realistic wrong answers for exercises/03_sampling.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/03_sampling.ipynb belongs to part N) and
must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""

_BILINEAR_HEAD = (
    "c, h, w = feat.shape\n"
    "y0, x0 = torch.floor(py), torch.floor(px)\n"
    "ty, tx = py - y0, px - x0\n"
    "y0, x0 = y0.long(), x0.long()\n"
    "out = feat.new_zeros(c, py.shape[0])\n"
)



def _bilinear(weights="((0, 0, (1 - ty) * (1 - tx)), (0, 1, (1 - ty) * tx), (1, 0, ty * (1 - tx)), (1, 1, ty * tx))",
              zeros="padding == 'zeros'"):
    return (
        _BILINEAR_HEAD +
        f"for dy, dx, weight in {weights}:\n"
        "    yi, xi = y0 + dy, x0 + dx\n"
        "    values = feat[:, yi.clamp(0, h - 1), xi.clamp(0, w - 1)]\n"
        f"    if {zeros}:\n"
        "        weight = weight * ((yi >= 0) & (yi < h) & (xi >= 0) & (xi < w))\n"
        "    out = out + values * weight\n"
        "return out"
    )


WRONG = {
    1: [
        ("stores (x, y) instead of (y, x)",
         "ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1\n"
         "xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1\n"
         "grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')\n"
         "return torch.stack((grid_x, grid_y), dim=-1)"),
        ("the align_corners=True grid (linspace from -1 to 1)",
         "grid_y, grid_x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing='ij')\n"
         "return torch.stack((grid_y, grid_x), dim=-1)"),
        ("off by half a pixel: i / h * 2 - 1 (forgets the + 0.5)",
         "ys = torch.arange(h, dtype=torch.float32) / h * 2 - 1\n"
         "xs = torch.arange(w, dtype=torch.float32) / w * 2 - 1\n"
         "grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')\n"
         "return torch.stack((grid_y, grid_x), dim=-1)"),
        ("meshgrid with indexing='xy' (shape (w, h, 2))",
         "ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1\n"
         "xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1\n"
         "grid_y, grid_x = torch.meshgrid(ys, xs, indexing='xy')\n"
         "return torch.stack((grid_y, grid_x), dim=-1)"),
    ],
    2: [
        ("align_corners branches mixed up",
         "if not align_corners:\n"
         "    return p / (size - 1) * 2 - 1\n"
         "return (2 * p + 1) / size - 1"),
        ("align_corners=True divides by size instead of size - 1",
         "if align_corners:\n"
         "    return p / size * 2 - 1\n"
         "return (2 * p + 1) / size - 1"),
        ("align_corners=False forgets the half pixel",
         "if align_corners:\n"
         "    return p / (size - 1) * 2 - 1\n"
         "return 2 * p / size - 1"),
    ],
    3: [
        ("x and y fractions swapped in the weights",
         _bilinear(weights="((0, 0, (1 - tx) * (1 - ty)), (0, 1, (1 - tx) * ty), (1, 0, tx * (1 - ty)), (1, 1, tx * ty))")),
        ("clamps indices but keeps the weight of outside neighbours, whatever the padding (always 'border')",
         _bilinear(zeros="False")),
        ("drops the weight of outside neighbours, whatever the padding (always 'zeros')",
         _bilinear(zeros="True")),
        ("'border' clamps the point to the outer pixel edges [-0.5, size - 0.5] instead of the border pixel centres",
         "c, h, w = feat.shape\n"
         "if padding == 'border':\n"
         "    py, px = py.clamp(-0.5, h - 0.5), px.clamp(-0.5, w - 0.5)\n" + _BILINEAR_HEAD.replace("c, h, w = feat.shape\n", "") +
         "for dy, dx, weight in ((0, 0, (1 - ty) * (1 - tx)), (0, 1, (1 - ty) * tx), (1, 0, ty * (1 - tx)), (1, 1, ty * tx)):\n"
         "    yi, xi = y0 + dy, x0 + dx\n"
         "    inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)\n"
         "    out = out + feat[:, yi.clamp(0, h - 1), xi.clamp(0, w - 1)] * (weight * inside)\n"
         "return out"),
        ("'border' renormalizes the weights of the inside neighbours instead of clamping",
         _BILINEAR_HEAD + "total = torch.zeros_like(py)\n"
         "for dy, dx, weight in ((0, 0, (1 - ty) * (1 - tx)), (0, 1, (1 - ty) * tx), (1, 0, ty * (1 - tx)), (1, 1, ty * tx)):\n"
         "    yi, xi = y0 + dy, x0 + dx\n"
         "    inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)\n"
         "    out = out + feat[:, yi.clamp(0, h - 1), xi.clamp(0, w - 1)] * (weight * inside)\n"
         "    total = total + weight * inside\n"
         "return out / total.clamp(min=1e-12) if padding == 'border' else out"),
        ("nearest neighbour (rounds) instead of bilinear",
         "c, h, w = feat.shape\n"
         "yi, xi = torch.round(py).long(), torch.round(px).long()\n"
         "inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)\n"
         "return feat[:, yi.clamp(0, h - 1), xi.clamp(0, w - 1)] * inside"),
        ("calls F.grid_sample",
         "c, h, w = feat.shape\n"
         "grid = torch.stack([px / (w - 1) * 2 - 1, py / (h - 1) * 2 - 1], dim=-1).view(1, 1, -1, 2)\n"
         "return F.grid_sample(feat[None], grid, mode='bilinear', padding_mode=padding, align_corners=True)[0, :, 0]"),
    ],
    4: [
        ("forgets the (y, x) -> (x, y) swap",
         "return F.grid_sample(x, pos, mode='bilinear', padding_mode='zeros', align_corners=align_corners)", "order"),
        ("hard-codes align_corners=False",
         "return F.grid_sample(x, pos[..., (1, 0)], mode='bilinear', padding_mode='zeros', align_corners=False)"),
        ("flips the wrong dimension (pos.flip(0))",
         "return F.grid_sample(x, pos.flip(0), mode='bilinear', padding_mode='zeros', align_corners=align_corners)"),
        ("padding_mode='border' instead of zero padding",
         "return F.grid_sample(x, pos[..., (1, 0)], mode='bilinear', padding_mode='border', align_corners=align_corners)"),
        ("padding_mode='reflection' instead of zero padding",
         "return F.grid_sample(x, pos[..., (1, 0)], mode='bilinear', padding_mode='reflection', align_corners=align_corners)"),
    ],
    5: [
        ("forgets the quirk: row 3 is read at pixel 3",
         "row3_of_8_pixel = 3.0"),
        ("scales by H / (H - 1) instead of (H - 1) / H",
         "row3_of_8_pixel = 3.5 * 8 / 7"),
        ("forgets the half pixel of the centre formula: 3 (H - 1) / H",
         "row3_of_8_pixel = 3 * 7 / 8"),
        ("answers with the normalized coordinate instead of the pixel row",
         "row3_of_8_pixel = (3 + 0.5) / 8 * 2 - 1"),
    ],
}

# Wrong answers that passed the visible check before it was tightened (old_checks.py).
PASSED_OLD = [(4, d, c) for d, c, *_ in WRONG[4] if d in (
    "padding_mode='border' instead of zero padding", "padding_mode='reflection' instead of zero padding")]
