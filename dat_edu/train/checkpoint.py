"""Checkpoints and metrics files of a run, written atomically; resuming with the same settings.

A run folder holds ``config.json``, ``last.pt`` (model, optimizer, scheduler, step, epoch, every
RNG state, config, history), ``metrics.json``/``metrics.csv`` (one row per epoch) and, at the end,
``summary.json``. Every file is written to a temporary name and renamed, so an interrupted run never
leaves a half-written checkpoint.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
from pathlib import Path

import torch

from .config import TrainConfig, runtime_keys

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "save_checkpoint", "load_checkpoint", "merge_resume_config",
           "write_metrics", "write_json", "jsonable"]

CHECKPOINT_FORMAT = "dat_edu.train/1"
_REQUIRED = ("model", "optimizer", "scheduler", "epoch", "step", "rng", "config", "history")


class CheckpointError(ValueError):
    """A checkpoint is corrupt, not a dat_edu checkpoint, or does not fit this run."""


def _atomic_write(path: Path, write) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, flush it to disk, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` with :func:`torch.save` to a temp file next to ``path``, then rename (atomic)."""
    return _atomic_write(Path(path), lambda f: torch.save(state, f))


def write_json(path: Path, value) -> Path:
    """``value`` as indented JSON, atomically."""
    return _atomic_write(path, lambda f: f.write(json.dumps(value, indent=1).encode()))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`dat_edu.train.train`; :class:`CheckpointError` if corrupt or foreign.

    ``path`` may be the file or a run folder holding ``last.pt``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: pass a file written by dat_edu.train or its run folder")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle garbage, ... : all mean "unreadable"
        raise CheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({err.__class__.__name__}: {str(err)[:200]}); "
            "delete it and restart the run, or pass another checkpoint"
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a dat_edu training checkpoint (format {state.get('format') if isinstance(state, dict) else None!r}, "
            f"expected {CHECKPOINT_FORMAT!r}); to load bare weights use model.load_state_dict"
        )
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}; it is damaged, restart the run")
    state["path"] = str(path)
    return state


def merge_resume_config(cfg: TrainConfig, explicit: set[str], saved: dict, path: str) -> TrainConfig:
    """Settings come from the checkpoint; explicitly given ones must agree with it (runtime ones may differ)."""
    merged = dict(saved)
    diffs = []
    runtime = runtime_keys()
    for f in dataclasses.fields(TrainConfig):
        now = getattr(cfg, f.name)
        if f.name in runtime:
            if f.name in explicit or f.name == "resume":
                merged[f.name] = now
            continue
        if f.name in explicit and f.name in saved and jsonable(now) != saved[f.name]:
            diffs.append(f"{f.name}: checkpoint {saved[f.name]!r}, now {now!r}")
    if diffs:
        raise CheckpointError(
            f"checkpoint {path} was written with different settings ({'; '.join(diffs)}). Resume with "
            "the same settings, or start a new run (different run_name, no resume)"
        )
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in merged.items() if k in names})


def jsonable(v):
    """``v`` as it comes back from JSON (tuples become lists), to compare settings with a checkpoint's."""
    return json.loads(json.dumps(v))


def write_metrics(run_dir: Path, history: list[dict]) -> None:
    """``metrics.json`` and ``metrics.csv``: one row per epoch so far."""
    write_json(run_dir / "metrics.json", history)
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(history)
    _atomic_write(run_dir / "metrics.csv", lambda f: f.write(buf.getvalue().encode()))
