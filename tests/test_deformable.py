"""Tests for dat_edu.deformable.DeformableAttention.

The numerical reference is tests/official_reference.py, a literal re-statement of the official
DAT v1 forward that imports nothing from dat_edu.
"""

from __future__ import annotations

import pytest
import torch

from dat_edu.deformable import OFFSET_KERNEL_SIZES, DeformableAttention
from official_reference import official_dattention_forward




def official_params(m: DeformableAttention) -> dict:
    """The module's tensors under their official DAttentionBaseline names (written out by hand)."""
    p = {}
    for name in ("q", "k", "v", "out"):
        conv = getattr(m, f"proj_{name}")
        p[f"proj_{name}.weight"] = conv.weight
        p[f"proj_{name}.bias"] = conv.bias
    if m.conv_offset is not None:
        p["conv_offset.0.weight"] = m.conv_offset.dwconv.weight
        p["conv_offset.0.bias"] = m.conv_offset.dwconv.bias
        p["conv_offset.1.norm.weight"] = m.conv_offset.norm.norm.weight
        p["conv_offset.1.norm.bias"] = m.conv_offset.norm.norm.bias
        p["conv_offset.3.weight"] = m.conv_offset.proj.weight
    if m.rpe_table is not None:
        p["rpe_table"] = m.rpe_table
    return p


def randomize_(m: torch.nn.Module, std: float = 0.3) -> torch.nn.Module:
    """Give every parameter random values, large enough that offsets and biases matter."""
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0.0, std)
    return m


def make(dim=16, heads=4, groups=2, q_size=(6, 8), **kw) -> DeformableAttention:
    torch.manual_seed(0)
    return randomize_(DeformableAttention(dim, heads, groups, q_size, **kw)).eval()


# --------------------------------------------------------------------------------------------
# equal to the official forward


@pytest.mark.parametrize(
    "dim, heads, groups, q_size, kw, ref_kw",
    [
        (16, 4, 2, (6, 8), {}, {}),  # groups > 1, non-square
        (16, 2, 1, (5, 5), {"kernel_size": 5}, {}),  # one group, odd square
        (24, 6, 3, (7, 4), {"stage_idx": 2}, {}),  # 3 groups, kernel 5 from the stage index
        (16, 4, 4, (6, 6), {"stride": 2}, {"stride": 2}),  # strided keys, one head per group
        (16, 4, 2, (6, 8), {"offset_range_factor": -1.0}, {"offset_range_factor": -1.0}),
        (16, 4, 2, (6, 8), {"position_bias": None}, {"use_pe": False}),
    ],
)
def test_default_mode_equals_official_forward(dim, heads, groups, q_size, kw, ref_kw):
    m = make(dim, heads, groups, q_size, **kw)
    x = torch.randn(2, dim, *q_size)
    with torch.no_grad():
        y, pos, ref = m(x, return_positions=True)
        y0, pos0, ref0 = official_dattention_forward(x, official_params(m), heads, groups, **ref_kw)
    assert y.shape == y0.shape and pos.shape == pos0.shape and ref.shape == ref0.shape
    torch.testing.assert_close(pos, pos0, atol=1e-6, rtol=0)
    torch.testing.assert_close(ref, ref0, atol=1e-6, rtol=0)
    torch.testing.assert_close(y, y0, atol=1e-5, rtol=0)


def test_no_offsets_equals_official_no_off():
    m = make(use_offsets=False)
    assert m.conv_offset is None
    p = official_params(m)
    # the official no_off block still owns an offset network whose output is zeroed: any weights do
    g = torch.Generator().manual_seed(1)
    cg = 16 // 2
    p.update({
        "conv_offset.0.weight": torch.randn(cg, 1, 3, 3, generator=g),
        "conv_offset.0.bias": torch.randn(cg, generator=g),
        "conv_offset.1.norm.weight": torch.randn(cg, generator=g),
        "conv_offset.1.norm.bias": torch.randn(cg, generator=g),
        "conv_offset.3.weight": torch.randn(2, cg, 1, 1, generator=g),
    })
    x = torch.randn(2, 16, 6, 8)
    with torch.no_grad():
        y, pos, ref = m(x, return_positions=True)
        y0, pos0, _ = official_dattention_forward(x, p, 4, 2, no_off=True)
    torch.testing.assert_close(pos, ref)
    torch.testing.assert_close(pos, pos0, atol=1e-6, rtol=0)
    torch.testing.assert_close(y, y0, atol=1e-5, rtol=0)


def test_corrected_mode_differs_from_official():
    """The comparison is sensitive: align_corners=False sampling gives a different answer."""
    m = make(coords="corrected")
    x = torch.randn(2, 16, 6, 8)
    with torch.no_grad():
        y = m(x)
        y0, _, _ = official_dattention_forward(x, official_params(m), 4, 2)
    assert (y - y0).abs().max() > 1e-3


def test_wrong_head_layout_would_fail():
    """Swapping two heads' bias tables changes the output: the (g, hg) head layout is tested."""
    m = make()
    x = torch.randn(1, 16, 6, 8)
    p = dict(official_params(m))
    p["rpe_table"] = p["rpe_table"].flip(0)
    with torch.no_grad():
        y = m(x)
        y0, _, _ = official_dattention_forward(x, p, 4, 2)
    assert (y - y0).abs().max() > 1e-4


# --------------------------------------------------------------------------------------------
# coordinate quirks


def zero_offsets_(m: DeformableAttention) -> DeformableAttention:
    with torch.no_grad():
        m.conv_offset.proj.weight.zero_()
    return m


@pytest.mark.parametrize("H, W", [(14, 14), (5, 9)])
def test_official_zero_offsets_do_not_hit_pixels(H, W):
    """Quirk 1: row i is read at (i + 0.5)(H - 1)/H, not at i (0.464, 1.393, ... at H = 14)."""
    m = zero_offsets_(make(q_size=(H, W)))
    rows = torch.arange(H, dtype=torch.float32).view(1, 1, H, 1).expand(1, 16, H, W)
    cols = torch.arange(W, dtype=torch.float32).view(1, 1, 1, W).expand(1, 16, H, W)
    with torch.no_grad():
        pos, ref = m.sampling_positions(m.proj_q(rows))
        torch.testing.assert_close(pos, ref)
        read_rows = m.sample_keys(rows, pos)[0, 0]  # (Hk, Wk)
        read_cols = m.sample_keys(cols, pos)[0, 0]
    i = torch.arange(H, dtype=torch.float32)
    j = torch.arange(W, dtype=torch.float32)
    torch.testing.assert_close(read_rows[:, 0], (i + 0.5) * (H - 1) / H)
    torch.testing.assert_close(read_cols[0, :], (j + 0.5) * (W - 1) / W)
    if H == 14:
        assert round(read_rows[0, 0].item(), 3) == 0.464 and round(read_rows[-1, 0].item(), 3) == 12.536
    assert not torch.allclose(read_rows, rows[0, 0], atol=1e-3)


def test_corrected_zero_offsets_sample_the_input_exactly():
    m = zero_offsets_(make(q_size=(5, 9), coords="corrected"))
    x = torch.randn(2, 16, 5, 9)
    with torch.no_grad():
        pos, _ = m.sampling_positions(m.proj_q(x))
        sampled = m.sample_keys(x, pos)
    torch.testing.assert_close(sampled, x, atol=1e-6, rtol=0)


def test_corrected_stride_two_reads_cell_centres():
    """Corrected coords, stride 2: a zero offset reads the centre of each 2x2 cell (= average pool)."""
    m = zero_offsets_(make(q_size=(6, 8), coords="corrected", stride=2))
    x = torch.randn(1, 16, 6, 8)
    with torch.no_grad():
        pos, _ = m.sampling_positions(m.proj_q(x))
        sampled = m.sample_keys(x, pos)
    torch.testing.assert_close(sampled, torch.nn.functional.avg_pool2d(x, 2), atol=1e-6, rtol=0)


@pytest.mark.parametrize("coords", ["official", "corrected"])
@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_offsets_are_bounded(coords, factor):
    """Quirk 2: |pos - ref| <= factor / Hk per axis (factor/2 key cells), and the bound is reached."""
    m = make(q_size=(6, 8), offset_range_factor=factor, coords=coords)
    with torch.no_grad():
        m.conv_offset.proj.weight.mul_(100.0)  # saturate the tanh
        _, pos, ref = m(torch.randn(2, 16, 6, 8), return_positions=True)
    d = (pos - ref).abs()
    Hk, Wk = 6, 8
    assert (d[..., 0] <= factor / Hk + 1e-6).all() and (d[..., 1] <= factor / Wk + 1e-6).all()
    assert d[..., 0].max() > 0.9 * factor / Hk and d[..., 1].max() > 0.9 * factor / Wk


def test_unbounded_offsets_are_clamped_to_the_map():
    m = make(offset_range_factor=None)
    with torch.no_grad():
        m.conv_offset.proj.weight.mul_(100.0)
        _, pos, ref = m(torch.randn(2, 16, 6, 8), return_positions=True)
    assert pos.abs().max() <= 1.0
    assert (pos - ref).abs().max() > 2.0 / 6  # far beyond the bounded range
    assert (pos.abs() == 1.0).any()  # the clamp is active


def test_negative_factor_is_tanh_of_sum():
    m = make(offset_range_factor=-1.0)
    with torch.no_grad():
        q = m.proj_q(torch.randn(1, 16, 6, 8))
        pos, ref = m.sampling_positions(q)
        raw = m.conv_offset(q.reshape(2, 8, 6, 8)).permute(0, 2, 3, 1)
    torch.testing.assert_close(pos, torch.tanh(ref + raw))


def test_positions_are_y_then_x():
    m = make(q_size=(3, 5))
    _, _, ref = m(torch.randn(1, 16, 3, 5), return_positions=True)
    assert torch.allclose(ref[0, 0, :, 0, 0], torch.tensor([-2 / 3, 0.0, 2 / 3]))  # y down rows
    assert torch.allclose(ref[0, 0, 0, :, 1], torch.tensor([-0.8, -0.4, 0.0, 0.4, 0.8]))  # x along cols


# --------------------------------------------------------------------------------------------
# gradients


OPTIONS = [
    {},
    {"coords": "corrected"},
    {"offset_range_factor": None},
    {"offset_range_factor": -1.0},
    {"stride": 2},
    {"position_bias": "continuous"},
    {"position_bias": "continuous", "coords": "corrected"},
    {"position_bias": None},
    {"use_offsets": False},
    {"coords": "corrected", "stride": 2, "kernel_size": 5},
]


@pytest.mark.parametrize("kw", OPTIONS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_gradcheck_float64(kw):
    torch.manual_seed(0)
    m = DeformableAttention(4, 2, 2, (3, 3), **kw).double()
    randomize_(m, 0.5)
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t), (x,), eps=1e-6, atol=1e-5)
    # the offset network (when present) and every other parameter receive a gradient
    m(x).square().sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# --------------------------------------------------------------------------------------------
# shapes, names, construction


@pytest.mark.parametrize("kw", OPTIONS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_shapes(kw):
    m = DeformableAttention(32, 4, 2, (7, 5), **kw)
    x = torch.randn(3, 32, 7, 5)
    y, pos, ref = m(x, return_positions=True)
    s = kw.get("stride", 1)
    Hk, Wk = -(-7 // s), -(-5 // s)
    assert y.shape == x.shape
    assert pos.shape == ref.shape == (3, 2, Hk, Wk, 2)
    assert m(x).shape == x.shape


def test_parameter_names_and_init():
    torch.manual_seed(0)
    m = DeformableAttention(96, 12, 3, (14, 14), stage_idx=2)
    names = {n for n, _ in m.named_parameters()}
    assert names == {
        "proj_q.weight", "proj_q.bias", "proj_k.weight", "proj_k.bias", "proj_v.weight", "proj_v.bias",
        "proj_out.weight", "proj_out.bias", "rpe_table", "conv_offset.dwconv.weight",
        "conv_offset.dwconv.bias", "conv_offset.norm.norm.weight", "conv_offset.norm.norm.bias",
        "conv_offset.proj.weight",
    }
    assert m.rpe_table.shape == (12, 27, 27)
    # trunc_normal_(std=0.01) truncates at the absolute values +-2 (timm and torch default a=-2, b=2),
    # i.e. at 200 standard deviations: in practice a plain normal with std 0.01.
    assert 0.008 < m.rpe_table.std().item() < 0.012 and m.rpe_table.abs().max() < 0.1
    assert m.conv_offset.dwconv.weight.shape == (32, 1, 5, 5)
    assert m.conv_offset.proj.weight.shape == (2, 32, 1, 1)


def test_kernel_size_choice():
    assert OFFSET_KERNEL_SIZES == (9, 7, 5, 3)
    for stage, k in enumerate(OFFSET_KERNEL_SIZES):
        assert DeformableAttention(8, 2, 1, 8, stage_idx=stage).conv_offset.dwconv.kernel_size == (k, k)
    assert DeformableAttention(8, 2, 1, 8).kernel_size == 3
    assert DeformableAttention(8, 2, 1, 8, kernel_size=7, stage_idx=0).kernel_size == 7


def test_continuous_bias_runs_at_any_size():
    m = DeformableAttention(16, 4, 2, (6, 6), position_bias="continuous")
    assert m.rpe_table is None
    for size in [(6, 6), (9, 4)]:
        assert m(torch.randn(1, 16, *size)).shape == (1, 16, *size)


@pytest.mark.parametrize(
    "args, kw, match",
    [
        ((30, 4, 2, 8), {}, "not divisible by num_heads"),
        ((16, 4, 3, 8), {}, "not divisible by num_groups"),
        ((24, 2, 3, 8), {}, "num_heads 2 is not divisible by num_groups 3"),
        ((16, 4, 2, 8), {"offset_range_factor": 0}, "offset_range_factor=0"),
        ((16, 4, 2, 8), {"coords": "pixel"}, "coords"),
        ((16, 4, 2, 8), {"position_bias": "learned"}, "position_bias"),
        ((16, 4, 2, 8), {"kernel_size": 4}, "odd"),
        ((16, 4, 2, 8), {"stage_idx": 4}, "stage_idx"),
        ((16, 4, 2, 8), {"stride": 0}, "stride"),
    ],
)
def test_constructor_errors(args, kw, match):
    with pytest.raises(ValueError, match=match):
        DeformableAttention(*args, **kw)


def test_forward_errors():
    m = DeformableAttention(16, 4, 2, (6, 6))
    with pytest.raises(ValueError, match="NCHW"):
        m(torch.randn(16, 6, 6))
    with pytest.raises(ValueError, match="16 channels|dim=16"):
        m(torch.randn(1, 8, 6, 6))
    with pytest.raises(ValueError, match=r"8x6.*q_size=\(6, 6\).*continuous") as e:
        m(torch.randn(1, 16, 8, 6))
    assert "rebuild" in str(e.value).lower()
