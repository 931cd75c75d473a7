"""Every setting of a training run, its help text and its rules, in one dataclass.

:class:`TrainConfig` is the single source of the settings: :func:`make_config` builds one from a
preset and overrides, and the command line (:mod:`dat_edu.train.cli`) is generated from its fields,
their types and the help text in their metadata, so that no flag can drift from the setting.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from ..data import DATASETS
from .presets import PRESETS

__all__ = ["TrainConfig", "make_config", "runtime_keys", "FAST_ENV", "AMP_CHOICES"]

FAST_ENV = "DAT_EDU_FAST"
AMP_CHOICES = ("auto", "bf16", "none")


def _setting(default: Any = None, help: str = "", *, factory=None, runtime: bool = False, **cli: Any):
    """A dataclass field with its help text. ``runtime``: may differ when a run is resumed (it does
    not change the result). ``cli``: extra command-line details (``choices``, ``parse``, ``aliases``,
    ``metavar``)."""
    meta = {"help": help, "runtime": runtime, **cli}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Every setting of a training run. Presets (:data:`PRESETS`) override the defaults; each
    field's help text is in its metadata (``python -m dat_edu.train --help`` prints them all)."""

    dataset: str = _setting("cifar10", "data set", choices=DATASETS)
    data_root: str | None = _setting(None, "folder holding the data sets (default: dat_edu.data.default_data_root())",
                                     runtime=True)
    train_size: int | None = _setting(None, "use only the first N training images (none: all)")
    test_size: int | None = _setting(None, "use only the first N test images (none: all)")
    model: str = _setting("dat_cifar", "a factory of dat_edu.model ('dat_cifar', 'dat_shapes', ...) or "
                                       "'package.module:function'")
    model_kwargs: dict = _setting(help="keyword for the model factory (repeatable), e.g. --model-kw drop_path_rate=0.1",
                                  factory=dict, aliases=("--model-kw",), metavar="KEY=VALUE")
    epochs: int = _setting(10, "epochs of the whole schedule")
    batch_size: int = _setting(128, "global batch size (split across the processes under torchrun)")
    eval_batch_size: int = _setting(500, "batch size of the evaluation", runtime=True)
    lr: float = _setting(1e-3, "peak learning rate (AdamW)")
    min_lr: float = _setting(1e-5, "learning rate at the end of the cosine decay")
    weight_decay: float = _setting(0.05, "AdamW weight decay (none on 1-D parameters and position tables)")
    warmup_epochs: float = _setting(1.0, "linear warm-up, in epochs (fractions allowed)")
    label_smoothing: float = _setting(0.1, "label smoothing of the cross-entropy")
    clip_grad: float | None = _setting(5.0, "clip the gradient norm at this value; none or 0 disables")
    crop_padding: int = _setting(4, "random crop: zero padding in pixels (0: no crop)")
    flip: bool = _setting(True, "random left-right flips")
    cutmix_prob: float = _setting(0.0, "probability of CutMix per image", aliases=("--cutmix",))
    cutmix_alpha: float = _setting(1.0, "CutMix box area ~ Beta(alpha, alpha)")
    amp: str = _setting("auto", "bf16 autocast: auto (on CUDA only), bf16 or none", choices=AMP_CHOICES)
    channels_last: Any = _setting("auto", "channels-last memory format: auto (on CUDA only), true or false",
                                  parse="bool_or_auto")
    compile: bool = _setting(False, "torch.compile the model", runtime=True)
    device: str = _setting("auto", "auto, cpu or cuda (under torchrun: each process its LOCAL_RANK GPU)",
                           runtime=True)
    seed: int = _setting(0, "seed of the initial weights, the data order and the augmentation")
    threads: int | None = _setting(None, "CPU threads (default: torch's choice); 1 is often much faster on a "
                                         "busy or shared CPU", runtime=True)
    out_dir: str | None = _setting("runs", "folder of the run folders (none: write no files)", runtime=True)
    run_name: str | None = _setting(None, "name of the run folder (default: dataset-model-date-time)", runtime=True)
    resume: str | None = _setting(None, "checkpoint file or run folder to continue", runtime=True)
    stop_after: int | None = _setting(None, "stop after N epochs of this invocation (the schedule still spans "
                                            "--epochs); continue later with --resume", runtime=True)
    progress: bool = _setting(True, "progress bar and one line per epoch", runtime=True)


def runtime_keys() -> frozenset[str]:
    """Settings that may differ between a run and its resumption (they do not change the result)."""
    return frozenset(f.name for f in dataclasses.fields(TrainConfig) if f.metadata["runtime"])


def make_config(config: "TrainConfig | dict | str | None" = None, **overrides) -> tuple[TrainConfig, set[str]]:
    """Build a :class:`TrainConfig` from a preset name, a dict (may hold ``"preset"``) or a config.

    Returns ``(config, explicit)`` where ``explicit`` names the fields set by the preset or the
    caller (on resume the others are taken from the checkpoint). ``DAT_EDU_FAST=1`` shrinks the
    run (``epochs <= 1``, ``train_size <= 1024``, ``test_size <= 512``).
    """
    if isinstance(config, TrainConfig):
        cfg, explicit = dataclasses.replace(config), {f.name for f in dataclasses.fields(TrainConfig)}
    else:
        if isinstance(config, str):
            config = {"preset": config}
        values = dict(config or {})
        values.update(overrides)
        preset = values.pop("preset", None)
        merged: dict = {}
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
            merged.update(PRESETS[preset])
        merged.update(values)
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(merged) - names)
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}; valid: {sorted(names)}")
        cfg, explicit = TrainConfig(**merged), set(merged)
    if cfg.clip_grad == 0:
        cfg.clip_grad = None  # 0 means no clipping: one spelling in config files and checkpoints
    if os.environ.get(FAST_ENV, "") not in ("", "0"):
        cfg.epochs = min(cfg.epochs, 1)
        cfg.train_size = min(cfg.train_size or 1024, 1024)
        cfg.test_size = min(cfg.test_size or 512, 512)
        explicit |= {"epochs", "train_size", "test_size"}
    _validate(cfg)
    return cfg, explicit


def _validate(cfg: TrainConfig) -> None:
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ValueError(f"epochs ({cfg.epochs}) and batch_size ({cfg.batch_size}) must be >= 1")
    if cfg.amp not in AMP_CHOICES:
        raise ValueError(f"amp must be 'auto', 'bf16' or 'none', got {cfg.amp!r}")
    if cfg.lr <= 0 or cfg.min_lr < 0 or cfg.min_lr > cfg.lr:
        raise ValueError(f"need 0 <= min_lr <= lr and lr > 0, got lr={cfg.lr}, min_lr={cfg.min_lr}")
    if cfg.stop_after is not None and cfg.stop_after < 1:
        raise ValueError(f"stop_after must be >= 1 epoch or None, got {cfg.stop_after}")
