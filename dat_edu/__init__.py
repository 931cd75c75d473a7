"""dat_edu: the Deformable Attention Transformer (DAT v1), built one concept per module.

Read the modules in the order of the lessons: conv, norm, mlp, sampling, offsets, attention,
windows, position_bias, deformable, model, weights. Training lives in train/, data/ and plots/;
the lesson widgets in widgets/; course tooling (executing, generating and grading notebooks) in
course/. ARCHITECTURE.md says which module owns which rule and what may import what.

The main names are importable from the package itself (``from dat_edu import dat_cifar``); they
are loaded on first use, so that ``import dat_edu.course.checks`` in a grading kernel stays fast.
``dat_edu.train`` is the training package (``from dat_edu.train import train``), never a function.
"""
from __future__ import annotations

import importlib
import importlib.util

__version__ = "0.1.0"

_EXPORTS = {
    "DeformableAttention": "dat_edu.deformable",
    "WindowAttention": "dat_edu.windows",
    "MultiHeadSelfAttention": "dat_edu.attention",
    "DAT": "dat_edu.model",
    "dat_tiny": "dat_edu.model",
    "dat_small": "dat_edu.model",
    "dat_base": "dat_edu.model",
    "dat_cifar": "dat_edu.model",
    "dat_fashion": "dat_edu.model",
    "load_official_state_dict": "dat_edu.weights",
    "official_key_map": "dat_edu.weights",
    "evaluate": "dat_edu.train",
    "load_dataset": "dat_edu.data",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")  # dat_edu.train: the package, on first access too
    raise AttributeError(f"module 'dat_edu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
