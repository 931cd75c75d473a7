"""The ipywidgets of lessons 03-05: thin shells around the pure functions, drawing with dat_edu.plots.

Each builder (``sampling_grid_widget``, ``offsets_widget``, ``attention_widget``) returns a
:class:`LessonWidget` (an ``ipywidgets.VBox``) whose slider / button callbacks call the pure
functions of this package, keep the latest results in ``.results`` and redraw a PNG into
``.output`` (an ``ipywidgets.Output``). The PNG is written straight into ``Output.outputs``, so
redrawing works the same inside a running kernel, in a plain Python test, and under
``pytest --nbval``. A notebook cell should only build and display a widget (no ``interact``):
strict nbval compares text outputs, and a widget cell that only builds, observes and displays has
none that change.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Callable, Sequence

try:
    import ipywidgets as widgets
except ImportError as err:  # a core install: the widgets need the course extra
    raise ImportError("dat_edu.widgets.panels needs ipywidgets, part of the course extra: "
                      "pip install 'dat_edu[course]' (make setup installs it)") from err
import torch

from dat_edu.plots.lessons import plot_attention, plot_key_grid, plot_sampling_grid
from dat_edu.validate import check_divisible

from .grids import resample, transform_grid
from .keys import offset_key_grid, sampled_features
from .photo import colour_features, load_photo, photo_features
from .probes import ATTENTION_KINDS, attention_details

__all__ = ["LessonWidget", "sampling_grid_widget", "offsets_widget", "attention_widget"]


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
    check_divisible(C, "channels", n_groups, "groups", "each offset group reads the same number of channels")
    cg = C // n_groups
    hk, wk = key_grid
    controls = {
        "shift_y": _slider("float", "raw Δy (all keys)", 0.0, -3.0, 3.0, 0.1),
        "shift_x": _slider("float", "raw Δx (all keys)", 0.0, -3.0, 3.0, 0.1),
        "jitter": _slider("float", "per-point jitter", 0.0, 0.0, 3.0, 0.1),
        # the block's bound needs a factor > 0 (bound_offsets rejects 0): the slider starts at one step
        "range_factor": _slider("float", "range factor", 2.0, 0.25, 8.0, 0.25),
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
