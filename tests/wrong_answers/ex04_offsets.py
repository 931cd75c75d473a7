"""Realistic wrong answers for exercises/04_offsets.ipynb.

WRONG[part] = [(description, code), ...]; ``code`` replaces the body of that part's solution region
(the N-th ``### BEGIN SOLUTION`` region of solutions/04_offsets.ipynb belongs to part N) and
must make exactly that part's check cell fail with ExerciseCheckFailed ("Part N (...): ...").
"""


def _net(dw="groups=channels, bias=True", norm="LayerNorm2d(channels)", act="nn.GELU()", proj="bias=False",
         stride="stride"):
    return (
        "return nn.Sequential(\n"
        f"    nn.Conv2d(channels, channels, kernel_size, stride={stride}, padding=kernel_size // 2, {dw}),\n"
        f"    {norm},\n"
        f"    {act},\n"
        f"    nn.Conv2d(channels, 2, kernel_size=1, {proj}),\n"
        ")"
    )


def _positions(split="b (g c) h w -> (b g) c h w", bounded="bound_offsets(net(q_groups), factor)",
               to_last="rearrange(offset, '(b g) p h w -> b g h w p', b=b)", ref="reference_grid(hk, wk)"):
    return (
        "b = q.shape[0]\n"
        f"q_groups = rearrange(q, '{split}', g=groups)\n"
        f"offset = {bounded}\n"
        "hk, wk = offset.shape[-2:]\n"
        f"offset = {to_last}\n"
        f"return {ref} + offset"
    )


def _keys(official="(u + 1) / 2 * (size - 1)", corrected="((u + 1) * size - 1) / 2", pixel_sizes="h, w",
          stack="(ys, xs)"):
    return (
        "hk, wk = key_grid(h, w, kernel_size, stride)\n"
        "def pixels(n_keys, size):\n"
        "    u = (torch.arange(n_keys, dtype=torch.float32) + 0.5) / n_keys * 2 - 1\n"
        f"    return {official} if align_corners else {corrected}\n"
        f"size_y, size_x = {pixel_sizes}\n"
        "ys, xs = torch.meshgrid(pixels(hk, size_y), pixels(wk, size_x), indexing='ij')\n"
        f"return torch.stack({stack}, dim=-1)"
    )


WRONG = {
    1: [
        ("a standard conv instead of a depthwise one", _net(dw="bias=True")),
        ("GroupNorm(1, C) (over C, H and W) instead of LayerNorm over channels", _net(norm="nn.GroupNorm(1, channels)")),
        ("nn.LayerNorm(channels) directly on the NCHW map (normalizes W)", _net(norm="nn.LayerNorm(channels)")),
        ("ReLU instead of GELU", _net(act="nn.ReLU()")),
        ("forgets the stride", _net(stride="1")),
        ("1x1 projection with a bias", _net(proj="bias=True")),
    ],
    2: [
        ("ceil replaced by floor: h // stride",
         "return h // stride, w // stride"),
        ("forgets the padding: (h - k) // s + 1",
         "return (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1"),
        ("ceil(h / stride), which holds only for odd kernels",
         "return -(-h // stride), -(-w // stride)"),
        ("padding (k - 1) // 2 instead of k // 2 (the same for odd kernels only)",
         "pad = (kernel_size - 1) // 2\n"
         "return (h + 2 * pad - kernel_size) // stride + 1, (w + 2 * pad - kernel_size) // stride + 1"),
        ("returns (Wk, Hk)",
         "pad = kernel_size // 2\n"
         "return (w + 2 * pad - kernel_size) // stride + 1, (h + 2 * pad - kernel_size) // stride + 1"),
    ],
    3: [
        ("forgets the tanh",
         "hk, wk = offset.shape[-2:]\n"
         "return offset * factor * torch.tensor([1.0 / hk, 1.0 / wk]).view(1, 2, 1, 1)"),
        ("divides by the query map's H, W instead of the key grid's Hk, Wk",
         "return torch.tanh(offset) * factor * torch.tensor([1.0 / H, 1.0 / W]).view(1, 2, 1, 1)"),
        ("divides both axes by Hk",
         "hk = offset.shape[-2]\n"
         "return torch.tanh(offset) * factor / hk"),
        ("clamps to [-1, 1] instead of tanh",
         "hk, wk = offset.shape[-2:]\n"
         "return offset.clamp(-1, 1) * factor * torch.tensor([1.0 / hk, 1.0 / wk]).view(1, 2, 1, 1)"),
    ],
    4: [
        ("interleaved channel groups: '(c g)' instead of '(g c)'", _positions(split="b (c g) h w -> (b g) c h w")),
        ("forgets to bound the raw offsets", _positions(bounded="net(q_groups)")),
        ("adds the offsets in (x, y) order", _positions(
            to_last="rearrange(offset, '(b g) p h w -> b g h w p', b=b).flip(-1)")),
        ("reshapes (B*g, 2, Hk, Wk) to (B, g, Hk, Wk, 2) without moving the channel axis", _positions(
            to_last="offset.reshape(b, groups, hk, wk, 2)")),
    ],
    5: [
        ("official conversion with the size instead of size - 1: (u + 1) / 2 * h",
         _keys(official="(u + 1) / 2 * size")),
        ("converts with the key grid size Hk instead of the query map's h",
         _keys(pixel_sizes="hk, wk")),
        ("corrected conversion forgets the half pixel: (u + 1) * size / 2",
         _keys(corrected="(u + 1) * size / 2")),
        ("align_corners branches swapped",
         _keys(official="((u + 1) * size - 1) / 2", corrected="(u + 1) / 2 * (size - 1)")),
        ("stores (x, y) instead of (y, x)",
         _keys(stack="(xs, ys)")),
        ("y converted with w and x with h",
         _keys(pixel_sizes="w, h")),
        ("the conv window centres stride * i instead of the reference points",
         "hk, wk = key_grid(h, w, kernel_size, stride)\n"
         "ys, xs = torch.meshgrid(torch.arange(hk) * stride * 1.0, torch.arange(wk) * stride * 1.0, indexing='ij')\n"
         "return torch.stack((ys, xs), dim=-1)"),
    ],
    6: [
        ("converts with H instead of H - 1 (4 px)",
         "reach_px_28_s4 = 2.0 / 7 * 28 / 2"),
        ("the stride-1 reach (key grid 28 x 28)",
         "reach_px_28_s4 = 2.0 / 28 * 27 / 2"),
        ("answers in normalized units (factor / Hk)",
         "reach_px_28_s4 = 2.0 / 7"),
        ("one key cell is 2/Hk wide, so the bound is 2 cells: 7.7 px",
         "reach_px_28_s4 = 2 * 2.0 / 7 * 27 / 2"),
    ],
}

# Wrong answers that passed the visible check before it tried even kernels (old_checks.py).
PASSED_OLD = [(2, d, c) for d, c, *_ in WRONG[2] if d in (
    "ceil(h / stride), which holds only for odd kernels", "padding (k - 1) // 2 instead of k // 2 (the same for odd kernels only)")]
