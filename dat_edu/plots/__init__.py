"""Every figure of dat_edu, one call each: a matplotlib ``Figure`` back, with titles, axis labels and legends.

* :mod:`~dat_edu.plots.training`: training curves, confusion matrix.
* :mod:`~dat_edu.plots.positions`: where a trained model's deformable blocks sample, on the images.
* :mod:`~dat_edu.plots.lessons`: the figures of the lesson widgets (sampling grids, key grids, one
  query's attention) and of the receptive-field comparison.
* :mod:`~dat_edu.plots.overview`: lesson 00's picture of the keys ViT, Swin, DCN and DAT use.
* :mod:`~dat_edu.plots.bias`: lesson 06's table lookups and bias maps.

Lessons import figures from here (``from dat_edu.plots import plot_key_grid``); the computations
they draw live in the library (:mod:`dat_edu.sampling`, :mod:`dat_edu.model`, :mod:`dat_edu.widgets`).
"""

from __future__ import annotations

try:
    import matplotlib  # noqa: F401
except ImportError as err:  # a core install: the figures need the course extra
    raise ImportError("dat_edu.plots needs matplotlib, part of the course extra: "
                      "pip install 'dat_edu[course]' (make setup installs it)") from err

from .bias import plot_bias_maps, plot_table_lookups
from .lessons import draw_receptive_fields, plot_attention, plot_key_grid, plot_sampling_grid
from .overview import plot_attention_patterns
from .positions import collect_positions, deformable_inputs, plot_sampling_points
from .training import confusion_matrix, plot_confusion_matrix, plot_training_curves

__all__ = [
    "plot_training_curves",
    "plot_confusion_matrix",
    "confusion_matrix",
    "plot_sampling_points",
    "collect_positions",
    "deformable_inputs",
    "plot_sampling_grid",
    "plot_key_grid",
    "plot_attention",
    "draw_receptive_fields",
    "plot_attention_patterns",
    "plot_table_lookups",
    "plot_bias_maps",
]
