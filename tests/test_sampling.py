"""Tests for dat_edu.sampling: grids, coordinate conversions, from-scratch bilinear sampling."""

import pytest
import torch
import torch.nn.functional as F

from dat_edu.sampling import (
    aligned_grid,
    bilinear_sample,
    normalized_to_pixel,
    pixel_to_normalized,
    reference_grid,
    sample_features,
    yx_to_xy,
)




def grid_sample(x, grid, align_corners):
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)


def test_reference_grid_values_and_order():
    g = reference_grid(2, 4)
    assert g.shape == (2, 4, 2)
    torch.testing.assert_close(g[:, 0, 0], torch.tensor([-0.5, 0.5]))  # y varies along rows
    torch.testing.assert_close(g[0, :, 1], torch.tensor([-0.75, -0.25, 0.25, 0.75]))  # x along cols
    assert torch.all(g[0, :, 0] == -0.5)


def test_aligned_grid_values():
    g = aligned_grid(3, 5, dtype=torch.float64)
    torch.testing.assert_close(g[:, 0, 0], torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(g[0, :, 1], torch.linspace(-1, 1, 5, dtype=torch.float64))
    assert torch.all(aligned_grid(1, 3)[..., 0] == 0)


@pytest.mark.parametrize("align_corners", [True, False])
def test_pixel_normalized_round_trip(align_corners):
    p = torch.tensor([-1.3, 0.0, 2.5, 6.0, 7.9], dtype=torch.float64)
    u = pixel_to_normalized(p, 7, align_corners)
    torch.testing.assert_close(normalized_to_pixel(u, 7, align_corners), p)
    # Floats work too, and the known anchor points hold.
    if align_corners:
        assert normalized_to_pixel(-1.0, 7, True) == 0.0 and normalized_to_pixel(1.0, 7, True) == 6.0
    else:
        assert normalized_to_pixel(-1.0, 7, False) == -0.5 and normalized_to_pixel(1.0, 7, False) == 6.5


def test_grids_hit_pixel_centres_under_their_convention():
    h = 6
    idx = torch.arange(h, dtype=torch.float64)
    ref = reference_grid(h, 1, dtype=torch.float64)[:, 0, 0]
    ali = aligned_grid(h, 1, dtype=torch.float64)[:, 0, 0]
    torch.testing.assert_close(normalized_to_pixel(ref, h, False), idx)
    torch.testing.assert_close(normalized_to_pixel(ali, h, True), idx)


def random_grid(n, ho, wo, dtype=torch.float64, spread=1.3):
    # Points up to 30% beyond [-1, 1], so some corners (or all four) fall outside the image.
    return (torch.rand(n, ho, wo, 2, dtype=dtype) * 2 - 1) * spread


@pytest.mark.parametrize("align_corners", [True, False])
def test_bilinear_sample_equals_grid_sample(align_corners):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7)
    grid = random_grid(2, 6, 4, dtype=torch.float32)
    grid[0, 0, 0] = torch.tensor([1.7, -2.5])  # entirely outside -> 0
    grid[0, 0, 1] = torch.tensor([1.0, -1.0])  # exactly on the corner
    grid[0, 0, 2] = torch.tensor([0.0, 0.0])
    ours = bilinear_sample(x, grid, align_corners)
    torch.testing.assert_close(ours, grid_sample(x, grid, align_corners), atol=1e-6, rtol=1e-5)
    assert torch.all(ours[0, :, 0, 0] == 0)


@pytest.mark.parametrize("align_corners", [True, False])
def test_bilinear_sample_gradients_equal_grid_sample(align_corners):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    grid = random_grid(2, 4, 3)
    w = torch.randn(2, 3, 4, 3, dtype=torch.float64)  # random upstream gradient
    grads = []
    for fn in (bilinear_sample, grid_sample):
        xi, gi = x.clone().requires_grad_(), grid.clone().requires_grad_()
        (fn(xi, gi, align_corners) * w).sum().backward()
        grads.append((xi.grad, gi.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])


@pytest.mark.parametrize("align_corners", [True, False])
def test_bilinear_sample_gradcheck(align_corners):
    torch.manual_seed(2)
    h, w = 4, 5
    x = torch.randn(1, 2, h, w, dtype=torch.float64, requires_grad=True)
    grid = random_grid(1, 3, 3)
    # Keep points away from integer pixel coordinates: bilinear interpolation has kinks there,
    # where finite differences and the one-sided analytic slope disagree.
    px = normalized_to_pixel(grid[..., 0], w, align_corners)
    py = normalized_to_pixel(grid[..., 1], h, align_corners)
    px = px.floor() + 0.2 + 0.6 * torch.rand_like(px)
    py = py.floor() + 0.2 + 0.6 * torch.rand_like(py)
    grid = torch.stack(
        (pixel_to_normalized(px, w, align_corners), pixel_to_normalized(py, h, align_corners)), -1
    ).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: bilinear_sample(a, b, align_corners), (x, grid))


def test_bilinear_sample_does_not_call_grid_sample(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("bilinear_sample must not call grid_sample")

    monkeypatch.setattr(F, "grid_sample", boom)
    monkeypatch.setattr(torch.nn.functional, "grid_sample", boom)
    bilinear_sample(torch.randn(1, 1, 3, 3), torch.zeros(1, 1, 1, 2), True)


def test_identity_grids_reproduce_input():
    torch.manual_seed(3)
    x = torch.randn(1, 2, 14, 9)
    ali = aligned_grid(14, 9)[None]  # (1, 14, 9, 2) (y, x)
    ref = reference_grid(14, 9)[None]
    torch.testing.assert_close(sample_features(x, ali, align_corners=True), x)
    torch.testing.assert_close(sample_features(x, ref, align_corners=False), x)
    torch.testing.assert_close(bilinear_sample(x, yx_to_xy(ali), True), x)
    torch.testing.assert_close(bilinear_sample(x, yx_to_xy(ref), False), x)


def test_v1_quirk_official_grid_with_align_corners_true_is_not_identity():
    h = 14
    ref = reference_grid(h, h, dtype=torch.float64)
    rows = normalized_to_pixel(ref[:, 0, 0], h, align_corners=True)
    expected = (torch.arange(h, dtype=torch.float64) + 0.5) * (h - 1) / h
    torch.testing.assert_close(rows, expected)
    assert [round(v, 3) for v in rows[:2].tolist()] == [0.464, 1.393]
    assert round(rows[-1].item(), 3) == 12.536
    # Sampling a map whose value is its row index shows the same numbers.
    x = torch.arange(h, dtype=torch.float64).view(1, 1, h, 1).expand(1, 1, h, h).contiguous()
    out = sample_features(x, ref[None], align_corners=True)
    torch.testing.assert_close(out[0, 0, :, 3], expected)
    assert not torch.allclose(out, x)


def test_sample_features_order_matters_on_non_square_map():
    torch.manual_seed(4)
    x = torch.randn(1, 3, 4, 7, dtype=torch.float64)
    pos = random_grid(1, 3, 5, spread=0.9)  # (y, x)
    good = sample_features(x, pos, align_corners=False)
    torch.testing.assert_close(good, grid_sample(x, pos.flip(-1), False))
    swapped = sample_features(x, pos.flip(-1), align_corners=False)  # a wrong (x, y) grid
    assert not torch.allclose(good, swapped)
    # A single point makes it concrete: (y, x) = (top row, right edge) reads x[..., 0, 6].
    corner = torch.tensor([[[[-1.0, 1.0]]]], dtype=torch.float64)
    torch.testing.assert_close(sample_features(x, corner, True)[0, :, 0, 0], x[0, :, 0, 6])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="N, Ho, Wo, 2"):
        bilinear_sample(torch.randn(1, 1, 3, 3), torch.zeros(1, 2, 2), True)
    with pytest.raises(ValueError, match=r"\(y, x\)"):
        sample_features(torch.randn(2, 1, 3, 3), torch.zeros(1, 2, 2, 2), True)
    with pytest.raises(ValueError):
        reference_grid(0, 3)


def test_one_coordinate_helper_for_axes_positions_and_strides():
    from dat_edu.sampling import normalized_to_pixel, pixel_to_normalized

    pos = torch.rand(3, 4, 5, 2) * 2 - 1  # (y, x)
    for ac in (True, False):
        both = normalized_to_pixel(pos, (6, 10), ac)  # size=(H, W): each axis with its own size
        assert torch.allclose(both[..., 0], normalized_to_pixel(pos[..., 0], 6, ac))
        assert torch.allclose(both[..., 1], normalized_to_pixel(pos[..., 1], 10, ac))
        for stride in (1, 4, (2, 8)):
            back = pixel_to_normalized(normalized_to_pixel(pos, (6, 10), ac, stride), (6, 10), ac, stride)
            assert torch.allclose(back, pos, atol=1e-6)
    # stride s: a map pixel f is the centre of its s x s cell of the image, f * s + (s - 1) / 2
    assert normalized_to_pixel(-1.0, 8, True, stride=4) == 1.5  # the first of 8 cells of a 32-pixel image
    assert normalized_to_pixel(1.0, 8, False, stride=4) == 31.5  # align_corners=False: the image's outer edge
    with pytest.raises(ValueError, match="one stride"):
        normalized_to_pixel(0.0, 8, True, stride=(2, 2))
    with pytest.raises(ValueError, match=r"\(y, x\) order"):
        normalized_to_pixel(torch.zeros(3), (4, 4), True)
    with pytest.raises(ValueError, match="stride > 0"):
        pixel_to_normalized(0.0, 4, True, stride=0)
