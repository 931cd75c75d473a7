"""Tests for dat_edu.widgets: the pure functions behind the lesson widgets, and the widgets' callbacks."""

import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
import torch.nn.functional as F

from dat_edu import plots
from dat_edu import widgets as W
from dat_edu.attention import scaled_dot_product_attention
from dat_edu.sampling import aligned_grid, normalized_to_pixel, reference_grid
from dat_edu.windows import shifted_window_mask, window_partition


def _image(c=2, h=5, w=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(c, h, w, generator=g)


# ------------------------------------------------------------------ sampling grid (lesson 03)
@pytest.mark.parametrize("align_corners", [False, True])
def test_identity_grid_reproduces_image(align_corners):
    img = _image()
    grid = W.transform_grid(5, 7, align_corners=align_corners)
    expected = aligned_grid(5, 7) if align_corners else reference_grid(5, 7)
    assert torch.allclose(grid, expected, atol=1e-6)
    assert torch.allclose(W.resample(img, grid, align_corners=align_corners), img, atol=1e-6)


def test_identity_grid_with_the_other_align_corners_is_not_identity():
    img = _image()
    grid = W.transform_grid(5, 7, align_corners=False)
    assert not torch.allclose(W.resample(img, grid, align_corners=True), img, atol=1e-3)


def test_shift_by_one_pixel_moves_columns_and_pads_zeros():
    img = _image(h=4, w=6)
    out = W.resample(img, W.transform_grid(4, 6, shift=(0.0, 2 / 6)), align_corners=False)
    assert torch.allclose(out[..., :-1], img[..., 1:], atol=1e-6)  # reads one pixel to the right
    assert torch.allclose(out[..., -1], torch.zeros(2, 4), atol=1e-6)  # beyond the edge: zeros
    out_y = W.resample(img, W.transform_grid(4, 6, shift=(2 / 4, 0.0)), align_corners=False)
    assert torch.allclose(out_y[:, :-1], img[:, 1:], atol=1e-6)  # dy moves rows, not columns


def test_scale_and_shift_of_grid_points():
    g = W.transform_grid(3, 4, shift=(0.1, -0.2), scale=0.5)
    expected = reference_grid(3, 4) * 0.5 + torch.tensor([0.1, -0.2])
    assert torch.allclose(g, expected, atol=1e-6)


def test_rotation_is_counter_clockwise_on_screen():
    right = torch.tensor([[0.0, 1.0]])  # (y, x): right of centre
    up = W.transform_points(right, angle_deg=90, image_size=(4, 4))
    assert torch.allclose(up, torch.tensor([[-1.0, 0.0]]), atol=1e-6)  # y = -1 is the top row


def test_rotation_is_rigid_in_pixels_on_non_square_image():
    H, W_ = 600, 512
    g0 = W.transform_grid(6, 5, image_size=(H, W_))
    g1 = W.transform_grid(6, 5, angle_deg=30, image_size=(H, W_))

    def pixel_dists(g):
        px = normalized_to_pixel(g, (H, W_), align_corners=False).reshape(-1, 2).double()
        return (px[:, None] - px[None]).norm(dim=-1)

    assert torch.allclose(pixel_dists(g0), pixel_dists(g1), atol=1e-2)


def test_pixels_of_yx_positions_both_conventions():
    u = torch.tensor([[-1.0, -1.0], [1.0, 1.0]])
    assert torch.allclose(normalized_to_pixel(u, (4, 6), True), torch.tensor([[0.0, 0.0], [3.0, 5.0]]))
    assert torch.allclose(normalized_to_pixel(u, (4, 6), False), torch.tensor([[-0.5, -0.5], [3.5, 5.5]]))


def test_sampling_errors():
    with pytest.raises(ValueError, match="scale must be > 0"):
        W.transform_grid(3, 3, scale=0.0)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        W.resample(torch.rand(1, 2, 3, 3), W.transform_grid(3, 3), align_corners=False)
    with pytest.raises(ValueError, match=r"\(h, w, 2\)"):
        W.resample(torch.rand(2, 3, 3), torch.rand(3, 3), align_corners=False)


def test_photo_loads():
    img = W.load_photo((30, 25))
    assert img.shape == (3, 30, 25) and 0 <= float(img.min()) and float(img.max()) <= 1
    f = W.photo_features((14, 14))
    assert f.shape == (3, 14, 14)
    assert torch.allclose(f.amax(dim=(1, 2)), torch.ones(3)) and torch.allclose(f.amin(dim=(1, 2)), torch.zeros(3))


# ------------------------------------------------------------------ offsets (lesson 04)
def test_zero_offsets_keep_reference_points():
    kg = W.offset_key_grid(4, 6)
    assert torch.equal(kg.reference, reference_grid(4, 6))
    assert torch.allclose(kg.pos, kg.reference)
    assert kg.pos.shape == (4, 6, 2)


def test_offsets_are_bounded_by_factor_over_hk():
    kg = W.offset_key_grid(4, 8, global_shift=(50.0, -50.0), range_factor=2.0)
    # tanh saturates: every offset sits at the bound, +2/Hk in y and -2/Wk in x
    assert torch.allclose(kg.offset[..., 0], torch.full((4, 8), 2 / 4))
    assert torch.allclose(kg.offset[..., 1], torch.full((4, 8), -2 / 8))
    kg = W.offset_key_grid(4, 8, jitter=5.0, seed=3, range_factor=3.0)
    assert bool((kg.offset.abs() <= kg.bound + 1e-7).all())
    assert torch.allclose(kg.bound, torch.tensor([3 / 4, 3 / 8]))


def test_offset_values_match_tanh_formula():
    kg = W.offset_key_grid(3, 3, global_shift=(0.5, -0.25), jitter=0.7, seed=1, range_factor=2.0)
    expected = torch.tanh(kg.raw) * 2.0 * torch.tensor([1 / 3, 1 / 3])
    assert torch.allclose(kg.offset, expected, atol=1e-6)
    assert torch.allclose(kg.pos, kg.reference + expected, atol=1e-6)
    assert torch.allclose(kg.raw.mean(dim=(0, 1)), torch.tensor([0.5, -0.25]), atol=1.0)


def test_groups_have_their_own_fields_and_do_not_depend_on_n_groups():
    a = W.offset_key_grid(5, 5, jitter=1.0, group=0, n_groups=1)
    b = W.offset_key_grid(5, 5, jitter=1.0, group=0, n_groups=4)
    c = W.offset_key_grid(5, 5, jitter=1.0, group=1, n_groups=4)
    d = W.offset_key_grid(5, 5, jitter=1.0, seed=1, group=0, n_groups=4)
    assert torch.equal(a.pos, b.pos)
    assert not torch.allclose(b.pos, c.pos)
    assert not torch.allclose(b.pos, d.pos)


def test_offset_errors():
    with pytest.raises(ValueError, match="group must be in"):
        W.offset_key_grid(3, 3, group=2, n_groups=2)
    # the block's rule (dat_edu.offsets.bound_offsets): a bounded offset needs a factor > 0
    for factor in (0.0, -1.0):
        with pytest.raises(ValueError, match="factor must be > 0"):
            W.offset_key_grid(3, 3, range_factor=factor)
    with pytest.raises(ValueError, match="at least 1x1"):
        W.offset_key_grid(0, 3)


def test_sampled_features_read_pixels_at_aligned_positions():
    fmap = _image(c=3, h=5, w=7)
    assert torch.allclose(W.sampled_features(fmap, aligned_grid(5, 7)), fmap, atol=1e-6)
    pos = W.offset_key_grid(3, 4, jitter=1.0).pos
    expected = F.grid_sample(fmap[None], pos.flip(-1)[None], mode="bilinear", align_corners=True)[0]
    assert torch.allclose(W.sampled_features(fmap, pos), expected, atol=1e-6)


# ------------------------------------------------------------------ attention (lesson 05)
def _feats(c=4, h=8, w=8, seed=0):
    return torch.randn(c, h, w, generator=torch.Generator().manual_seed(seed))


def test_dense_attention_is_softmax_of_dot_products():
    x = _feats()
    a = W.attention_map(x, (2, 5))
    tokens = x.reshape(4, -1)
    expected = torch.softmax(x[:, 2, 5] @ tokens / 2.0, dim=0).reshape(8, 8)
    assert a.shape == (8, 8)
    assert torch.allclose(a, expected, atol=1e-6)
    assert abs(float(a.sum()) - 1.0) < 1e-5


def test_window_attention_stays_in_the_window():
    x = _feats()
    a = W.attention_map(x, (5, 2), "window", window=4)
    assert bool((a[4:, :4] > 0).all())
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[4:, :4] = True
    assert float(a[~inside].abs().max()) == 0.0
    assert abs(float(a.sum()) - 1.0) < 1e-5


@pytest.mark.parametrize("query", [(0, 0), (7, 7), (5, 6), (6, 1)])
def test_shifted_window_attention_matches_library_mask(query):
    """Rebuild the same row with dat_edu.windows (roll, partition, -100 mask) and compare."""
    x = _feats(c=4, h=8, w=8, seed=2)
    window, shift = 4, 2
    a = W.attention_map(x, query, "shifted", window=window, shift=shift)
    rolled = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
    tokens = window_partition(rolled[None], window)  # (nW, N, C)
    mask = shifted_window_mask(8, 8, window, shift)  # (nW, N, N)
    q = tokens[:, None]  # (nW, 1, N, C)
    _, attn = scaled_dot_product_attention(q, q, q, bias=mask[:, None])  # (nW, 1, N, N)
    ri, rj = (query[0] - shift) % 8, (query[1] - shift) % 8  # where the query sits after the roll
    win = (ri // window) * 2 + rj // window
    row = attn[win, 0, (ri % window) * window + rj % window]  # (N,)
    expected = torch.zeros(8, 8)
    for t in range(window * window):
        ky = (ri // window) * window + t // window
        kx = (rj // window) * window + t % window
        expected[(ky + shift) % 8, (kx + shift) % 8] = row[t]  # roll back to original pixels
    assert torch.allclose(a, expected, atol=1e-6)


def test_shifted_mask_blocks_wrapped_pixels():
    x = torch.ones(2, 8, 8)  # all scores equal: only the mask shapes the weights
    a = W.attention_map(x, (7, 7), "shifted", window=4, shift=2)
    # the query (7, 7) shares its rolled window with pixels from the opposite border (rows/cols 0, 1)
    assert float(a[0:2, :].max()) < 1e-30 and float(a[:, 0:2].max()) < 1e-30
    assert torch.allclose(a[6:8, 6:8], torch.full((2, 2), 0.25), atol=1e-6)


def test_deformable_attention_at_pixel_positions_equals_dense():
    x = _feats(h=6, w=5)
    dense = W.attention_map(x, (3, 1))
    deform = W.attention_map(x, (3, 1), "deformable", positions=aligned_grid(6, 5))
    assert torch.allclose(deform, dense, atol=1e-6)


def test_deformable_attention_spreads_weights_bilinearly():
    x = _feats(h=6, w=6)
    pos = W.offset_key_grid(3, 3, jitter=1.0, seed=4).pos
    r = W.attention_details(x, (2, 2), "deformable", positions=pos)
    assert r.key_weights.shape == (9,) and r.key_pixels.shape == (9, 2)
    assert abs(float(r.key_weights.sum()) - 1.0) < 1e-5
    assert bool((r.weights >= 0).all()) and float(r.weights.sum()) <= 1.0 + 1e-5
    # one key only: its weight 1 is spread over its 4 neighbours with the bilinear weights
    one = torch.tensor([[[0.1, -0.3]]])  # (1, 1, 2) (y, x)
    m = W.attention_map(x, (0, 0), "deformable", positions=one)
    py, px = normalized_to_pixel(one, (6, 6), align_corners=True)[0, 0]
    y0, x0 = int(py), int(px)
    ty, tx = float(py) - y0, float(px) - x0
    assert math.isclose(float(m[y0, x0]), (1 - ty) * (1 - tx), abs_tol=1e-5)
    assert math.isclose(float(m[y0 + 1, x0 + 1]), ty * tx, abs_tol=1e-5)


def test_attention_errors():
    x = _feats(h=6, w=6)
    with pytest.raises(ValueError, match="not divisible by window 4"):
        W.attention_map(x, (0, 0), "window", window=4)
    with pytest.raises(ValueError, match="outside the 6x6 map"):
        W.attention_map(x, (6, 0))
    with pytest.raises(ValueError, match="kind must be one of"):
        W.attention_map(x, (0, 0), "global")


# ------------------------------------------------------------------ widgets and their callbacks
def _png(box):
    (entry,) = box.output.outputs
    return entry["data"]["image/png"]


def test_sampling_widget_slider_and_reset_button():
    box = W.sampling_grid_widget(image=W.load_photo((60, 50)), out_size=(24, 20))
    assert box.draws == 1 and box.results["scale"] == 1.0
    first = _png(box)
    box.controls["scale"].value = 0.5  # what a learner does with the slider
    box.controls["angle"].value = 30.0
    assert box.draws == 3
    expected = W.transform_grid(24, 20, scale=0.5, angle_deg=30.0, image_size=(60, 50))
    assert torch.allclose(box.results["grid"], expected)
    assert box.results["resampled"].shape == (3, 24, 20)
    assert _png(box) != first
    box.controls["reset"].click()
    assert box.draws == 4  # one redraw for the whole reset
    assert box.controls["scale"].value == 1.0 and box.controls["angle"].value == 0.0
    assert torch.allclose(box.results["grid"], W.transform_grid(24, 20, image_size=(60, 50)))


def test_offsets_widget_sliders_and_new_jitter_button():
    box = W.offsets_widget(feature_map=W.photo_features((14, 14)), key_grid=(4, 4))
    assert box.controls["group"].max == 2  # one group per channel of the toy map
    box.set_values(jitter=1.0, range_factor=4.0, group=2, shift_y=0.5)
    kg = box.results["key_grid"]
    expected = W.offset_key_grid(4, 4, global_shift=(0.5, 0.0), jitter=1.0, seed=0, range_factor=4.0, group=2, n_groups=3)
    assert torch.allclose(kg.pos, expected.pos)
    assert box.results["features"].shape == (1, 4, 4)
    before = kg.pos.clone()
    box.controls["new_jitter"].click()
    assert box.results["seed"] == 1 and not torch.allclose(box.results["key_grid"].pos, before)


def test_attention_widget_query_kind_and_button():
    box = W.attention_widget()
    feats = box.results["features"]
    box.controls["row"].value = 3
    box.controls["col"].value = 12
    scale = box.results["sharpness"]
    assert torch.allclose(box.results["weights"], W.attention_map(feats, (3, 12), scale=scale), atol=1e-6)
    box.controls["kind"].value = "window"
    assert float(box.results["weights"][4:].sum()) == 0.0  # row 3 is in the first window row
    box.controls["kind"].value = "deformable"
    before = box.results["positions"].clone()
    draws = box.draws
    box.controls["new_offsets"].click()
    assert box.draws == draws + 1 and not torch.allclose(box.results["positions"], before)
    expected = W.attention_map(feats, (3, 12), "deformable", positions=box.results["positions"], scale=scale)
    assert torch.allclose(box.results["weights"], expected, atol=1e-6)


def test_colour_features_are_unit_length_and_self_similar():
    f = W.colour_features(W.load_photo((8, 8)))
    assert torch.allclose(f.norm(dim=0), torch.ones(8, 8), atol=1e-5)
    a = W.attention_map(f, (3, 4), scale=20.0)
    # the query's own colour has cosine similarity 1, the maximum: no pixel gets more weight
    assert float(a[3, 4]) >= float(a.max()) - 1e-6


def test_widget_is_a_vbox_with_an_output():
    import ipywidgets

    box = W.attention_widget(image=W.load_photo((8, 8)))
    assert isinstance(box, ipywidgets.VBox)
    assert isinstance(box.output, ipywidgets.Output) and box.output in box.children


def test_static_plots_have_titles_labels_and_legends():
    from matplotlib.figure import Figure

    figs = [
        plots.plot_sampling_grid(W.load_photo((30, 26)), scale=0.5, angle_deg=20.0, out_size=(12, 10), fig=Figure()),
        plots.plot_key_grid(W.photo_features((14, 14)), W.offset_key_grid(4, 4, jitter=1.0), group=2, n_groups=3, fig=Figure()),
        plots.plot_attention(W.load_photo((8, 8)), W.attention_details(_feats(c=3), (1, 2), "shifted"), fig=Figure()),
    ]
    for fig in figs:
        image_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        for ax in image_axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert image_axes[0].get_legend() is not None  # points are explained
    key_fig = figs[1]
    markers = {type(c).__name__ for c in key_fig.axes[0].collections}
    assert "PathCollection" in markers and len(key_fig.axes[0].collections) >= 3  # arrows + 2 marker sets
    with pytest.raises(ValueError, match="channels 3 is not divisible by groups 2"):
        plots.plot_key_grid(W.photo_features((8, 8)), W.offset_key_grid(2, 2), n_groups=2, fig=Figure())


def test_widget_limits_and_defaults_come_from_the_blocks():
    from dat_edu.windows import dat_shift

    box = W.offsets_widget(feature_map=W.photo_features((14, 14)), key_grid=(4, 4))
    factor = box.controls["range_factor"]
    assert factor.min > 0  # factor 0 is rejected by the block (and by bound_offsets), so not offered
    box.controls["range_factor"].value = factor.min  # the smallest factor the slider offers works
    assert torch.allclose(box.results["key_grid"].bound, torch.tensor([factor.min / 4] * 2))
    x = _feats(c=4, h=14, w=14, seed=1)  # window 7: DAT shifts by ceil(7 / 2) = 4, Swin's 7 // 2 would be 3
    default = W.attention_map(x, (13, 13), "shifted", window=7)
    assert torch.allclose(default, W.attention_map(x, (13, 13), "shifted", window=7, shift=dat_shift(7)))
    assert not torch.allclose(default, W.attention_map(x, (13, 13), "shifted", window=7, shift=3))


def test_old_figure_paths_keep_working_for_one_release():
    with pytest.warns(DeprecationWarning, match="moved to dat_edu.plots"):
        from dat_edu.widgets import plot_key_grid
    assert plot_key_grid is plots.plot_key_grid
    with pytest.warns(DeprecationWarning, match="moved to dat_edu.plots"):
        from dat_edu.receptive_field import draw_receptive_fields
    assert draw_receptive_fields is plots.draw_receptive_fields


def test_pure_widget_functions_need_no_jupyter():
    import subprocess
    import sys

    code = ("import sys; from dat_edu.widgets import transform_grid, offset_key_grid, attention_map;"
            "import torch; attention_map(torch.rand(2, 4, 4), (1, 1), 'shifted', window=2);"
            "assert not {'ipywidgets', 'matplotlib'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
