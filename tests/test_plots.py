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
