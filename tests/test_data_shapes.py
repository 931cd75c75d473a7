"""Synthetic shapes: deterministic, labels match the drawn shape, boxes/centres are right."""

from __future__ import annotations

import pytest
import torch

from dat_edu.data import load_dataset
from dat_edu.data.shapes import (
    SHAPE_CLASSES,
    distance_to_centre,
    fraction_in_box,
    make_shapes,
    offset_alignment,
)
from dat_edu.sampling import normalized_to_pixel


def test_shapes_are_deterministic_and_typed():
    a, b = make_shapes(64, seed=3), make_shapes(64, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, make_shapes(64, seed=4).images)
    assert a.images.shape == (64, 3, 32, 32) and a.images.dtype == torch.uint8
    assert a.labels.dtype == torch.int64 and set(a.labels.tolist()) <= set(range(4))
    assert a.classes == SHAPE_CLASSES


def test_box_and_centre_are_inside_and_consistent():
    d = make_shapes(200, seed=0)
    y0, x0, y1, x1 = d.boxes.unbind(1)
    assert (y0 >= 0).all() and (x0 >= 0).all() and (y1 <= 32).all() and (x1 <= 32).all()
    assert ((y1 - y0) >= 5).all() and ((x1 - x0) >= 5).all()
    assert torch.allclose(d.centres[:, 0], (y0 + y1 - 1) / 2)
    # centres: align_corners=False over the image (pixel p -> (2p + 1) / 32 - 1); box edges e -> 2e / 32 - 1
    assert torch.allclose(d.centres_norm, (2 * d.centres + 1) / 32 - 1)
    assert torch.allclose(d.boxes_norm, d.boxes * 2 / 32 - 1)
    assert torch.allclose(normalized_to_pixel(d.centres_norm, (32, 32), False), d.centres, atol=1e-5)
    assert (d.centres_norm.abs() < 1).all()
    # normalized box encloses the normalized centre
    b = d.boxes_norm
    c = d.centres_norm
    assert ((b[:, 0] < c[:, 0]) & (c[:, 0] < b[:, 2]) & (b[:, 1] < c[:, 1]) & (c[:, 1] < b[:, 3])).all()


def test_object_pixels_are_at_the_box():
    # the object colour has one channel at 255; the box edges must touch object pixels
    d = make_shapes(50, seed=1, clutter=0)
    for i in range(5):
        y0, x0, y1, x1 = d.boxes[i].long().tolist()
        inside = d.images[i, :, y0:y1, x0:x1].float()
        outside = d.images[i].float().clone()
        outside[:, y0:y1, x0:x1] = 0
        assert inside.max() == 255 and outside.max() < 200


def test_shape_classes_differ_in_area():
    # squares fill their box, crosses the least: labels really follow the drawn shape
    d = make_shapes(400, seed=2, clutter=0)
    fill = []
    for k in range(4):
        idx = (d.labels == k).nonzero().flatten()[:20]
        ratios = []
        for i in idx.tolist():
            y0, x0, y1, x1 = d.boxes[i].long().tolist()
            patch = d.images[i, :, y0:y1, x0:x1].amax(0)
            ratios.append((patch == d.images[i, :, y0 + (y1 - y0) // 2, x0 + (x1 - x0) // 2].amax()).float().mean())
        fill.append(float(torch.stack(ratios).mean()))
    square, disk, triangle, cross = fill
    assert square > disk > cross and square > triangle
    assert square > 0.95


def test_distance_and_fraction_helpers():
    centres = torch.tensor([[0.0, 0.0], [0.5, -0.5]])
    boxes = torch.tensor([[-0.2, -0.2, 0.2, 0.2], [0.4, -0.6, 0.6, -0.4]])
    on = centres.view(2, 1, 1, 1, 2).expand(2, 2, 3, 3, 2)
    assert torch.allclose(distance_to_centre(on, centres), torch.zeros(2))
    assert torch.allclose(fraction_in_box(on, boxes), torch.ones(2))
    far = torch.full((2, 1, 2, 2, 2), 0.9)
    assert (distance_to_centre(far, centres) > 0.5).all()
    assert torch.allclose(fraction_in_box(far, boxes), torch.zeros(2))
    with pytest.raises(ValueError, match="batch size"):
        distance_to_centre(far, centres[:1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        make_shapes(4, num_classes=7)
    with pytest.raises(ValueError, match="too small"):
        make_shapes(4, size=12)


def test_load_dataset_shapes_has_extra_and_new_test_images():
    b = load_dataset("shapes", train_size=32, test_size=16, seed=0)
    assert len(b.train) == 32 and len(b.test) == 16 and b.num_classes == 4
    assert b.train.extra["centres_norm"].shape == (32, 2)
    assert not torch.equal(b.train.images[:16], b.test.images)
    s = b.train.subset(8)
    assert len(s) == 8 and s.extra["boxes_norm"].shape == (8, 4)


def test_offset_alignment_signs():
    c = torch.tensor([[0.0, 0.0]])
    ref = torch.tensor([[[0.2, 0.0], [0.0, -0.3], [0.9, 0.9]]])  # (1, 3, 2)
    toward = ref * 0.5  # every point halfway to the centre
    away = ref * 1.5
    assert offset_alignment(toward, ref, c).item() == pytest.approx(1.0)
    assert offset_alignment(away, ref, c).item() == pytest.approx(-1.0)
    # the far point (distance 1.27) is ignored with the default radius 0.5
    mixed = torch.cat([toward[:, :2], away[:, 2:]], 1)
    assert offset_alignment(mixed, ref, c).item() == pytest.approx(1.0)
    assert offset_alignment(mixed, ref, c, radius=None).item() == pytest.approx(1 / 3)
    assert torch.isnan(offset_alignment(toward, ref, c + 5, radius=0.1))
