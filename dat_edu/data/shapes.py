"""A synthetic "shapes" data set made on the fly: one object per image on a cluttered background.

Why: on CIFAR-10 nobody can say where the "right" place to look is. Here the label depends
only on the object's shape (square, disk, triangle, cross), the object sits at a random place,
and the background is noise plus distractor specks, so a deformable-attention model is rewarded
for moving its sampling points onto the object, and :func:`distance_to_centre` /
:func:`fraction_in_box` measure whether it does.

Everything is vectorized over the batch (no per-image Python loop) and seeded: the same
``seed`` gives the same images on every machine.

Coordinates: ``boxes`` are pixel rows/columns ``(y0, x0, y1, x1)`` with ``y1``/``x1``
exclusive; ``centres`` are pixel ``(y, x)`` (continuous, pixel centres at integers);
``centres_norm``/``boxes_norm`` are the same in the normalized [-1, 1] convention of DAT's
reference points (``align_corners=False`` over the image, :func:`dat_edu.sampling.pixel_to_normalized`;
box edges are the outer pixel edges, ``y1 - 0.5`` for the last row), stored ``(y, x)`` like the
sampling positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dat_edu.model import collect_positions, pick_deformable
from dat_edu.sampling import pixel_to_normalized

__all__ = [
    "SHAPE_CLASSES",
    "ShapesData",
    "make_shapes",
    "distance_to_centre",
    "fraction_in_box",
    "offset_alignment",
    "offset_movement",
]

SHAPE_CLASSES = ("square", "disk", "triangle", "cross")


@dataclass
class ShapesData:
    """Images uint8 (N, 3, S, S), labels int64 (N,), boxes/centres in pixels and normalized."""

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor  # (N, 4) float (y0, x0, y1, x1), pixels, y1/x1 exclusive
    centres: torch.Tensor  # (N, 2) float (y, x), pixels
    centres_norm: torch.Tensor  # (N, 2) float (y, x) in [-1, 1]
    boxes_norm: torch.Tensor  # (N, 4) float (y0, x0, y1, x1) in [-1, 1] (outer pixel edges)
    classes: tuple[str, ...] = SHAPE_CLASSES

    def __len__(self) -> int:
        return self.images.shape[0]


def _masks(kind: torch.Tensor, cy, cx, r, size: int) -> torch.Tensor:
    """Boolean (N, S, S) object masks; ``kind`` (N,) indexes SHAPE_CLASSES, r = half size."""
    coords = torch.arange(size, dtype=torch.float32)
    dy = coords.view(1, size, 1) - cy.view(-1, 1, 1)  # (N, S, 1)
    dx = coords.view(1, 1, size) - cx.view(-1, 1, 1)  # (N, 1, S)
    r = r.view(-1, 1, 1)
    ady, adx = dy.abs(), dx.abs()
    square = (ady <= r) & (adx <= r)
    disk = dy**2 + dx**2 <= (r + 0.5) ** 2
    # triangle pointing up: width grows linearly from apex (dy = -r) to base (dy = +r)
    triangle = (ady <= r) & (adx <= (dy + r) / 2 + 0.5)
    arm = torch.clamp(r / 3, min=1.0)  # half-thickness of the cross' bars
    cross = ((ady <= r) & (adx <= arm)) | ((adx <= r) & (ady <= arm))
    stack = torch.stack([square, disk, triangle, cross])  # (4, N, S, S)
    return stack[kind, torch.arange(kind.shape[0])]


def make_shapes(
    n: int,
    seed: int = 0,
    size: int = 32,
    *,
    min_half: float = 3.0,
    max_half: float = 6.0,
    noise: float = 0.25,
    clutter: int = 6,
    num_classes: int = 4,
) -> ShapesData:
    """Generate ``n`` images of one coloured shape on a noisy, cluttered background.

    ``min_half``/``max_half``: half side of the object in pixels (object ~7-13 px wide on 32).
    ``noise``: amplitude of the smooth background noise in [0, 1] units. ``clutter``: number of
    2x2 distractor specks per image (colours like the objects, so colour is no cue).
    ``num_classes``: use the first 2..4 of :data:`SHAPE_CLASSES`.
    """
    if not 2 <= num_classes <= len(SHAPE_CLASSES):
        raise ValueError(f"num_classes must be 2..{len(SHAPE_CLASSES)}, got {num_classes}")
    if size < 2 * max_half + 4:
        raise ValueError(f"size {size} too small for objects of half size {max_half}: use size >= {2 * max_half + 4}")
    g = torch.Generator().manual_seed(int(seed))
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731 (uniform [0, 1))

    labels = torch.randint(num_classes, (n,), generator=g)
    half = (min_half + (max_half - min_half) * u(n)).round()
    # centre so that the whole object (plus 1 px margin) is inside the image
    lo, span = half + 1, size - 2 * (half + 1) - 1
    cy = (lo + u(n) * span).round()
    cx = (lo + u(n) * span).round()
    obj = _masks(labels, cy, cx, half, size)  # (N, S, S) bool

    # background: smooth colour noise (upsampled 8x8 noise) around a dark random tint
    base = 0.15 + 0.2 * u(n, 3, 1, 1)
    smooth = F.interpolate(u(n, 3, 8, 8) - 0.5, size=(size, size), mode="bilinear", align_corners=False)
    img = base + noise * smooth + 0.05 * (u(n, 3, size, size) - 0.5)
    # clutter: 2x2 specks at random places with object-like bright colours
    sy = (u(n, clutter) * (size - 1)).long()
    sx = (u(n, clutter) * (size - 1)).long()
    speck_col = 0.55 + 0.45 * u(n, clutter, 3)
    if clutter > 0:
        ar = torch.arange(size)
        rows = (ar.view(1, 1, size) == sy.unsqueeze(-1)) | (ar.view(1, 1, size) == sy.unsqueeze(-1) + 1)
        cols = (ar.view(1, 1, size) == sx.unsqueeze(-1)) | (ar.view(1, 1, size) == sx.unsqueeze(-1) + 1)
        cover = rows.unsqueeze(-1) & cols.unsqueeze(-2)  # (N, K, S, S): speck k covers pixel
        # where specks overlap the later one wins: index 1..K of the last covering speck, 0 = none
        k_idx = (cover * torch.arange(1, clutter + 1).view(1, clutter, 1, 1)).amax(1)  # (N, S, S)
        pal = torch.cat([torch.zeros(n, 1, 3), speck_col], 1)  # (N, K+1, 3), row 0 unused
        speck = pal[torch.arange(n).view(n, 1, 1), k_idx]  # (N, S, S, 3)
        img = torch.where((k_idx > 0).unsqueeze(1), speck.permute(0, 3, 1, 2), img)
    # object: bright random colour (at least one strong channel), drawn last, on top
    colour = 0.35 + 0.65 * u(n, 3)
    colour[torch.arange(n), torch.randint(3, (n,), generator=g)] = 1.0
    img = torch.where(obj.unsqueeze(1), colour.view(n, 3, 1, 1), img)
    images = (img.clamp(0, 1) * 255).round().to(torch.uint8)

    # tight box around the drawn mask (shapes differ in extent, e.g. the triangle's apex)
    rows, cols = obj.any(2), obj.any(1)  # (N, S)
    idx = torch.arange(size)
    y0 = torch.where(rows, idx, size).amin(1)
    y1 = torch.where(rows, idx, -1).amax(1) + 1
    x0 = torch.where(cols, idx, size).amin(1)
    x1 = torch.where(cols, idx, -1).amax(1) + 1
    boxes = torch.stack([y0, x0, y1, x1], 1).float()
    centres = torch.stack([(y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2], 1).float()
    return ShapesData(
        images=images,
        labels=labels,
        boxes=boxes,
        centres=centres,
        centres_norm=pixel_to_normalized(centres, size, align_corners=False),
        boxes_norm=pixel_to_normalized(boxes - 0.5, size, align_corners=False),  # outer pixel edges
        classes=SHAPE_CLASSES[:num_classes],
    )


def _points_per_image(positions: torch.Tensor, per_image: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, ..., 2) positions -> (B, N, 2) float, and ``per_image`` (B, k) -> (B, 1, k) beside them."""
    if positions.shape[0] != per_image.shape[0] or positions.shape[-1] != 2:
        raise ValueError(
            f"positions {tuple(positions.shape)} and {what} {tuple(per_image.shape)} must share the "
            "batch size, with (y, x) in the last dimension"
        )
    p = positions.reshape(positions.shape[0], -1, 2).float()
    return p, per_image.to(p).unsqueeze(1)


def distance_to_centre(positions: torch.Tensor, centres_norm: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance (normalized units) of sampling points to each image's object.

    positions: (B, ..., 2) normalized (y, x), e.g. (B, g, Hk, Wk, 2) from the model;
    centres_norm: (B, 2) (y, x). Returns (B,). Compare it for the sampling positions and for
    the reference points: smaller for the positions means the points moved toward the object.
    """
    p, c = _points_per_image(positions, centres_norm, "centres")  # (B, N, 2), (B, 1, 2)
    return (p - c).norm(dim=-1).mean(1)


def fraction_in_box(positions: torch.Tensor, boxes_norm: torch.Tensor) -> torch.Tensor:
    """Fraction (B,) of sampling points inside each image's object box (normalized, (y0,x0,y1,x1))."""
    p, b = _points_per_image(positions, boxes_norm, "boxes")  # (B, N, 2), (B, 1, 4)
    inside = (p[..., 0] >= b[..., 0]) & (p[..., 0] <= b[..., 2]) & (p[..., 1] >= b[..., 1]) & (p[..., 1] <= b[..., 3])
    return inside.float().mean(1)


def offset_alignment(
    positions: torch.Tensor, references: torch.Tensor, centres_norm: torch.Tensor, radius: float | None = 0.5
) -> torch.Tensor:
    """Mean cosine between each offset (position - reference) and the direction to the object.

    positions, references: (B, ..., 2) normalized (y, x); centres_norm: (B, 2). Only reference
    points closer than ``radius`` (normalized units; None = all) to the object count: an offset
    network sees a small neighbourhood, so only nearby points can "know" where the object is.
    +1: every offset points at the object; 0: no relation; -1: away. Returns a 0-d tensor (nan
    if no point is near an object).
    """
    if positions.shape != references.shape or positions.shape[0] != centres_norm.shape[0]:
        raise ValueError(
            f"positions {tuple(positions.shape)}, references {tuple(references.shape)} and centres "
            f"{tuple(centres_norm.shape)} must agree in shape and batch size"
        )
    p = positions.reshape(positions.shape[0], -1, 2).float()
    r = references.reshape(references.shape[0], -1, 2).float()
    to_obj = centres_norm.to(p).unsqueeze(1) - r  # (B, N, 2)
    cos = F.cosine_similarity(p - r, to_obj, dim=-1)  # (B, N); 0 where the offset is 0
    near = torch.ones_like(cos, dtype=torch.bool) if radius is None else to_obj.norm(dim=-1) < radius
    return cos[near].mean() if near.any() else torch.tensor(float("nan"))


@torch.no_grad()
def offset_movement(model, split, n: int = 1000, block: int | None = None) -> dict:
    """Do a model's deformable keys sit closer to the object than their reference points?

    model: returns ``(logits, positions, references)`` for ``return_positions=True``; split: a
    shapes ``DataSplit`` (``extra`` holds ``centres_norm``/``boxes_norm``), first ``n`` images, no
    augmentation. block: index into the model's per-block lists (default: last deformable block).

    Returns floats: ``dist_pos``/``dist_ref`` (mean distance of sampling positions / reference
    points to the object centre, normalized units, see :func:`distance_to_centre`), ``ratio``
    (= dist_pos / dist_ref; < 1 means the keys moved toward the objects), ``in_box_pos``/
    ``in_box_ref`` (:func:`fraction_in_box` with the tight box) and ``alignment``
    (:func:`offset_alignment` over all points). Positions must be in the image's
    ``align_corners=False`` frame, which holds exactly for ``coords="corrected"`` models (with
    ``coords="official"`` they are off by up to half a feature-map cell).
    """
    from .augment import normalize

    if "centres_norm" not in split.extra:
        raise ValueError("offset_movement needs a shapes split (DataSplit with extra['centres_norm']): "
                         "use load_dataset('shapes', ...).test")
    device = next(model.parameters()).device
    x = normalize(split.images[:n].to(device), split.mean, split.std)
    c, b = split.extra["centres_norm"][:n].cpu(), split.extra["boxes_norm"][:n].cpu()
    blocks, positions, references = collect_positions(model, x)
    i = pick_deformable(blocks, block)
    p, r = positions[i], references[i]
    dp, dr = distance_to_centre(p, c).mean().item(), distance_to_centre(r, c).mean().item()
    return {
        "dist_pos": dp,
        "dist_ref": dr,
        "ratio": dp / dr,
        "in_box_pos": fraction_in_box(p, b).mean().item(),
        "in_box_ref": fraction_in_box(r, b).mean().item(),
        "alignment": offset_alignment(p, r, c, radius=None).item(),
    }
