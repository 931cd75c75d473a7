"""Generate notebooks/03_sampling.ipynb (run: .venv/bin/python notebooks/_src/lesson03_sampling.py)."""

from lesson03_05_build import write

cells = [
("md", r"""
# 03 · Sampling: reading a feature map at fractional positions

Deformable attention reads its keys at positions that a network chose: $(y, x) = (3.27, 8.91)$,
not a pixel. This lesson builds the machinery for that: coordinates that do not depend on the
resolution, the two ways PyTorch maps them onto pixels, and bilinear interpolation, which turns
"the value at a fractional position" into a weighted average of the 4 nearest pixels.

## What you will learn
- **Pixel vs normalized coordinates**, and where $-1$ and $+1$ land with `align_corners=True`
  and `align_corners=False` (in numbers).
- The **$(y, x)$ vs $(x, y)$ trap**: the official DAT code stores $(y, x)$, `F.grid_sample` wants
  $(x, y)$, and what you see when you forget the swap.
- **Reference grids** with `torch.meshgrid`: the official centre formula, the
  `align_corners`-consistent one, and the DAT v1 quirk of mixing them.
- **Bilinear interpolation by hand** from the 4 nearest pixels, equal to `F.grid_sample` (inside
  and outside the image), then `dat_edu.sampling`, which later lessons use.
- A **widget**: move, scale and rotate a sampling grid over a photograph.
"""),
("code", r"""
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from dat_edu.widgets import load_photo

torch.manual_seed(0)
photo = load_photo((60, 51))  # Grace Hopper (matplotlib's sample photo) as (C, H, W) in [0, 1]
print("photo (C, H, W):", tuple(photo.shape), "- not square, on purpose")
"""),
("md", r"""
## 1. Pixel coordinates and normalized coordinates

A **pixel coordinate** $p$ counts pixels along one axis: the centres of the `size` pixels sit at
$p = 0, 1, \dots, \text{size}-1$. A **normalized coordinate** $u$ runs from $-1$ to $+1$ across
the whole axis, whatever its size, so one sampling grid works at every resolution. PyTorch has two
ways to pin $u = \pm 1$ to the pixels:

- `align_corners=True`: $-1$ and $+1$ are the **centres** of the first and last pixel,
  $p = \frac{u + 1}{2}(\text{size} - 1)$.
- `align_corners=False`: $-1$ and $+1$ are the **outer edges** of the first and last pixel,
  $p = \frac{(u + 1)\,\text{size} - 1}{2}$.
"""),
("code", r"""
def to_pixel(u, size, align_corners):
    # True: -1/+1 are the centres of the first/last pixel; False: their outer edges
    if align_corners:
        return (u + 1) / 2 * (size - 1)
    return ((u + 1) * size - 1) / 2

size = 4
for ac in (True, False):
    print(f"align_corners={ac!s:5}:", ", ".join(f"u={u:+.1f} -> p={to_pixel(u, size, ac):+.2f}" for u in (-1.0, 0.0, 1.0)))
"""),
("md", r"""
With 4 pixels, `align_corners=True` puts $u = -1$ on pixel 0 and $u = +1$ on pixel 3;
`align_corners=False` puts them half a pixel further out, at $-0.5$ and $3.5$. The centre $u = 0$
is pixel $1.5$ either way. Let `F.grid_sample` confirm it on a row of 4 pixels with values
10, 20, 30, 40 (its grid holds $(x, y)$; here $y = 0$):
"""),
("code", r"""
row = torch.tensor([10.0, 20.0, 30.0, 40.0]).view(1, 1, 1, 4)  # (N, C, H=1, W=4)
u = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
grid = torch.stack([u, torch.zeros_like(u)], dim=-1).view(1, 1, 5, 2)  # (N, Ho, Wo, 2) as (x, y)
for ac in (True, False):
    vals = F.grid_sample(row, grid, mode="bilinear", padding_mode="zeros", align_corners=ac).flatten()
    print(f"align_corners={ac!s:5}: u = -1, -0.5, 0, 0.5, 1 read", [round(v, 2) for v in vals.tolist()])
"""),
("md", r"""
With `align_corners=False`, $u = -1$ lands on the outer edge of pixel 0, halfway between pixel 0
(value 10) and an imaginary pixel $-1$ outside the image. With `padding_mode="zeros"` that outside
pixel counts as 0, so the read value is $0.5 \cdot 0 + 0.5 \cdot 10 = 5$; at $u = +1$ it is
$0.5 \cdot 40 = 20$. The picture shows where $u = -1, -0.75, \dots, +1$ land in both conventions.
"""),
("code", r"""
us = torch.linspace(-1, 1, 9)
fig, ax = plt.subplots(figsize=(9, 2.8))
for row_y, ac, colour in ((1.0, True, "tab:red"), (0.0, False, "tab:blue")):
    for p in range(size):  # the 4 pixels as unit cells around their centres
        ax.add_patch(plt.Rectangle((p - 0.5, row_y - 0.3), 1, 0.6, fill=False, ec="gray"))
    ax.scatter(range(size), [row_y] * size, c="black", marker="o", s=25, label="pixel centres" if ac else None)
    ax.scatter(to_pixel(us, size, ac).numpy(), [row_y] * len(us), c=colour, marker="|", s=300,
               label=f"u = -1, -0.75, ..., +1 with align_corners={ac}")
    for u_end in (-1.0, 1.0):
        ax.annotate(f"u={u_end:+.0f}", (to_pixel(u_end, size, ac), row_y + 0.32), ha="center", color=colour)
ax.set_yticks([0, 1], ["align_corners=False", "align_corners=True"])
ax.set_xlabel("pixel coordinate p (pixel centres at 0, 1, 2, 3)")
ax.set_xlim(-1, 4)
ax.set_ylim(-0.6, 1.9)
ax.set_title("Where normalized coordinates land on a 4-pixel axis")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, fontsize=8)
plt.show()
"""),
("md", r"""
The course library has both directions, for floats and tensors:
`dat_edu.sampling.normalized_to_pixel(u, size, align_corners)` and its inverse
`pixel_to_normalized(p, size, align_corners)`.
"""),
("code", r"""
from dat_edu.sampling import normalized_to_pixel, pixel_to_normalized

for ac in (True, False):
    same = torch.allclose(normalized_to_pixel(us, size, ac), to_pixel(us, size, ac))
    round_trip = torch.allclose(pixel_to_normalized(normalized_to_pixel(us, size, ac), size, ac), us)
    print(f"align_corners={ac!s:5}: same as to_pixel: {same}, round trip: {round_trip}")
"""),
("md", r"""
## 2. The $(y, x)$ vs $(x, y)$ trap

Tensors index rows first, so the official DAT code stores a position as $(y, x)$:
`pos[..., 0]` is the row coordinate, `pos[..., 1]` the column coordinate. `F.grid_sample` was
written for images the other way round: its grid holds **$(x, y)$**. The official code swaps with
`pos[..., (1, 0)]` right before every call. Below, the identity grid over the (non-square) photo,
once with the swap and once without.
"""),
("code", r"""
from dat_edu.sampling import reference_grid

H, W = photo.shape[-2:]
grid_yx = reference_grid(H, W)  # (H, W, 2), stored (y, x); pixel centres for align_corners=False
right = F.grid_sample(photo[None], grid_yx[..., (1, 0)][None], mode="bilinear", align_corners=False)[0]  # swap to (x, y)
wrong = F.grid_sample(photo[None], grid_yx[None], mode="bilinear", align_corners=False)[0]  # forgot the swap
print("with the swap, the photo comes back:   ", torch.allclose(right, photo, atol=1e-6))
print("without the swap, the photo comes back:", torch.allclose(wrong, photo, atol=1e-6))

square = photo[:, :W, :]  # crop to 51 x 51
g = reference_grid(W, W)
wrong_sq = F.grid_sample(square[None], g[None], mode="bilinear", align_corners=False)[0]
print("square image, no swap == transpose:    ", torch.allclose(wrong_sq, square.transpose(1, 2), atol=1e-6))
"""),
("md", r"""
On a **square** input the forgotten swap is an exact transpose, which is easy to miss (and a
network can partly learn around it). On a non-square input the rows are read with the width's
spacing and the columns with the height's, and the picture is visibly wrong. Test sampling code on
non-square inputs.
"""),
("code", r"""
fig, axes = plt.subplots(1, 3, figsize=(10, 4))
for ax, img, title in zip(axes, (photo, right, wrong), ("input photo", "grid[..., (1, 0)] (swapped)", "grid as (y, x) (forgot the swap)")):
    ax.imshow(img.clamp(0, 1).permute(1, 2, 0).numpy())
    ax.set_title(title)
    ax.set_xlabel("x (column)")
    ax.set_ylabel("y (row)")
fig.suptitle("Identity grid stored as (y, x) and sampled with F.grid_sample, which reads (x, y)")
plt.tight_layout()
plt.show()
"""),
("md", r"""
## 3. Reference grids with `meshgrid`

DAT starts from a uniform grid of **reference points**, one per key. The official code puts them
at the pixel centres of an $H_k \times W_k$ grid with the **centre formula**
$\text{ref}_y = \frac{i + 0.5}{H_k} \cdot 2 - 1$ (same for $x$ with $j$ and $W_k$). Build it with
`torch.meshgrid(..., indexing="ij")`: "ij" makes the first index the row, so the stack is $(y, x)$.
"""),
("code", r"""
from dat_edu.sampling import aligned_grid

Hk, Wk = 14, 14
ys = (torch.arange(Hk) + 0.5) / Hk * 2 - 1  # official centre formula
xs = (torch.arange(Wk) + 0.5) / Wk * 2 - 1
ref_y, ref_x = torch.meshgrid(ys, xs, indexing="ij")  # (Hk, Wk) each
ref = torch.stack([ref_y, ref_x], dim=-1)  # (Hk, Wk, 2), (y, x)
print("reference grid:", tuple(ref.shape), "| same as dat_edu.sampling.reference_grid:", torch.equal(ref, reference_grid(Hk, Wk)))
print(f"centre formula: first y = {ref[0, 0, 0]:.4f}, last y = {ref[-1, 0, 0]:.4f}  (never reaches -1 or +1)")

ys_al = torch.arange(Hk) / (Hk - 1) * 2 - 1  # align_corners=True consistent: i / (H - 1) * 2 - 1
print(f"aligned formula: first y = {ys_al[0]:.4f}, last y = {ys_al[-1]:.4f}",
      "| same as dat_edu.sampling.aligned_grid:", torch.equal(ys_al, aligned_grid(Hk, Wk)[:, 0, 0]))
"""),
("md", r"""
Each formula belongs to one `align_corners` setting: the centre formula hits the pixel centres
under `align_corners=False`, the aligned formula under `align_corners=True`. **DAT v1 quirk:** the
official code builds the centre-formula grid but samples with `align_corners=True`. With zero
offsets, row $i$ is then read at pixel $(i + 0.5)(H - 1)/H$, not at pixel $i$:
"""),
("code", r"""
from dat_edu.sampling import sample_features

rows = normalized_to_pixel(ref[:, 0, 0], Hk, align_corners=True)
print("reference rows land at pixels:", [f"{v:.3f}" for v in rows[:3].tolist()], "...", f"{rows[-1]:.3f}")

x = torch.randn(1, 4, Hk, Wk)  # a random feature map (N, C, H, W)
for grid_name, g, ac in (("reference_grid", reference_grid(Hk, Wk), False), ("reference_grid", reference_grid(Hk, Wk), True),
                         ("aligned_grid", aligned_grid(Hk, Wk), True)):
    same = torch.allclose(sample_features(x, g[None], align_corners=ac), x, atol=1e-5)
    print(f"{grid_name:14} sampled with align_corners={ac!s:5} returns x: {same}")
"""),
("code", r"""
n = 6  # a small map, so the half-pixel shifts are visible
centres = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"), -1).reshape(-1, 2).float()
official = normalized_to_pixel(reference_grid(n, n), n, align_corners=True).reshape(-1, 2)  # (y, x) pixels
fig, ax = plt.subplots(figsize=(5, 5))
ax.scatter(centres[:, 1].numpy(), centres[:, 0].numpy(), s=60, facecolors="none", edgecolors="black", marker="o",
           label="pixel centres (= reference_grid with align_corners=False)")
ax.scatter(official[:, 1].numpy(), official[:, 0].numpy(), s=50, c="tab:red", marker="x",
           label="reference_grid read with align_corners=True (DAT v1)")
ax.set_xlim(-0.7, n - 0.3)
ax.set_ylim(n - 0.3, -0.7)  # y down, like an image
ax.set_xlabel("x (pixels)")
ax.set_ylabel("y (pixels)")
ax.set_title(f"DAT v1 quirk on a {n}x{n} map: zero offsets are not the identity")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8)
plt.show()
"""),
("md", r"""
The red crosses are pulled towards the middle: by $0.5 - 0.5/H$ pixels at the borders
($0.42$ px here, $0.46$ px at $H = 14$). The course reproduces this in its faithful mode
(`coords="official"`, lesson 07) and can correct it (`coords="corrected"`).

## 4. Bilinear interpolation by hand

A fractional pixel position $(p_y, p_x)$ lies in a cell of 4 pixel centres. Let
$y_0 = \lfloor p_y \rfloor$, $x_0 = \lfloor p_x \rfloor$, $t_y = p_y - y_0$, $t_x = p_x - x_0$.
The value is the weighted average

$$v = (1-t_y)(1-t_x)\,I[y_0, x_0] + (1-t_y)\,t_x\,I[y_0, x_0{+}1] + t_y(1-t_x)\,I[y_0{+}1, x_0] + t_y\,t_x\,I[y_0{+}1, x_0{+}1],$$

each neighbour weighted by how close the point is to it (the weights sum to 1). Neighbours outside
the image count as 0 (`padding_mode="zeros"`). One point first:
"""),
("code", r"""
img = torch.arange(12.0).view(1, 3, 4)  # (C=1, H=3, W=4), values 0..11 row by row
py, px = 1.25, 2.5  # a fractional pixel position (y, x)
y0, x0, ty, tx = int(py), int(px), py - int(py), px - int(px)
corners = {(y0, x0): (1 - ty) * (1 - tx), (y0, x0 + 1): (1 - ty) * tx, (y0 + 1, x0): ty * (1 - tx), (y0 + 1, x0 + 1): ty * tx}
for (yy, xx), wgt in corners.items():
    print(f"pixel ({yy}, {xx}) value {img[0, yy, xx]:4.1f} weight {wgt:.4f}")
value = sum(wgt * img[0, yy, xx] for (yy, xx), wgt in corners.items())
u = torch.tensor([[[[pixel_to_normalized(px, 4, True), pixel_to_normalized(py, 3, True)]]]])  # (1, 1, 1, 2) as (x, y)
torch_value = F.grid_sample(img[None], u, mode="bilinear", align_corners=True).item()
print(f"by hand: {value:.4f} | F.grid_sample: {torch_value:.4f}")
"""),
("md", r"""
Now for many points at once, in both conventions and with points outside the image:
"""),
("code", r"""
def bilinear_by_hand(img, grid_yx, align_corners):
    # img (C, H, W); grid_yx (P, 2) normalized (y, x) -> (C, P)
    C, H, W = img.shape
    py = normalized_to_pixel(grid_yx[:, 0], H, align_corners)
    px = normalized_to_pixel(grid_yx[:, 1], W, align_corners)
    y0, x0 = py.floor().long(), px.floor().long()
    ty, tx = py - y0, px - x0
    out = torch.zeros(C, len(grid_yx))
    for dy, dx, wgt in ((0, 0, (1 - ty) * (1 - tx)), (0, 1, (1 - ty) * tx), (1, 0, ty * (1 - tx)), (1, 1, ty * tx)):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)  # zero padding: outside neighbours add 0
        out += img[:, yy.clamp(0, H - 1), xx.clamp(0, W - 1)] * (wgt * inside)
    return out

pts = torch.rand(500, 2) * 2.4 - 1.2  # (y, x) in [-1.2, 1.2]^2: some points fall outside the image
print("points outside [-1, 1]:", int((pts.abs() > 1).any(-1).sum()), "of", len(pts))
for ac in (True, False):
    mine = bilinear_by_hand(photo, pts, ac)
    ref_vals = F.grid_sample(photo[None], pts.flip(-1).view(1, 1, -1, 2), mode="bilinear", align_corners=ac)[0, :, 0]
    print(f"align_corners={ac!s:5}: by hand == F.grid_sample: {torch.allclose(mine, ref_vals, atol=1e-6)}")
"""),
("md", r"""
### In the library: `dat_edu.sampling`
- `bilinear_sample(input (N, C, H, W), grid (N, Ho, Wo, 2) in (x, y), align_corners)`: the same
  algorithm, batched, equal to `F.grid_sample` in value **and gradient** (it never calls it).
- `sample_features(x (N, C, H, W), pos (N, Hk, Wk, 2) in (y, x), align_corners)`: the fast call
  the model uses; it is the one place where $(y, x)$ becomes $(x, y)$.
- `reference_grid`, `aligned_grid`, `normalized_to_pixel`, `pixel_to_normalized` from above.
"""),
("code", r"""
from dat_edu.sampling import bilinear_sample

grid_xy = (torch.rand(2, 5, 6, 2) * 2.4 - 1.2).requires_grad_()  # (N, Ho, Wo, 2) as (x, y)
feats = torch.randn(2, 3, 7, 9, requires_grad=True)  # (N, C, H, W), non-square
for ac in (True, False):
    mine = bilinear_sample(feats, grid_xy, align_corners=ac)
    theirs = F.grid_sample(feats, grid_xy, mode="bilinear", padding_mode="zeros", align_corners=ac)
    g_mine = torch.autograd.grad(mine.sum(), (feats, grid_xy))
    g_theirs = torch.autograd.grad(theirs.sum(), (feats, grid_xy))
    same_grad = all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g_mine, g_theirs))
    print(f"align_corners={ac!s:5}: values equal {torch.allclose(mine, theirs, atol=1e-6)}, gradients equal {same_grad}, shape {tuple(mine.shape)}")
pos_yx = grid_xy.detach().flip(-1)  # the same points stored the course's way, (y, x)
print("sample_features(pos in (y, x)) == F.grid_sample(grid in (x, y)):",
      torch.allclose(sample_features(feats, pos_yx, align_corners=True),
                     F.grid_sample(feats, grid_xy, mode="bilinear", align_corners=True), atol=1e-6))
"""),
("md", r"""
## 5. Widget: move, scale and rotate a sampling grid

The widget samples the photo with a $120 \times 102$ grid that you can **move** (in normalized
units: moving $x$ by 1 shifts the grid by half the image width), **scale** (below 1 zooms in) and
**rotate** (about the image centre). Left: the photo, the sampled region (yellow frame), a coarse
$9 \times 9$ subset of the grid points (red) and `grid[0, 0]` (cyan square, follow it when you
rotate). Right: what the grid reads, zeros where it leaves the photo. Toggle `align_corners` at
scale 1: the picture barely changes, but the grid points move by half a pixel.

The widget is built by `dat_edu.widgets.sampling_grid_widget()`, around two pure functions you can
call yourself: `transform_grid(h, w, shift=(dy, dx), scale, angle_deg)` returns the $(h, w, 2)$
$(y, x)$ grid, and `resample(image, grid_yx, align_corners)` reads the image there. (A live kernel
is needed to move the sliders; the static figure below shows one setting.)
"""),
("code", r"""
from dat_edu.widgets import sampling_grid_widget

grid_widget = sampling_grid_widget()
display(grid_widget)
"""),
("code", r"""
from dat_edu.widgets import plot_sampling_grid, resample, transform_grid

big = load_photo((150, 128))
settings = dict(shift=(0.15, -0.1), scale=0.5, angle_deg=30.0)  # what you would set on the sliders
g = transform_grid(120, 102, **settings, align_corners=False, image_size=tuple(big.shape[-2:]))
print("grid:", tuple(g.shape), "| resampled:", tuple(resample(big, g, align_corners=False).shape))
plot_sampling_grid(big, **settings, align_corners=False)
plt.show()
"""),
("md", r"""
## Summary
- Normalized coordinates run from $-1$ to $+1$ whatever the resolution. `align_corners=True` pins
  $\pm 1$ to the centres of the border pixels, `align_corners=False` to their outer edges; on a
  4-pixel axis $u = \pm 1$ is pixel $0 / 3$ or $-0.5 / 3.5$.
- The course stores positions as $(y, x)$, like the official code; `F.grid_sample` reads
  $(x, y)$. Forgetting the swap transposes square inputs silently and distorts non-square ones.
- The official reference grid uses the centre formula $((i + 0.5)/H) \cdot 2 - 1$ but samples with
  `align_corners=True`: zero offsets are not the identity (row $i$ is read at
  $(i + 0.5)(H - 1)/H$).
- Bilinear sampling is a weighted average of 4 neighbours with weights $(1-t_y)(1-t_x)$, ...;
  outside neighbours count as zero. `dat_edu.sampling.bilinear_sample` equals `F.grid_sample`;
  `sample_features` is what the model calls.

## What comes next
Lesson **04 · Offsets** lets a small network move the reference points: a depthwise convolution
predicts $(\Delta y, \Delta x)$ for every key, `tanh` bounds them, and `sample_features` reads the
keys at the moved points.

## Exercise
Open `exercises/03_sampling.ipynb`, fill in the `# YOUR CODE HERE` cells, and check yourself with

```
pytest --nbval exercises/03_sampling.ipynb
```
"""),
]

if __name__ == "__main__":
    print(write(cells, "03_sampling.ipynb"))
