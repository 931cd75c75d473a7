"""The photograph the lesson widgets show (Grace Hopper, shipped with matplotlib) and features made from it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dat_edu.validate import pair

__all__ = ["load_photo", "photo_features", "colour_features"]


def load_photo(size: tuple[int, int] | None = None) -> torch.Tensor:
    """The Grace Hopper photo as a float tensor (3, H, W) in [0, 1] (original 600 x 512).

    ``size=(h, w)`` shrinks it with area averaging (no ``align_corners`` needed, no warning).
    """
    import matplotlib.image as mpimg
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        arr = mpimg.imread(f, format="jpg")  # (600, 512, 3) uint8
    img = torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0  # (3, H, W)
    if size is not None:
        h, w = pair(size, "size")
        if h < 1 or w < 1:
            raise ValueError(f"size must be positive, got {size}")
        img = F.interpolate(img[None], size=(h, w), mode="area")[0]
    return img


def photo_features(size: tuple[int, int] = (28, 28)) -> torch.Tensor:
    """A toy 3-channel feature map (3, h, w) made from the photo, each channel scaled to [0, 1]:

    0 = brightness, 1 = redness (R minus the mean of G and B), 2 = blueness (B minus the mean of
    R and G). The channels light up different things (uniform, flag stripes and face, sky), which
    makes the offset groups of lesson 04 easy to tell apart: one channel per group.
    """
    r, g, b = load_photo(size)  # (h, w) each
    feats = torch.stack([(r + g + b) / 3, r - (g + b) / 2, b - (r + g) / 2])  # (3, h, w)
    lo = feats.amin(dim=(1, 2), keepdim=True)
    hi = feats.amax(dim=(1, 2), keepdim=True)
    return (feats - lo) / (hi - lo).clamp_min(1e-8)


def colour_features(image: torch.Tensor) -> torch.Tensor:
    """Per-pixel colour directions (C, H, W): standardize each channel, then scale every pixel to unit length.

    With unit-length features, q . k is the cosine similarity of two colours (1 = same colour),
    so a query attends most to itself and to pixels of similar colour (cosine attention, as in
    Swin V2). Lesson 05's widget uses these as queries = keys, with no learned projections.
    """
    z = (image - image.mean(dim=(1, 2), keepdim=True)) / image.std(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    return z / z.norm(dim=0, keepdim=True).clamp_min(1e-6)
