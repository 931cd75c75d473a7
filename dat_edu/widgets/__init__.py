"""Interactive helpers for lessons 03-05: pure functions, and the widgets built on them.

Every widget is a thin shell around *pure functions* that the tests (and the lessons) call
directly with the values a learner would set on the sliders; each calls the library for the rule
it shows (coordinates from :mod:`dat_edu.sampling`, the offset bound from :mod:`dat_edu.offsets`,
windows, shift and mask from :mod:`dat_edu.windows`):

==========================  =====================================================================
pure function               what it computes
==========================  =====================================================================
``transform_grid``          a sampling grid moved / scaled / rotated in normalized (y, x) units
``resample``                ``F.grid_sample`` of a (C, H, W) image at a (y, x) grid
``offset_key_grid``         reference points + bounded offsets (tanh * factor / Hk) -> positions
``sampled_features``        the features a (y, x) key grid carries (bilinear, like the block)
``attention_map``           one query's attention weights over the keys, as an (H, W) map
==========================  =====================================================================

Modules: :mod:`~dat_edu.widgets.photo` (the photo), :mod:`~dat_edu.widgets.grids` (lesson 03),
:mod:`~dat_edu.widgets.keys` (lesson 04), :mod:`~dat_edu.widgets.probes` (lesson 05) need only
torch; :mod:`~dat_edu.widgets.panels` (the ipywidgets) needs the course extra. Their figures live
in :mod:`dat_edu.plots`. Names are loaded on first use, so ``from dat_edu.widgets import
transform_grid`` does not import ipywidgets or matplotlib.
"""

from __future__ import annotations

import importlib
import warnings

_EXPORTS = {
    "load_photo": "photo",
    "photo_features": "photo",
    "colour_features": "photo",
    "base_grid": "grids",
    "transform_grid": "grids",
    "transform_points": "grids",
    "resample": "grids",
    "KeyGrid": "keys",
    "offset_key_grid": "keys",
    "sampled_features": "keys",
    "ATTENTION_KINDS": "probes",
    "AttentionResult": "probes",
    "attention_details": "probes",
    "attention_map": "probes",
    "LessonWidget": "panels",
    "sampling_grid_widget": "panels",
    "offsets_widget": "panels",
    "attention_widget": "panels",
}
# Figures moved to dat_edu.plots; these paths keep working for one release (saved notebooks).
_MOVED = {"plot_sampling_grid": "dat_edu.plots", "plot_key_grid": "dat_edu.plots", "plot_attention": "dat_edu.plots"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if name in _MOVED:
        warnings.warn(f"dat_edu.widgets.{name} moved to {_MOVED[name]}.{name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
