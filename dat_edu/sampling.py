"""Reference grids, coordinate conventions and bilinear sampling, written out.

Deformable attention reads features at *fractional* positions. Three ideas make that work:

1. **Normalized coordinates.** A position on an H x W map is stored as a number in [-1, 1] per
   axis, so the same code works at every resolution. Convention in this package (as in the
   official DAT code): the last dimension holds ``(y, x)``, i.e. ``[..., 0] = y`` (row) and
   ``[..., 1] = x`` (column).

2. **Two ways to map [-1, 1] onto pixels** (``align_corners`` of ``F.grid_sample``), for an axis
   with ``size`` pixels whose centres sit at integer pixel coordinates 0 .. size - 1:

   * ``align_corners=True``:  -1 and +1 are the *centres* of the first and last pixel,
     ``p = (u + 1) / 2 * (size - 1)``.
   * ``align_corners=False``: -1 and +1 are the *outer edges* of the first and last pixel,
     ``p = ((u + 1) * size - 1) / 2``; pixel centre i sits at ``u = (2i + 1) / size - 1``.

   :func:`reference_grid` uses the centre formula ``((i + 0.5) / size) * 2 - 1`` that belongs to
   ``align_corners=False``; :func:`aligned_grid` uses ``i / (size - 1) * 2 - 1`` that belongs to
   ``align_corners=True``. **DAT v1 quirk:** the official code builds the first grid but samples
   with ``align_corners=True``, so zero offsets read row i at pixel ``(i + 0.5)(H - 1)/H``
   (0.464, 1.393, ..., 12.536 at H = 14) instead of at pixel i — not the identity.

   :func:`normalized_to_pixel` and its inverse :func:`pixel_to_normalized` are the package's one
   conversion between the two (one axis, or (y, x) positions with ``size=(H, W)``; ``stride=`` for a
   feature map s times smaller than the image it is drawn on). Every other module calls them.

3. **Bilinear interpolation.** A fractional pixel position (py, px) lies between four pixel
   centres; the value is their average weighted by closeness. Neighbours outside the image count
   as zero (``padding_mode="zeros"``). :func:`bilinear_sample` does this from scratch and equals
   ``F.grid_sample`` in value and gradient; :func:`sample_features` is the fast library call that
   the model uses.

``F.grid_sample`` wants its grid in ``(x, y)`` order — the opposite of the ``(y, x)`` storage used
here. :func:`sample_features` is the one named place where that swap happens.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F
from einops import rearrange

from dat_edu.validate import check_nchw, pair

__all__ = [
    "reference_grid",
    "aligned_grid",
    "pixel_to_normalized",
    "normalized_to_pixel",
    "bilinear_sample",
    "sample_features",
    "yx_to_xy",
]

Number = Union[float, int, torch.Tensor]


def _check_size(h: int, w: int) -> None:
    if h < 1 or w < 1:
        raise ValueError(f"grid size must be positive, got {h}x{w}")


def reference_grid(
    h: int, w: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Pixel-centre grid of the official DAT code: (h, w, 2), normalized, last dim (y, x).

    ``grid[i, j] = (((i + 0.5) / h) * 2 - 1, ((j + 0.5) / w) * 2 - 1)``: the centres of the pixels
    under the ``align_corners=False`` convention (they never reach -1 or +1).
    """
    _check_size(h, w)
    ys = (torch.arange(h, dtype=dtype, device=device) + 0.5) / h * 2 - 1  # (h,)
    xs = (torch.arange(w, dtype=dtype, device=device) + 0.5) / w * 2 - 1  # (w,)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (h, w) each
    return torch.stack((grid_y, grid_x), dim=-1)  # (h, w, 2) as (y, x)


def aligned_grid(
    h: int, w: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Pixel-centre grid under ``align_corners=True``: (h, w, 2), normalized, last dim (y, x).

    ``grid[i, j] = (i / (h - 1) * 2 - 1, j / (w - 1) * 2 - 1)``, from -1 to +1 inclusive; an axis of
    length 1 gets the single value 0. Sampling with this grid and ``align_corners=True`` returns the
    input exactly.
    """
    _check_size(h, w)

    def axis(n: int) -> torch.Tensor:
        if n == 1:
            return torch.zeros(1, dtype=dtype, device=device)
        return torch.arange(n, dtype=dtype, device=device) / (n - 1) * 2 - 1

    grid_y, grid_x = torch.meshgrid(axis(h), axis(w), indexing="ij")  # (h, w) each
    return torch.stack((grid_y, grid_x), dim=-1)  # (h, w, 2) as (y, x)


def _check_axis(size: int, stride: float) -> None:
    if size < 1 or stride <= 0:
        raise ValueError(f"size must be positive and stride > 0, got size {size}, stride {stride}")


def _per_axis(fn, values: Number, size: int | Sequence[int], stride: float | Sequence[float]) -> Number:
    """Apply a one-axis conversion to one axis (``size`` an int) or to (y, x) positions (a pair)."""
    if isinstance(size, int):
        if not isinstance(stride, (int, float)):
            raise ValueError(f"one axis (size {size}) takes one stride, got {stride!r}")
        _check_axis(size, stride)
        return fn(values, size, stride)
    (h, w), (sy, sx) = pair(size, "size"), pair(stride, "stride")
    _check_axis(h, sy), _check_axis(w, sx)
    if not isinstance(values, torch.Tensor) or values.shape[-1] != 2:
        raise ValueError("with size=(H, W), pass positions (..., 2) in (y, x) order as a tensor")
    return torch.stack((fn(values[..., 0], h, sy), fn(values[..., 1], w, sx)), dim=-1)


def normalized_to_pixel(
    u: Number, size: int | Sequence[int], align_corners: bool, stride: float | Sequence[float] = 1
) -> Number:
    """Normalized coordinate u in [-1, 1] -> pixel coordinate (pixel centres at 0 .. size - 1).

    align_corners=True: ``p = (u + 1) / 2 * (size - 1)``; False: ``p = ((u + 1) * size - 1) / 2``.
    ``size`` an int: one axis, ``u`` a float or a tensor (element-wise). ``size=(H, W)``: ``u`` holds
    positions (..., 2) in (y, x) order, each axis converted with its own size.

    ``stride`` s: the map of ``size`` pixels is an s-times downsampled view of an image (a feature
    map of a model); the result is then in *image* pixels, ``f * s + (s - 1) / 2`` for the map
    pixel f (the centre of its s x s cell). One number or a (y, x) pair.
    """

    def axis(v: Number, n: int, s: float) -> Number:
        f = (v + 1) / 2 * (n - 1) if align_corners else ((v + 1) * n - 1) / 2
        return f if s == 1 else f * s + (s - 1) / 2

    return _per_axis(axis, u, size, stride)


def pixel_to_normalized(
    p: Number, size: int | Sequence[int], align_corners: bool, stride: float | Sequence[float] = 1
) -> Number:
    """Pixel coordinate p -> normalized coordinate, the inverse of :func:`normalized_to_pixel`.

    align_corners=True: ``u = p / (size - 1) * 2 - 1`` (0 when size == 1, where every u maps to
    pixel 0); False: ``u = (2p + 1) / size - 1``. ``size`` and ``stride`` as in
    :func:`normalized_to_pixel` (with a stride, p is in image pixels).
    """

    def axis(v: Number, n: int, s: float) -> Number:
        f = v if s == 1 else (v - (s - 1) / 2) / s  # image pixel -> map pixel
        if align_corners:
            if n == 1:
                return f * 0  # a single pixel: every normalized value reads pixel 0
            return f / (n - 1) * 2 - 1
        return (2 * f + 1) / n - 1

    return _per_axis(axis, p, size, stride)


def yx_to_xy(pos: torch.Tensor) -> torch.Tensor:
    """Swap the last dimension (y, x) -> (x, y), the order ``F.grid_sample`` expects (and back)."""
    if pos.shape[-1] != 2:
        raise ValueError(f"positions need a last dimension of size 2, got shape {tuple(pos.shape)}")
    return pos[..., (1, 0)]


def _check_sampling(x: torch.Tensor, points: torch.Tensor, name: str, order: str, who: str) -> None:
    """An NCHW map and one (Ho, Wo) grid of 2-D points per image of it."""
    check_nchw(x, who)
    if points.dim() != 4 or points.shape[-1] != 2 or points.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name} must be (N, Ho, Wo, 2) in {order} order with N={x.shape[0]} matching the map, "
            f"got shape {tuple(points.shape)}"
        )


def bilinear_sample(input: torch.Tensor, grid: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Bilinear sampling with zero padding, from scratch; equals ``F.grid_sample`` (bilinear, zeros).

    Args:
        input: (N, C, H, W) feature map.
        grid: (N, Ho, Wo, 2) normalized sampling positions in grid_sample's **(x, y)** order.
        align_corners: how [-1, 1] maps onto pixels (see the module docstring).

    Returns:
        (N, C, Ho, Wo): for every grid point, the weighted sum of its 4 neighbouring pixels;
        neighbours outside the image contribute 0. Differentiable w.r.t. ``input`` and ``grid``
        (autograd through the weights gives the same gradient as grid_sample's own backward).
    """
    _check_sampling(input, grid, "grid", "(x, y)", "bilinear_sample")
    n, c, h, w = input.shape
    ho, wo = grid.shape[1], grid.shape[2]

    # 1. Normalized -> pixel coordinates. grid is (x, y): index 0 is x (width), 1 is y (height).
    px = normalized_to_pixel(grid[..., 0], w, align_corners)  # (N, Ho, Wo)
    py = normalized_to_pixel(grid[..., 1], h, align_corners)  # (N, Ho, Wo)

    # 2. The four neighbours: top-left corner (x0, y0) and the fractional part inside the cell.
    #    floor has zero gradient, so d(tx)/d(px) = 1 and autograd gives the bilinear slope.
    x0 = torch.floor(px)
    y0 = torch.floor(py)
    tx = px - x0  # in [0, 1): weight of the right-hand neighbour
    ty = py - y0  # in [0, 1): weight of the lower neighbour
    x0 = x0.long()
    y0 = y0.long()

    flat = rearrange(input, "n c h w -> n c (h w)")  # (N, C, H*W) to gather by linear index
    out = input.new_zeros(n, c, ho * wo)
    corners = (
        (y0, x0, (1 - ty) * (1 - tx)),  # top-left
        (y0, x0 + 1, (1 - ty) * tx),  # top-right
        (y0 + 1, x0, ty * (1 - tx)),  # bottom-left
        (y0 + 1, x0 + 1, ty * tx),  # bottom-right
    )
    for yi, xi, weight in corners:
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)  # (N, Ho, Wo) bool
        # Clamp so the gather index is legal; outside corners are zeroed by `inside` below.
        index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).reshape(n, 1, ho * wo)
        values = torch.gather(flat, 2, index.expand(n, c, ho * wo))  # (N, C, Ho*Wo)
        weight = (weight * inside).reshape(n, 1, ho * wo)  # zero padding: no contribution
        out = out + values * weight
    return rearrange(out, "n c (ho wo) -> n c ho wo", ho=ho, wo=wo)


def sample_features(x: torch.Tensor, pos: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Read a feature map at (y, x) positions with ``F.grid_sample`` (bilinear, zero padding).

    Args:
        x: (N, C, H, W) feature map.
        pos: (N, Hk, Wk, 2) normalized positions in this package's **(y, x)** order.
        align_corners: True in the official DAT v1 code (see the quirk in the module docstring).

    Returns:
        (N, C, Hk, Wk) sampled features.
    """
    _check_sampling(x, pos, "pos", "(y, x)", "sample_features")
    grid = yx_to_xy(pos)  # THE swap: our (y, x) storage -> grid_sample's (x, y)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)
