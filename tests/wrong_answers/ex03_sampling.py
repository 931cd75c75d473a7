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
         _BILINEAR_HEAD +
         "for dy, dx, weight in ((0, 0, (1 - tx) * (1 - ty)), (0, 1, (1 - tx) * ty), (1, 0, tx * (1 - ty)), (1, 1, tx * ty)):\n"
         "    yi, xi = y0 + dy, x0 + dx\n"
         "    inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)\n"
         "    out = out + feat[:, yi.clamp(0, h - 1), xi.clamp(0, w - 1)] * (weight * inside)\n"
         "return out"),
        ("border padding: clamps indices but keeps the weight of outside neighbours",
         _BILINEAR_HEAD +
         "for dy, dx, weight in ((0, 0, (1 - ty) * (1 - tx)), (0, 1, (1 - ty) * tx), (1, 0, ty * (1 - tx)), (1, 1, ty * tx)):\n"
         "    yi, xi = y0 + dy, x0 + dx\n"
         "    out = out + feat[:, yi.clamp(0, h - 1), xi.clamp(0, w - 1)] * weight\n"
         "return out"),
        ("nearest neighbour (rounds) instead of bilinear",
         "c, h, w = feat.shape\n"
         "yi, xi = torch.round(py).long(), torch.round(px).long()\n"
         "inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)\n"
         "return feat[:, yi.clamp(0, h - 1), xi.clamp(0, w - 1)] * inside"),
        ("calls F.grid_sample",
         "c, h, w = feat.shape\n"
         "grid = torch.stack([px / (w - 1) * 2 - 1, py / (h - 1) * 2 - 1], dim=-1).view(1, 1, -1, 2)\n"
         "return F.grid_sample(feat[None], grid, mode='bilinear', padding_mode='zeros', align_corners=True)[0, :, 0]"),
    ],
    4: [
        ("forgets the (y, x) -> (x, y) swap",
         "return F.grid_sample(x, pos, mode='bilinear', padding_mode='zeros', align_corners=align_corners)"),
        ("hard-codes align_corners=False",
         "return F.grid_sample(x, pos[..., (1, 0)], mode='bilinear', padding_mode='zeros', align_corners=False)"),
        ("flips the wrong dimension (pos.flip(0))",
         "return F.grid_sample(x, pos.flip(0), mode='bilinear', padding_mode='zeros', align_corners=align_corners)"),
    ],
}
