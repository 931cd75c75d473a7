"""Train a small DAT on CIFAR-10 (or Fashion-MNIST, synthetic shapes, random data).

Command line (``python -m dat_edu.train --help`` lists every setting and the presets)::

    python -m dat_edu.train --preset cpu
    python -m dat_edu.train --preset gpu [--compile]
    torchrun --nproc_per_node 4 -m dat_edu.train --preset gpu   # several GPUs (DDP)
    python -m dat_edu.train --preset cpu --dataset shapes --epochs 3
    python -m dat_edu.train --preset cpu --resume runs/<name>/last.pt

From Python (lessons, tests)::

    from dat_edu.train import train, evaluate
    result = train({"preset": "cpu", "dataset": "shapes", "epochs": 2})
    result["model"], result["history"], result["final"]["test_acc"]

The package, one idea per module:

* :mod:`~dat_edu.train.config`: :class:`TrainConfig` (every setting, with its help text) and
  :func:`make_config`; :mod:`~dat_edu.train.presets`: :data:`PRESETS`.
* :mod:`~dat_edu.train.loop`: :func:`train` as named steps around a run state; the schedule
  :func:`lr_at`; :mod:`~dat_edu.train.evaluation`: :func:`evaluate`.
* :mod:`~dat_edu.train.checkpoint`: atomic checkpoints and metrics files, exact resume.
* :mod:`~dat_edu.train.distributed`: processes under torchrun.
* :mod:`~dat_edu.train.cli`: the command line, generated from the fields of TrainConfig.
* ``DAT_EDU_FAST=1`` shrinks any run (1 epoch, <= 1,024 training images) for quick notebook runs.
"""

from __future__ import annotations

from .checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from .cli import build_parser, main
from .config import FAST_ENV, TrainConfig, make_config, runtime_keys
from .evaluation import evaluate
from .loop import build_model, lr_at, param_groups, summary_line, train
from .presets import PRESETS

__all__ = [
    "TrainConfig",
    "PRESETS",
    "make_config",
    "train",
    "evaluate",
    "build_model",
    "lr_at",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    "summary_line",
    "main",
    "build_parser",
    "param_groups",
    "runtime_keys",
    "CHECKPOINT_FORMAT",
    "FAST_ENV",
]
