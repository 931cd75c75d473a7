"""Interactive helpers for lessons 03-05: pure functions, plotting functions and thin widgets.

Every widget in this module is a thin shell around *pure functions* that the tests (and the
lessons) call directly with the values a learner would set on the sliders:

==========================  =====================================================================
pure function               what it computes
==========================  =====================================================================
``transform_grid``          a sampling grid moved / scaled / rotated in normalized (y, x) units
``resample``                ``F.grid_sample`` of a (C, H, W) image at a (y, x) grid
``offset_key_grid``         reference points + bounded offsets (tanh * factor / Hk) -> positions
``sampled_features``        the features a (y, x) key grid carries (bilinear, like the block)
``attention_map``           one query's attention weights over the keys, as an (H, W) map
==========================  =====================================================================

Coordinate conventions (the course-wide contract): positions are normalized to [-1, 1] and stored
last-dim (y, x), ``[..., 0] = y`` and ``[..., 1] = x``. ``F.grid_sample`` wants (x, y), so every
call below flips the last dimension first and says so.

The widget builders (``sampling_grid_widget``, ``offsets_widget``, ``attention_widget``) return a
:class:`LessonWidget` (an ``ipywidgets.VBox``) whose slider / button callbacks call the pure
functions, keep the latest results in ``.results`` and redraw a PNG into ``.output`` (an
``ipywidgets.Output``). The PNG is written straight into ``Output.outputs``, so redrawing works the
same inside a running kernel, in a plain Python test, and under ``pytest --nbval``.
A notebook cell should only build and display a widget (no ``interact``): strict nbval compares
text outputs, and a widget cell that only builds, observes and displays has none that change.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import ipywidgets as widgets
import torch
import torch.nn.functional as F

from dat_edu.attention import stable_softmax
from dat_edu.offsets import bound_offsets
from dat_edu.sampling import aligned_grid, normalized_to_pixel, reference_grid, sample_features

__all__ = [
    "load_photo",
    "photo_features",
    "colour_features",
    "base_grid",
    "transform_grid",
    "transform_points",
    "resample",
    "grid_to_pixels",
    "KeyGrid",
    "offset_key_grid",
    "sampled_features",
    "AttentionResult",
    "attention_details",
    "attention_map",
    "plot_sampling_grid",
    "plot_key_grid",
    "plot_attention",
    "LessonWidget",
    "sampling_grid_widget",
    "offsets_widget",
    "attention_widget",
]

ATTENTION_KINDS = ("dense", "window", "shifted", "deformable")


# --------------------------------------------------------------------------------------------
# Data: the Grace Hopper photograph that ships with matplotlib
# --------------------------------------------------------------------------------------------
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
        h, w = _pair(size, "size")
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


# --------------------------------------------------------------------------------------------
# Lesson 03: sampling grids
# --------------------------------------------------------------------------------------------
def _pair(v: Any, name: str) -> tuple[Any, Any]:
    try:
        a, b = v
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (y, x), got {v!r}") from None
    return a, b


def base_grid(h: int, w: int, *, align_corners: bool = False) -> torch.Tensor:
    """Identity sampling grid (h, w, 2) in normalized (y, x).

    align_corners=False: pixel centres ((i + 0.5) / h) * 2 - 1 (the official reference formula);
    align_corners=True: i / (h - 1) * 2 - 1 (0 when h == 1). Either way, resampling an h x w
    image with its own base grid and the same ``align_corners`` returns the image unchanged.
    """
    return aligned_grid(h, w) if align_corners else reference_grid(h, w)


def transform_grid(
    h: int,
    w: int,
    shift: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    angle_deg: float = 0.0,
    *,
    align_corners: bool = False,
    image_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """A moved, scaled and rotated sampling grid: (h, w, 2), normalized, (y, x).

    Each base-grid point p (see :func:`base_grid`) goes to ``shift + R(angle) @ (scale * p)``:
    scale about the image centre, rotate about it, then move by ``shift = (dy, dx)`` in
    normalized units (dx = 1 moves the grid by half the image width).
    ``angle_deg > 0`` turns the grid counter-clockwise *on screen* (y points down). The rotation
    is done in pixel-proportional units so it stays a rigid rotation on a non-square image;
    ``image_size=(H, W)`` is the image it will sample (default: same aspect as the grid).
    """
    g = base_grid(h, w, align_corners=align_corners)
    return transform_points(g, shift, scale, angle_deg, image_size=(h, w) if image_size is None else image_size)


def transform_points(
    points_yx: torch.Tensor,
    shift: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    angle_deg: float = 0.0,
    *,
    image_size: tuple[int, int],
) -> torch.Tensor:
    """Apply ``shift + R(angle) @ (scale * p)`` to normalized (y, x) points (..., 2); see transform_grid."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}: use a small positive value to zoom in")
    dy, dx = (float(v) for v in _pair(shift, "shift"))
    ih, iw = _pair(image_size, "image_size")
    # normalized -> pixel-proportional (a normalized unit is H/2 px in y but W/2 px in x)
    y, x = points_yx[..., 0] * scale * ih, points_yx[..., 1] * scale * iw
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    # counter-clockwise on screen with y down: (x, y) -> (c x + s y, -s x + c y)
    xr, yr = c * x + s * y, -s * x + c * y
    return torch.stack([yr / ih + dy, xr / iw + dx], dim=-1)  # (..., 2), (y, x)


def resample(
    image: torch.Tensor,
    grid_yx: torch.Tensor,
    align_corners: bool,
) -> torch.Tensor:
    """Bilinearly sample ``image`` (C, H, W) at ``grid_yx`` (h, w, 2), normalized (y, x) -> (C, h, w).

    Points outside [-1, 1] read zeros (``padding_mode="zeros"``), like the DAT block.
    Uses :func:`dat_edu.sampling.sample_features` (``F.grid_sample``).
    """
    if image.dim() != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}: drop the batch dim")
    if grid_yx.dim() != 3 or grid_yx.shape[-1] != 2:
        raise ValueError(f"grid_yx must be (h, w, 2) in (y, x), got shape {tuple(grid_yx.shape)}")
    # dat_edu.sampling.sample_features swaps (y, x) -> (x, y) for grid_sample in one named place
    return sample_features(image[None], grid_yx[None].to(image.dtype), align_corners=align_corners)[0]  # (C, h, w)


def grid_to_pixels(grid_yx: torch.Tensor, size: tuple[int, int], align_corners: bool) -> torch.Tensor:
    """Normalized (y, x) -> pixel (y, x), pixel centres at integers (as ``imshow`` draws them).

    align_corners=True: p = (u + 1) / 2 * (size - 1); False: p = ((u + 1) * size - 1) / 2.
    """
    h, w = _pair(size, "size")
    py = normalized_to_pixel(grid_yx[..., 0], h, align_corners)
    px = normalized_to_pixel(grid_yx[..., 1], w, align_corners)
    return torch.stack([py, px], dim=-1)


# --------------------------------------------------------------------------------------------
# Lesson 04: offsets on a key grid
# --------------------------------------------------------------------------------------------
@dataclass
class KeyGrid:
    """Key positions of one offset group; all (hk, wk, 2), normalized, (y, x).

    reference: the uniform reference points (official centre formula).
    raw: what the offset network would output, before tanh (Δy, Δx).
    offset: tanh(raw) * range_factor * (1/hk, 1/wk), so |offset_y| < range_factor / hk.
    pos: reference + offset, the points the block samples.
    bound: (2,) the largest possible |offset| per axis, range_factor * (1/hk, 1/wk).
    """

    reference: torch.Tensor
    raw: torch.Tensor
    offset: torch.Tensor
    pos: torch.Tensor
    bound: torch.Tensor


def offset_key_grid(
    hk: int,
    wk: int,
    global_shift: tuple[float, float] = (0.0, 0.0),
    jitter: float = 0.0,
    seed: int = 0,
    range_factor: float = 2.0,
    group: int = 0,
    n_groups: int = 1,
) -> KeyGrid:
    """Hand-made offsets on an hk x wk key grid, bounded as in the DAT block.

    raw offsets (Δy, Δx) = ``global_shift`` + ``jitter`` * N(0, 1), in the units the offset
    network outputs (before tanh). The random field is drawn per group from ``seed`` and
    ``group`` only, so every group has its own offsets (all heads of a group share them), and
    changing ``n_groups`` does not change group 0. Then offset = tanh(raw) * range_factor / (hk, wk)
    and pos = reference + offset, exactly steps 3-4 of the block.
    """
    if hk < 1 or wk < 1:
        raise ValueError(f"key grid must be at least 1x1, got {hk}x{wk}")
    if n_groups < 1 or not 0 <= group < n_groups:
        raise ValueError(f"group must be in [0, {n_groups - 1}] for n_groups={n_groups}, got {group}")
    if range_factor < 0:
        raise ValueError(
            f"range_factor must be >= 0, got {range_factor}: the negative (tanh(offset + ref)) "
            "variant lives in dat_edu.deformable.DeformableAttention"
        )
    dy, dx = (float(v) for v in _pair(global_shift, "global_shift"))
    reference = base_grid(hk, wk, align_corners=False)  # (hk, wk, 2), official centre formula
    gen = torch.Generator().manual_seed(int(seed) * 1000 + int(group))  # one field per group
    noise = torch.randn(hk, wk, 2, generator=gen)
    raw = torch.tensor([dy, dx]) + float(jitter) * noise  # (hk, wk, 2), (Δy, Δx)
    bound = float(range_factor) * torch.tensor([1.0 / hk, 1.0 / wk])  # per channel, normalized
    if range_factor > 0:  # the library's bound, on the (1, 2, hk, wk) layout the network outputs
        offset = bound_offsets(raw.permute(2, 0, 1)[None], range_factor)[0].permute(1, 2, 0)
    else:
        offset = torch.zeros_like(raw)  # factor 0: tanh * 0, the keys cannot move
    return KeyGrid(reference=reference, raw=raw, offset=offset, pos=reference + offset, bound=bound)


def sampled_features(feature_map: torch.Tensor, pos: torch.Tensor, align_corners: bool = True) -> torch.Tensor:
    """The features at key positions: (C, H, W) map, (hk, wk, 2) (y, x) positions -> (C, hk, wk).

    Bilinear, zeros outside, ``align_corners=True`` by default as in the official block.
    """
    return resample(feature_map, pos, align_corners=align_corners)


# --------------------------------------------------------------------------------------------
# Lesson 05: one query's attention over the keys
# --------------------------------------------------------------------------------------------
@dataclass
class AttentionResult:
    """What :func:`attention_details` computed for one query.

    weights: (H, W) attention each input pixel receives (0 outside the query's keys).
    key_weights: (Nk,) softmax weights over the keys actually scored.
    key_pixels: (Nk, 2) pixel (y, x) of those keys (fractional for deformable keys).
    """

    weights: torch.Tensor
    key_weights: torch.Tensor
    key_pixels: torch.Tensor
    kind: str
    query: tuple[int, int]


def _window_layout(h: int, w: int, window: int, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per original pixel: its window id and region label in the (cyclically shifted) layout.

    Swin rolls the map by (-shift, -shift): original pixel i sits at rolled row (i - shift) % h.
    Region labels follow Swin's slices (0, -window), (-window, -shift), (-shift, None) per axis.
    """
    def axis(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        r = (torch.arange(n) - shift) % n  # rolled coordinate of each original index
        win = r // window
        if shift == 0:
            region = torch.zeros(n, dtype=torch.long)
        else:
            region = (r >= n - window).long() + (r >= n - shift).long()
        return win, region

    wy, ry = axis(h)
    wx, rx = axis(w)
    win = wy[:, None] * (w // window) + wx[None, :]  # (h, w)
    region = ry[:, None] * 3 + rx[None, :]  # (h, w)
    return win, region


def attention_details(
    x: torch.Tensor,
    query: tuple[int, int],
    kind: str = "dense",
    *,
    window: int = 4,
    shift: int | None = None,
    positions: torch.Tensor | None = None,
    scale: float | None = None,
) -> AttentionResult:
    """One query pixel's softmax attention over its keys, with queries = keys = ``x`` (no projections).

    x: (C, H, W) feature map; query = (i, j) pixel; scores = q . k * scale, scale = C ** -0.5.
    kind:
      "dense": keys are all H*W pixels (ViT).
      "window": keys are the pixels of the query's window x window block (Swin W-MSA).
      "shifted": Swin SW-MSA: windows of the map rolled by -shift (default window // 2; DAT uses
        ceil(window / 2)); keys from a different region after the roll get -100 (the mask).
      "deformable": keys are bilinear samples of x at ``positions`` (hk, wk, 2), normalized (y, x),
        align_corners=True as in the official block (default: the official reference grid over
        H x W). A sampled key mixes its 4 neighbouring pixels, so its weight is spread over them
        with the bilinear weights: the map shows the attention each *input pixel* receives.
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (C, H, W), got shape {tuple(x.shape)}: drop the batch dim")
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"kind must be one of {ATTENTION_KINDS}, got {kind!r}")
    c, h, w = x.shape
    i, j = (int(v) for v in _pair(query, "query"))
    if not (0 <= i < h and 0 <= j < w):
        raise ValueError(f"query {(i, j)} is outside the {h}x{w} map: pick 0 <= i < {h}, 0 <= j < {w}")
    scale = c**-0.5 if scale is None else float(scale)
    x = x.float()
    tokens = x.reshape(c, h * w)  # (C, HW)
    q = x[:, i, j]  # (C,)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pix = torch.stack([ys, xs], -1).reshape(-1, 2).float()  # (HW, 2) pixel (y, x)

    if kind == "deformable":
        if positions is None:
            positions = base_grid(h, w, align_corners=False)  # official reference grid, stride 1
        if positions.dim() != 3 or positions.shape[-1] != 2:
            raise ValueError(f"positions must be (hk, wk, 2) in (y, x), got {tuple(positions.shape)}")
        # Sampling matrix S (Nk, HW): sampling the identity "image" gives every key's bilinear
        # weights on every pixel, so keys = tokens @ S.T and pixel weights = a @ S.
        eye = torch.eye(h * w).reshape(h * w, h, w)
        S = resample(eye, positions, align_corners=True).reshape(h * w, -1).T  # (Nk, HW)
        keys = tokens @ S.T  # (C, Nk)
        a = stable_softmax(q @ keys * scale, dim=0)  # (Nk,)
        weights = (a @ S).reshape(h, w)
        key_pixels = grid_to_pixels(positions.reshape(-1, 2).float(), (h, w), align_corners=True)
        return AttentionResult(weights, a, key_pixels, kind, (i, j))

    scores = q @ tokens * scale  # (HW,)
    if kind == "dense":
        allowed = torch.ones(h * w, dtype=torch.bool)
        bias = torch.zeros(h * w)
    else:
        if window < 1 or h % window or w % window:
            raise ValueError(
                f"feature map {h}x{w} is not divisible by window {window}: "
                f"pad the input or pick a window that divides both"
            )
        s = 0 if kind == "window" else (window // 2 if shift is None else int(shift))
        if not 0 <= s < window:
            raise ValueError(f"shift must be in [0, {window - 1}] for window {window}, got {s}")
        win, region = _window_layout(h, w, window, s)
        allowed = (win == win[i, j]).reshape(-1)
        bias = torch.where(region == region[i, j], 0.0, -100.0).reshape(-1)  # Swin's mask value
    a = stable_softmax((scores + bias)[allowed], dim=0)  # (Nk,)
    weights = torch.zeros(h * w)
    weights[allowed] = a
    return AttentionResult(weights.reshape(h, w), a, pix[allowed], kind, (i, j))


def attention_map(
    x: torch.Tensor,
    query: tuple[int, int],
    kind: str = "dense",
    *,
    window: int = 4,
    shift: int | None = None,
    positions: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """(H, W) attention weights of pixel ``query`` over the keys; see :func:`attention_details`."""
    return attention_details(
        x, query, kind, window=window, shift=shift, positions=positions, scale=scale
    ).weights


# --------------------------------------------------------------------------------------------
# Plotting (shared by the widgets and the static figures in the lessons)
# --------------------------------------------------------------------------------------------
def _new_figure(fig: Any, figsize: tuple[float, float]) -> Any:
    if fig is not None:
        return fig
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def _rgb(image: torch.Tensor) -> Any:
    """(C, H, W) tensor -> numpy image for imshow (matplotlib warns when handed torch tensors)."""
    img = image.detach().float().clamp(0, 1)
    return img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()


def plot_sampling_grid(
    image: torch.Tensor,
    *,
    shift: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    angle_deg: float = 0.0,
    align_corners: bool = False,
    out_size: tuple[int, int] = (120, 102),
    n_points: tuple[int, int] = (9, 9),
    fig: Any = None,
) -> Any:
    """Left: the photo with the sampling grid (points + frame); right: what the grid reads."""
    H, W = image.shape[-2:]
    fig = _new_figure(fig, (10, 4.8))
    ax0, ax1 = fig.subplots(1, 2)
    kw = dict(shift=shift, scale=scale, angle_deg=angle_deg, align_corners=align_corners, image_size=(H, W))
    pts = grid_to_pixels(transform_grid(*n_points, **kw), (H, W), align_corners).numpy()  # (h, w, 2) px (y, x)
    # frame: where the normalized corners (+-1, +-1) of the sampled region land
    corners = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    frame = grid_to_pixels(transform_points(corners, shift, scale, angle_deg, image_size=(H, W)), (H, W), align_corners).numpy()
    ax0.imshow(_rgb(image))
    ax0.plot(frame[:, 1], frame[:, 0], "-", color="yellow", lw=2, label="sampled region")
    ax0.scatter(pts[..., 1].flatten(), pts[..., 0].flatten(), s=14, c="red", marker="o", label="grid points")
    ax0.scatter(pts[0, 0, 1], pts[0, 0, 0], s=80, c="cyan", marker="s", label="grid[0, 0]")
    ax0.set_xlim(-0.5 - 0.25 * W, W - 0.5 + 0.25 * W)
    ax0.set_ylim(H - 0.5 + 0.25 * H, -0.5 - 0.25 * H)
    ax0.set_title(f"grid over the photo (align_corners={align_corners})")
    ax0.set_xlabel("x (pixels)")
    ax0.set_ylabel("y (pixels)")
    ax0.legend(loc="lower right", fontsize=8)
    out = resample(image, transform_grid(*out_size, **kw), align_corners=align_corners)
    ax1.imshow(_rgb(out))  # _rgb returns numpy: matplotlib warns on torch tensors
    ax1.set_title(f"resampled {out_size[0]}x{out_size[1]} (zeros outside)")
    ax1.set_xlabel("output column")
    ax1.set_ylabel("output row")
    fig.suptitle(f"shift (dy, dx)=({shift[0]:.2f}, {shift[1]:.2f}), scale={scale:.2f}, angle={angle_deg:.0f} deg")
    return fig


def plot_key_grid(
    feature_map: torch.Tensor,
    key_grid: KeyGrid,
    *,
    group: int = 0,
    n_groups: int | None = None,
    fig: Any = None,
) -> Any:
    """Reference points vs sampled positions of one group over its channel(s), and the features they carry.

    Group ``group`` owns channels [group * Cg, (group + 1) * Cg) of the map (Cg = C / n_groups);
    the plots show the mean over those channels.
    """
    C, H, W = feature_map.shape
    n_groups = C if n_groups is None else n_groups
    if C % n_groups:
        raise ValueError(f"{C} channels cannot be split into {n_groups} groups: pick a divisor of {C}")
    cg = C // n_groups
    fmap = feature_map[group * cg : (group + 1) * cg]  # this group's channels
    fig = _new_figure(fig, (13, 4.2))
    ax0, ax1, ax2 = fig.subplots(1, 3)
    # numpy everywhere below: matplotlib warns (DeprecationWarning) when handed torch tensors
    ref = grid_to_pixels(key_grid.reference, (H, W), align_corners=True).reshape(-1, 2).numpy()
    pos = grid_to_pixels(key_grid.pos, (H, W), align_corners=True).reshape(-1, 2).numpy()
    im = ax0.imshow(fmap.mean(0).numpy(), cmap="gray", vmin=0, vmax=1)
    ax0.quiver(ref[:, 1], ref[:, 0], pos[:, 1] - ref[:, 1], pos[:, 0] - ref[:, 0], angles="xy",
               scale_units="xy", scale=1, color="orange", width=0.005)
    size = 40 if len(ref) <= 100 else 14  # smaller markers for dense (stride 1) key grids
    ax0.scatter(ref[:, 1], ref[:, 0], s=size, facecolors="none", edgecolors="cyan", marker="o", label="reference points")
    ax0.scatter(pos[:, 1], pos[:, 0], s=size, c="red", marker="x", label="sampled positions")
    ax0.set_xlim(-1.5, W + 0.5)
    ax0.set_ylim(H + 0.5, -1.5)
    chans = f"channel {group * cg}" if cg == 1 else f"channels {group * cg}..{(group + 1) * cg - 1}"
    ax0.set_title(f"group {group} samples its {chans}")
    ax0.set_xlabel("x (pixels)")
    ax0.set_ylabel("y (pixels)")
    ax0.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)  # below: keep the map clear
    fig.colorbar(im, ax=ax0, fraction=0.046, label="feature value")
    at_ref = sampled_features(fmap, key_grid.reference).mean(0).numpy()
    at_pos = sampled_features(fmap, key_grid.pos).mean(0).numpy()
    for ax, vals, title in ((ax1, at_ref, "features at reference points"), (ax2, at_pos, "features at sampled positions")):
        im = ax.imshow(vals, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.set_xlabel("key column")
        ax.set_ylabel("key row")
        fig.colorbar(im, ax=ax, fraction=0.046, label="feature value")
    by, bx = (float(b) for b in key_grid.bound)
    fig.suptitle(f"key grid {tuple(key_grid.pos.shape[:2])}, bound |Δ| < ({by:.3f}, {bx:.3f}) normalized")
    return fig


def plot_attention(
    image: torch.Tensor,
    result: AttentionResult,
    *,
    window: int = 4,
    shift: int | None = None,
    fig: Any = None,
) -> Any:
    """Left: the (small) image with the query (star) and its keys; right: the attention map with colour bar."""
    H, W = result.weights.shape
    fig = _new_figure(fig, (10, 4.6))
    ax0, ax1 = fig.subplots(1, 2)
    i, j = result.query
    ax0.imshow(_rgb(image))
    kp = result.key_pixels.numpy()
    if result.kind == "deformable":
        ax0.scatter(kp[:, 1], kp[:, 0], s=18, c="cyan", marker="x", label="sampled keys")
    else:
        ax0.scatter(kp[:, 1], kp[:, 0], s=14, facecolors="none", edgecolors="cyan", marker="o", label="keys")
    ax0.scatter([j], [i], s=220, c="yellow", marker="*", edgecolors="black", label="query")
    ax0.set_title(f"query {result.query} and its {len(kp)} keys")
    ax0.set_xlabel("x (pixels)")
    ax0.set_ylabel("y (pixels)")
    ax0.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)  # below the image
    im = ax1.imshow(result.weights.numpy(), cmap="viridis")
    ax1.scatter([j], [i], s=220, c="yellow", marker="*", edgecolors="black", label="query")
    if result.kind in ("window", "shifted"):
        s = 0 if result.kind == "window" else (window // 2 if shift is None else shift)
        # window borders in original coordinates: rolled borders k * window sit at k * window + s
        for b in range(s % window, H + 1, window):
            ax1.axhline(b - 0.5, color="white", lw=0.8)
        for b in range(s % window, W + 1, window):
            ax1.axvline(b - 0.5, color="white", lw=0.8)
    ax1.set_xlim(-0.5, W - 0.5)
    ax1.set_ylim(H - 0.5, -0.5)
    ax1.set_title(f"{result.kind} attention of the query (sum={float(result.weights.sum()):.3f})")
    ax1.set_xlabel("key x (pixels)")
    ax1.set_ylabel("key y (pixels)")
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8)
    fig.colorbar(im, ax=ax1, fraction=0.046, label="attention weight")
    return fig


# --------------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------------
def _figure_bundle(fig: Any, dpi: int = 72) -> dict:
    """A rendered matplotlib Figure as one Output entry (PNG, no pyplot state involved)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    png = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"output_type": "display_data", "data": {"image/png": png, "text/plain": "<figure>"}, "metadata": {}}


class LessonWidget(widgets.VBox):
    """A VBox with named controls, an Output showing the latest figure, and the latest results.

    controls: dict name -> ipywidget (sliders, checkbox, dropdown, buttons).
    output: ipywidgets.Output, whose figure is replaced on every change.
    results: dict of what the last redraw computed with the pure functions (tests read it).
    draws: how many times the figure has been drawn.
    """

    def __init__(self, controls: dict, compute: Callable[[dict], dict], draw: Callable[[dict, Any], None],
                 figsize: tuple[float, float], layout_rows: Sequence[Sequence[str]]):
        self.controls = controls
        self.output = widgets.Output()
        self.results: dict = {}
        self.draws = 0
        self._compute, self._draw, self._figsize = compute, draw, figsize
        self._muted = False
        rows = [widgets.HBox([controls[n] for n in row]) for row in layout_rows]
        super().__init__(children=[*rows, self.output])
        for ctrl in controls.values():
            if not isinstance(ctrl, widgets.Button):
                ctrl.observe(self._on_change, names="value")
        self.redraw()

    def values(self) -> dict:
        """The current value of every control that has one (buttons have none)."""
        return {n: c.value for n, c in self.controls.items() if not isinstance(c, widgets.Button)}

    def set_values(self, **values: Any) -> None:
        """Set several controls at once and redraw once."""
        self._muted = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._muted = False
        self.redraw()

    def _on_change(self, change: dict) -> None:
        if not self._muted:
            self.redraw()

    def redraw(self) -> None:
        """Recompute with the pure functions and replace the figure in ``output``."""
        from matplotlib.figure import Figure  # no pyplot: nothing leaks into the notebook

        self.results = self._compute(self.values())
        fig = Figure(figsize=self._figsize, layout="constrained")
        self._draw(self.results, fig)
        self.output.outputs = (_figure_bundle(fig),)  # replace, do not append
        self.draws += 1


def _slider(kind: str, description: str, value: float, lo: float, hi: float, step: float) -> Any:
    cls = widgets.IntSlider if kind == "int" else widgets.FloatSlider
    return cls(value=value, min=lo, max=hi, step=step, description=description, continuous_update=False,
               style={"description_width": "initial"})


def sampling_grid_widget(image: torch.Tensor | None = None, out_size: tuple[int, int] = (120, 102)) -> Any:
    """Move, scale and rotate a sampling grid over the photo; see the grid and what it reads.

    Controls: shift_y, shift_x (normalized), scale, angle (degrees), align_corners, reset (button).
    results: {"grid": (h, w, 2) (y, x), "resampled": (C, h, w), plus the control values}.
    """
    image = load_photo((150, 128)) if image is None else image
    controls = {
        "shift_y": _slider("float", "move y", 0.0, -1.0, 1.0, 0.05),
        "shift_x": _slider("float", "move x", 0.0, -1.0, 1.0, 0.05),
        "scale": _slider("float", "scale", 1.0, 0.2, 2.0, 0.05),
        "angle": _slider("float", "rotate (deg)", 0.0, -180.0, 180.0, 5.0),
        "align_corners": widgets.Checkbox(value=False, description="align_corners"),
        "reset": widgets.Button(description="reset"),
    }

    def compute(v: dict) -> dict:
        kw = dict(shift=(v["shift_y"], v["shift_x"]), scale=v["scale"], angle_deg=v["angle"],
                  align_corners=v["align_corners"], image_size=tuple(image.shape[-2:]))
        grid = transform_grid(*out_size, **kw)
        return {**v, "grid": grid, "resampled": resample(image, grid, align_corners=v["align_corners"])}

    def draw(r: dict, fig: Any) -> None:
        plot_sampling_grid(image, shift=(r["shift_y"], r["shift_x"]), scale=r["scale"], angle_deg=r["angle"],
                           align_corners=r["align_corners"], out_size=out_size, fig=fig)

    box = LessonWidget(controls, compute, draw, (10, 4.8),
                       [["shift_y", "shift_x"], ["scale", "angle"], ["align_corners", "reset"]])

    def reset(_: Any) -> None:
        box.set_values(shift_y=0.0, shift_x=0.0, scale=1.0, angle=0.0)

    controls["reset"].on_click(reset)
    return box


def offsets_widget(
    feature_map: torch.Tensor | None = None,
    key_grid: tuple[int, int] = (7, 7),
    n_groups: int | None = None,
) -> Any:
    """Drag the offsets of a key grid by hand and watch the sampled keys and their features.

    Controls: shift_y, shift_x (raw offsets before tanh), jitter (std of per-point raw offsets),
    range_factor, group, new jitter (button: next random seed).
    results: {"key_grid": KeyGrid, "features": (Cg, hk, wk) at the sampled positions, "seed", ...}.
    """
    fmap = photo_features((28, 28)) if feature_map is None else feature_map
    C = fmap.shape[0]
    n_groups = C if n_groups is None else n_groups
    if C % n_groups:
        raise ValueError(f"{C} channels cannot be split into {n_groups} groups: pick a divisor of {C}")
    cg = C // n_groups
    hk, wk = key_grid
    controls = {
        "shift_y": _slider("float", "raw Δy (all keys)", 0.0, -3.0, 3.0, 0.1),
        "shift_x": _slider("float", "raw Δx (all keys)", 0.0, -3.0, 3.0, 0.1),
        "jitter": _slider("float", "per-point jitter", 0.0, 0.0, 3.0, 0.1),
        "range_factor": _slider("float", "range factor", 2.0, 0.0, 8.0, 0.25),
        "group": _slider("int", "group", 0, 0, n_groups - 1, 1),
        "new_jitter": widgets.Button(description="new jitter"),
    }
    state = {"seed": 0}

    def compute(v: dict) -> dict:
        kg = offset_key_grid(hk, wk, global_shift=(v["shift_y"], v["shift_x"]), jitter=v["jitter"],
                             seed=state["seed"], range_factor=v["range_factor"], group=v["group"],
                             n_groups=n_groups)
        g = v["group"]
        feats = sampled_features(fmap[g * cg : (g + 1) * cg], kg.pos)
        return {**v, "seed": state["seed"], "key_grid": kg, "features": feats}

    def draw(r: dict, fig: Any) -> None:
        plot_key_grid(fmap, r["key_grid"], group=r["group"], n_groups=n_groups, fig=fig)

    box = LessonWidget(controls, compute, draw, (13, 4.2),
                       [["shift_y", "shift_x"], ["jitter", "range_factor"], ["group", "new_jitter"]])

    def new_jitter(_: Any) -> None:
        state["seed"] += 1
        box.redraw()

    controls["new_jitter"].on_click(new_jitter)
    return box


def attention_widget(
    image: torch.Tensor | None = None,
    window: int = 4,
    key_grid: tuple[int, int] = (8, 8),
) -> Any:
    """Pick a query pixel and see its attention over the keys (dense / window / shifted / deformable).

    Features are :func:`colour_features` of a 16 x 16 photo (unit-length standardized RGB;
    queries = keys, no projections), so q . k is a colour similarity in [-1, 1] and a query attends
    to pixels of similar colour. Controls: row, col, kind, sharpness (the score scale, i.e. one over
    the softmax temperature), new offsets (button: random offsets for the deformable keys).
    results: {"result": AttentionResult, "weights": (H, W), "positions": (hk, wk, 2) deformable keys,
    "features": (C, H, W) the colour features, plus the control values and "seed"}.
    """
    image = load_photo((16, 16)) if image is None else image
    C, H, W = image.shape
    feats = colour_features(image)
    controls = {
        "row": _slider("int", "query row", H // 3, 0, H - 1, 1),
        "col": _slider("int", "query col", W // 2, 0, W - 1, 1),
        "kind": widgets.Dropdown(options=list(ATTENTION_KINDS), value="dense", description="attention"),
        "sharpness": _slider("float", "sharpness", 8.0, 1.0, 20.0, 0.5),
        "new_offsets": widgets.Button(description="new offsets"),
    }
    state = {"seed": 0}

    def compute(v: dict) -> dict:
        kg = offset_key_grid(*key_grid, jitter=1.0 if state["seed"] else 0.0, seed=state["seed"], range_factor=2.0)
        res = attention_details(feats, (v["row"], v["col"]), v["kind"], window=window, positions=kg.pos,
                                scale=v["sharpness"])
        return {**v, "seed": state["seed"], "result": res, "weights": res.weights, "positions": kg.pos,
                "features": feats}

    def draw(r: dict, fig: Any) -> None:
        plot_attention(image, r["result"], window=window, fig=fig)

    box = LessonWidget(controls, compute, draw, (10, 4.6), [["row", "col"], ["kind", "sharpness"], ["new_offsets"]])

    def new_offsets(_: Any) -> None:
        state["seed"] += 1
        box.redraw()

    controls["new_offsets"].on_click(new_offsets)
    return box
