"""Figures: one call each, a Figure back, titles/labels/legends present (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from dat_edu.data import load_dataset  # noqa: E402
from dat_edu.sampling import normalized_to_pixel  # noqa: E402
from dat_edu.plots import (  # noqa: E402
    confusion_matrix,
    plot_confusion_matrix,
    plot_sampling_points,
    plot_training_curves,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class PointsStandIn(nn.Module):
    """Model API stand-in: block 0 plain, block 1 'deformable' with a learnable shift of a 4x4 grid."""

    def __init__(self, num_classes=4):
        super().__init__()
        self.head = nn.Linear(3, num_classes)
        self.shift = nn.Parameter(torch.tensor([0.1, -0.2]))

    def forward(self, x, return_positions=False):
        logits = self.head(x.mean((2, 3)))
        if not return_positions:
            return logits
        b = x.shape[0]
        c = (torch.arange(4) + 0.5) / 4 * 2 - 1
        ref = torch.stack(torch.meshgrid(c, c, indexing="ij"), -1).expand(b, 2, 4, 4, 2)
        pos = ref + self.shift
        return logits, [None, pos], [None, ref]


def test_training_curves_from_history_and_files(tmp_path):
    hist = [{"epoch": e, "train_loss": 2 / e, "test_loss": 2.2 / e, "train_acc": 0.2 * e, "test_acc": 0.18 * e,
             "lr": 1e-3 / e} for e in (1, 2, 3)]
    fig = plot_training_curves(hist)
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 3
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_ylabel() and ax.get_legend()
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), [0.18, 0.36, 0.54])
    import json

    (tmp_path / "metrics.json").write_text(json.dumps(hist))
    assert len(plot_training_curves(tmp_path).axes[0].lines) == 2
    with pytest.raises(ValueError, match="no epochs"):
        plot_training_curves([])


def test_confusion_matrix_counts_and_figure():
    preds = torch.tensor([0, 1, 1, 2, 2, 2])
    labels = torch.tensor([0, 1, 2, 2, 2, 1])
    cm = confusion_matrix(preds, labels, 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 2]]  # rows true, columns predicted
    fig = plot_confusion_matrix(preds, labels=labels, classes=["a", "b", "c"])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert "accuracy 0.667" in ax.get_title()
    assert len(fig.axes) == 2  # colour bar
    np.testing.assert_allclose(ax.images[0].get_array()[2], [0, 1 / 3, 2 / 3])
    with pytest.raises(ValueError, match="labels="):
        plot_confusion_matrix(preds)


def test_confusion_matrix_from_model():
    data = load_dataset("shapes", train_size=8, test_size=12)
    fig = plot_confusion_matrix(PointsStandIn(), data)
    assert "n=12" in fig.axes[0].get_title()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(data.test.classes)


def test_feature_map_positions_in_image_pixels():
    # align_corners=False over the image: -1 and +1 are the outer pixel edges
    assert normalized_to_pixel(torch.tensor(-1.0), 32, False).item() == pytest.approx(-0.5)
    assert normalized_to_pixel(torch.tensor(1.0), 32, False).item() == pytest.approx(31.5)
    # align_corners=True on an 8x8 map of a 32x32 image (stride 4): -1/+1 are the centres of its end cells
    assert normalized_to_pixel(torch.tensor(-1.0), 8, True, stride=4).item() == pytest.approx(1.5)
    assert normalized_to_pixel(torch.tensor(1.0), 8, True, stride=4).item() == pytest.approx(29.5)


def test_sampling_points_figure():
    data = load_dataset("shapes", train_size=8, test_size=8)
    model = PointsStandIn()
    fig = plot_sampling_points(model, data.test, max_images=3)
    assert len(fig.axes) == 3
    ax = fig.axes[0]
    assert ax.get_title() in data.test.classes and ax.get_xlabel() == "x (pixels)" and ax.get_ylabel() == "y (pixels)"
    assert "Deformable block 1" in fig._suptitle.get_text()
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "reference points" in names and "sampling positions (group 0)" in names and "object box" in names
    refs, samples = ax.collections[0], ax.collections[1]
    assert refs.get_facecolors().size == 0 or refs.get_facecolors()[0][3] == 0  # hollow circles
    # positions are the references moved by (0.1, -0.2) normalized = (1.6, -3.2) pixels
    d = samples.get_offsets() - refs.get_offsets()
    np.testing.assert_allclose(d, np.tile([[-3.2, 1.6]], (16, 1)), atol=1e-5)


def test_sampling_points_errors():
    class NoDeform(PointsStandIn):
        def forward(self, x, return_positions=False):
            out = super().forward(x, return_positions)
            return (out[0], [None, None], [None, None]) if return_positions else out

    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match="no deformable blocks"):
        plot_sampling_points(NoDeform(), x)
    with pytest.raises(ValueError, match="block 0 is not deformable"):
        plot_sampling_points(PointsStandIn(), x, block=0)
    with pytest.raises(ValueError, match="mean= and std="):
        plot_sampling_points(PointsStandIn(), torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def test_sampling_points_on_dat_cifar_use_the_feature_map():
    from dat_edu.model import dat_cifar

    torch.manual_seed(0)
    model = dat_cifar(num_classes=4, dims=(16, 32, 64), heads=(1, 2, 4), groups=(None, 1, 2))
    data = load_dataset("shapes", train_size=4, test_size=4)
    fig = plot_sampling_points(model, data.test, max_images=2)
    assert "Deformable block 5" in fig._suptitle.get_text()  # last D block of L S | L D | L D
    refs = fig.axes[0].collections[0].get_offsets()  # (x, y) pixels of group 0's 4x4 grid
    # official coords: the 4x4 map is read with align_corners=True; its reference grid
    # u = ((i + 0.5) / 4) * 2 - 1 lands at pixel 1/2 * (u + 1) * 3 * 8 + 3.5
    u = (torch.arange(4) + 0.5) / 4 * 2 - 1
    expect = sorted(set(np.round(normalized_to_pixel(u, 4, True, stride=8).numpy(), 4)))
    assert sorted(set(np.round(refs[:, 0], 4))) == expect == [6.5, 12.5, 18.5, 24.5]
    fig2 = plot_sampling_points(model, data.test, max_images=1, block=3)
    assert len(fig2.axes[0].collections[0].get_offsets()) == 64  # 8x8 keys of block 3, group 0
    assert not any(m._forward_pre_hooks for m in model.modules())  # the recording hooks are gone


def test_deformable_inputs_records_each_block_call_and_always_removes_its_hooks():
    from dat_edu.model import dat_cifar
    from dat_edu.plots import deformable_inputs

    model = dat_cifar(num_classes=4, dims=(16, 32, 64), heads=(1, 2, 4), groups=(None, 1, 2)).eval()
    with deformable_inputs(model) as maps:
        model(torch.randn(1, 3, 32, 32))
    assert maps == [(8, 8, True), (4, 4, True)]  # the two D blocks: map sizes and official coords
    with pytest.raises(ValueError), deformable_inputs(model):
        model(torch.randn(1, 3, 28, 28))
    assert not any(m._forward_pre_hooks for m in model.modules())


def test_attention_patterns_four_panels_with_their_keys():
    from dat_edu.plots import plot_attention_patterns

    fig = plot_attention_patterns(grid=16, window=4, keys=4, seed=0)
    axes = fig.axes
    assert len(axes) == 4
    for ax, start in zip(axes, ("(a) ViT: all 256 keys", "(b) Swin: 16 keys", "(c) DCN: 9 moved taps", "(d) DAT: 16 shared")):
        assert ax.get_title().startswith(start) and ax.get_xlabel() == "x (token)" and ax.get_ylabel() == "y (token)"
    assert len(axes[0].collections[0].get_offsets()) == 256  # every token is a key
    assert [len(c.get_offsets()) for c in axes[1].collections] == [16, 16]  # each query's window
    ref, moved = axes[3].collections[0].get_offsets(), axes[3].collections[1].get_offsets()
    assert len(ref) == len(moved) == 16 and not np.allclose(ref, moved)  # one shared, moved key grid
    centre = np.array([11.0, 5.5])  # the toy object: the DAT keys move towards it
    assert (np.linalg.norm(moved - centre, axis=1) < np.linalg.norm(ref - centre, axis=1)).mean() > 0.8
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "query on the object" in names and "sampled (moved) key" in names
    assert "toy 16 x 16 token map" in fig._suptitle.get_text()


def test_table_lookups_mark_the_reads_and_slide_a_key():
    from dat_edu.plots import plot_table_lookups
    from dat_edu.position_bias import deformable_position_bias
    from dat_edu.sampling import reference_grid

    H = W = 4
    table = torch.arange(7 * 7, dtype=torch.float32).view(7, 7)  # entry value = 7 * row + column
    q_grid = reference_grid(H, W)
    pos = torch.tensor([[0.1, -0.3], [0.5, 0.5]])
    fig = plot_table_lookups(table, q_grid, pos, query=(1, 2))
    ax0, ax1 = fig.axes[:2]  # then the colour bar
    where = ax0.lines[1].get_xydata()  # (column, row) of the lookups
    expect = (0.5 * (q_grid[1, 2] - pos) + 1) * (H - 1)
    np.testing.assert_allclose(where, expect.flip(-1).numpy(), atol=1e-6)
    assert len(ax0.lines[0].get_xydata()) == 49  # one dot per table entry
    bilinear, nearest = ax1.lines[0].get_ydata(), ax1.lines[1].get_ydata()
    # the slide: a key on the query's row at every x, read by the library; on this table (one step per
    # column) bilinear and nearest-entry reads differ by at most half a column
    x = ax1.lines[0].get_xdata()
    keys = torch.stack([q_grid[1, 2, 0].expand(len(x)), torch.linspace(-1, 1, len(x))], -1).view(1, 1, 1, -1, 2)
    np.testing.assert_allclose(bilinear, deformable_position_bias(table[None], q_grid, keys)[0, 0, 1 * W + 2].numpy(), atol=1e-5)
    assert np.abs(bilinear - nearest).max() <= 0.5 + 1e-5
    assert ax1.get_xlabel().startswith("key x") and ax1.get_ylabel() == "bias" and ax1.get_legend()
    assert ax0.get_title() and ax0.get_legend()


def test_bias_maps_one_panel_per_map():
    from dat_edu.plots import plot_bias_maps

    maps = {"a": torch.zeros(9, 9), "b": torch.ones(9, 9)}
    fig = plot_bias_maps(maps, query=(1, 2), size=(3, 4), extent=(-0.5, 3.5, 2.5, -0.5))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["a", "b"]
    for ax in panels:
        assert ax.get_xlabel() == "key x (pixels)" and ax.get_ylabel() == "key y (pixels)" and ax.get_legend()
        assert len(ax.lines[0].get_xydata()) == 12  # the 3 x 4 pixel centres
        np.testing.assert_allclose(ax.lines[1].get_xydata(), [[2, 1]])  # the query, drawn at (x, y)
    assert len(fig.axes) == 4  # two colour bars


def test_sampling_points_near_the_object_only():
    data = load_dataset("shapes", train_size=8, test_size=8)
    model = PointsStandIn()
    full = plot_sampling_points(model, data.test, max_images=2, groups=[0])
    near = plot_sampling_points(model, data.test, max_images=2, groups=[0], radius=0.6)
    for i in range(2):
        refs = near.axes[i].collections[0].get_offsets()
        assert 0 < len(refs) < len(full.axes[i].collections[0].get_offsets()) == 16
        # the drawn references are exactly those within the radius of the object centre (normalized)
        c = (torch.arange(4) + 0.5) / 4 * 2 - 1
        grid = torch.stack(torch.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2)
        inside = (grid - data.test.extra["centres_norm"][i]).norm(dim=-1) < 0.6
        assert len(refs) == int(inside.sum())
    assert "within 0.6 of the object centre" in near._suptitle.get_text()
    with pytest.raises(ValueError, match="radius= needs the object centres"):
        plot_sampling_points(model, torch.randn(2, 3, 32, 32), radius=0.5)
