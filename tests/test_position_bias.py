"""Tests for dat_edu.position_bias: Swin index, deformable table lookup (official and corrected),
continuous position bias."""

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from dat_edu.position_bias import (
    ContinuousPositionBias,
    deformable_position_bias,
    relative_position_index,
    signed_log,
)
from dat_edu.sampling import normalized_to_pixel, pixel_to_normalized, reference_grid

D = torch.float64




# ---------------------------------------------------------------- Swin index
def test_relative_position_index_matches_definition():
    w = 3
    idx = relative_position_index(w)
    assert idx.shape == (9, 9) and idx.dtype == torch.long
    for i in range(9):
        for j in range(9):
            dy, dx = i // w - j // w, i % w - j % w
            assert idx[i, j] == (dy + w - 1) * (2 * w - 1) + (dx + w - 1)
    assert torch.all(idx.diagonal() == (w - 1) * (2 * w - 1) + (w - 1))  # Δ = 0: centre entry
    assert relative_position_index(7).max() == 13 * 13 - 1
    assert relative_position_index(7).unique().numel() == 13 * 13


# ---------------------------------------------------------------- helpers
def centre_keys(b, g, h, w, hk, wk, seed=0):
    """Keys exactly on pixel centres (integer pixel coords), random per batch and group: (B,g,Hk,Wk,2)."""
    gen = torch.Generator().manual_seed(seed)
    py = torch.randint(0, h, (b, g, hk, wk), generator=gen).to(D)
    px = torch.randint(0, w, (b, g, hk, wk), generator=gen).to(D)
    return torch.stack((pixel_to_normalized(py, h, False), pixel_to_normalized(px, w, False)), -1)


def swin_gather(table, h, w, pos):
    """Discrete lookup: table[head, H-1+Δy, W-1+Δx] with integer pixel displacement Δ = q - k."""
    nh = table.shape[0]
    b, g = pos.shape[:2]
    hg = nh // g
    qy, qx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    qy, qx = qy.flatten(), qx.flatten()  # (HW,)
    ky = normalized_to_pixel(pos[..., 0], h, False).round().long().flatten(2)  # (B, g, Ns)
    kx = normalized_to_pixel(pos[..., 1], w, False).round().long().flatten(2)
    out = torch.empty(b, nh, h * w, ky.shape[-1], dtype=table.dtype)
    for head in range(nh):
        gi = head // hg
        iy = h - 1 + qy[None, :, None] - ky[:, gi, None, :]  # (B, HW, Ns)
        ix = w - 1 + qx[None, :, None] - kx[:, gi, None, :]
        out[:, head] = table[head][iy, ix]
    return out


# ---------------------------------------------------------------- deformable table bias
def test_shapes_with_strided_keys():
    table = torch.randn(6, 2 * 5 - 1, 2 * 7 - 1)
    q = reference_grid(5, 7)
    pos = torch.rand(2, 3, 3, 4, 2) * 2 - 1
    for corrected in (False, True):
        assert deformable_position_bias(table, q, pos, corrected).shape == (2, 6, 35, 12)


def test_official_mode_matches_spec_step_8():
    # Spec step 8 written out with the official reshapes, independently of the library.
    torch.manual_seed(0)
    b, g, nh, h, w = 2, 2, 4, 4, 5
    table = torch.randn(nh, 2 * h - 1, 2 * w - 1, dtype=D)
    q_grid = reference_grid(h, w, dtype=D)
    pos = torch.rand(b, g, 3, 3, 2, dtype=D) * 2.2 - 1.1
    qg = q_grid[None].expand(b * g, h, w, 2).reshape(b * g, h * w, 2).unsqueeze(2)
    disp = (qg - pos.reshape(b * g, 9, 2).unsqueeze(1)).mul(0.5)
    ref = F.grid_sample(table[None].expand(b, -1, -1, -1).reshape(b * g, nh // g, 2 * h - 1, 2 * w - 1),
                        disp[..., (1, 0)], mode="bilinear", align_corners=True)
    ref = ref.reshape(b, nh, h * w, 9)
    torch.testing.assert_close(deformable_position_bias(table, q_grid, pos), ref)


def test_groups_read_their_own_heads():
    # Table of head k is a ramp k * (row index): bilinear is exact on it, so the bias is
    # k * table-row coordinate of (query - key of group k // hg).
    b, g, nh, h, w = 1, 2, 4, 3, 3
    rows = torch.arange(2 * h - 1, dtype=D)[:, None].expand(2 * h - 1, 2 * w - 1)
    table = torch.stack([k * rows for k in range(1, nh + 1)])
    q_grid = reference_grid(h, w, dtype=D)
    pos = centre_keys(b, g, h, w, 2, 2, seed=1)
    bias = deformable_position_bias(table, q_grid, pos, corrected=True)
    qy = torch.arange(h, dtype=D).repeat_interleave(w)  # (HW,) query rows
    for head in range(nh):
        ky = normalized_to_pixel(pos[0, head // 2, ..., 0], h, False).flatten()  # (Ns,)
        expected = (head + 1) * (h - 1 + qy[:, None] - ky[None, :])
        torch.testing.assert_close(bias[0, head], expected)


@pytest.mark.parametrize("h,w,hk,wk", [(5, 5, 5, 5), (4, 6, 2, 3), (7, 3, 4, 4)])
def test_corrected_equals_discrete_gather_at_pixel_centres(h, w, hk, wk):
    torch.manual_seed(2)
    b, g, nh = 2, 2, 4
    table = torch.randn(nh, 2 * h - 1, 2 * w - 1, dtype=D)
    pos = centre_keys(b, g, h, w, hk, wk, seed=3)
    q_grid = reference_grid(h, w, dtype=D)
    expected = swin_gather(table, h, w, pos)
    torch.testing.assert_close(deformable_position_bias(table, q_grid, pos, corrected=True), expected)
    # Quirk: the official lookup shrinks displacements by (H-1)/H and misses the entries.
    official = deformable_position_bias(table, q_grid, pos, corrected=False)
    assert not torch.allclose(official, expected)


def test_official_quirk_index_is_scaled_displacement():
    # One query row, a key Δ pixels away: official reads table row (H-1) + Δ (H-1)/H.
    h = w = 14
    ramp = torch.arange(2 * h - 1, dtype=D)[:, None].expand(2 * h - 1, 2 * w - 1)[None]  # value = row
    q_grid = reference_grid(h, w, dtype=D)
    key = q_grid[0, 0].view(1, 1, 1, 1, 2)  # key at pixel (0, 0)
    bias = deformable_position_bias(ramp, q_grid, key).view(h, w)
    delta = torch.arange(h, dtype=D)
    torch.testing.assert_close(bias[:, 0], (h - 1) + delta * (h - 1) / h)
    assert round(bias[13, 0].item(), 2) == 25.07  # not 26
    corrected = deformable_position_bias(ramp, q_grid, key, corrected=True).view(h, w)
    torch.testing.assert_close(corrected[:, 0], (h - 1) + delta)
    # At zero displacement both modes agree.
    assert bias[0, 0] == corrected[0, 0] == h - 1


@pytest.mark.parametrize("corrected", [False, True])
def test_deformable_bias_gradcheck(corrected):
    torch.manual_seed(4)
    h, w = 3, 4
    table = torch.randn(2, 2 * h - 1, 2 * w - 1, dtype=D, requires_grad=True)
    q_grid = reference_grid(h, w, dtype=D)
    # Generic positions (not on pixel centres) so no table coordinate is an integer (kinks).
    pos = (torch.rand(1, 2, 2, 2, 2, dtype=D) * 1.6 - 0.8 + 0.013).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t, p: deformable_position_bias(t, q_grid, p, corrected), (table, pos)
    )


def test_deformable_bias_bad_inputs():
    q = reference_grid(4, 4)
    pos = torch.zeros(1, 2, 2, 2, 2)
    with pytest.raises(ValueError, match=r"\(heads, 7, 7\)"):
        deformable_position_bias(torch.zeros(2, 5, 5), q, pos)
    with pytest.raises(ValueError, match="offset groups"):
        deformable_position_bias(torch.zeros(3, 7, 7), q, pos)
    with pytest.raises(ValueError, match="B, groups"):
        deformable_position_bias(torch.zeros(2, 7, 7), q, pos[0])


# ---------------------------------------------------------------- continuous bias
def test_signed_log_values_and_gradient():
    d = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0], dtype=D, requires_grad=True)
    y = signed_log(d)
    torch.testing.assert_close(y, torch.sign(d) * torch.log1p(d.abs()))
    y.sum().backward()
    torch.testing.assert_close(d.grad, 1 / (1 + d.detach().abs()))  # 1 at zero, not 0
    # Large |d| must not produce NaN gradients from the branch torch.where does not select.
    big = torch.tensor([-40.0, -1.0, 1.0, 40.0], dtype=D, requires_grad=True)
    signed_log(big).sum().backward()
    assert torch.all(torch.isfinite(big.grad))


def test_cpb_shape_and_group_heads():
    torch.manual_seed(5)
    cpb = ContinuousPositionBias(6, groups=3, hidden=8).double()
    q_grid = reference_grid(4, 5, dtype=D)
    pos = torch.rand(2, 3, 2, 3, 2, dtype=D) * 2 - 1
    out = cpb(q_grid, pos)
    assert out.shape == (2, 6, 20, 6)
    # Reference: the full MLP on each group's displacements, keeping that group's 2 heads.
    for gi in range(3):
        disp = q_grid.reshape(1, 20, 1, 2) - pos[:, gi].reshape(2, 1, 6, 2)
        full = cpb.fc2(torch.relu(cpb.fc1(torch.sign(disp) * torch.log1p(disp.abs()))))
        full = rearrange(full, "b i j h -> b h i j")  # (B, 6, HW, Ns)
        torch.testing.assert_close(out[:, 2 * gi: 2 * gi + 2], full[:, 2 * gi: 2 * gi + 2])
    # A different group's keys give a different answer (the mapping matters).
    wrong = cpb(q_grid, pos.roll(1, dims=1))
    assert not torch.allclose(out, wrong)


def test_cpb_is_translation_invariant():
    torch.manual_seed(6)
    cpb = ContinuousPositionBias(2).double()
    q_grid = reference_grid(3, 3, dtype=D)
    pos = torch.rand(1, 1, 2, 2, 2, dtype=D) - 0.5
    shift = torch.tensor([0.2, -0.1], dtype=D)
    torch.testing.assert_close(cpb(q_grid, pos), cpb(q_grid + shift, pos + shift))


def test_cpb_gradcheck():
    torch.manual_seed(7)
    cpb = ContinuousPositionBias(4, hidden=6).double()
    q_grid = reference_grid(2, 3, dtype=D).requires_grad_()
    pos = (torch.rand(1, 2, 2, 2, 2, dtype=D) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(cpb, (q_grid, pos))
    # Gradient also reaches the MLP weights.
    cpb(q_grid, pos).sum().backward()
    assert cpb.fc1.weight.grad.abs().sum() > 0 and cpb.fc2.bias.grad.abs().sum() > 0


def test_cpb_bad_inputs():
    with pytest.raises(ValueError, match="offset groups"):
        ContinuousPositionBias(6, groups=4)
    cpb = ContinuousPositionBias(4, groups=2)
    with pytest.raises(ValueError, match="offset groups"):
        cpb(reference_grid(2, 2), torch.zeros(1, 4, 2, 2, 2))
    with pytest.raises(ValueError, match="offset groups"):
        ContinuousPositionBias(4)(reference_grid(2, 2), torch.zeros(1, 3, 2, 2, 2))
