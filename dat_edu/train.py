"""Train a small DAT on CIFAR-10 (or Fashion-MNIST, synthetic shapes, random data).

Command line (see ``python -m dat_edu.train --help``)::

    python -m dat_edu.train --preset cpu                    # a laptop, a few minutes
    python -m dat_edu.train --preset gpu [--compile]        # one GPU, CIFAR-10, minutes
    torchrun --nproc_per_node 4 -m dat_edu.train --preset gpu   # several GPUs (DDP)
    python -m dat_edu.train --preset cpu --dataset shapes --epochs 3
    python -m dat_edu.train --preset cpu --resume runs/<name>/last.pt

From Python (lessons, tests)::

    from dat_edu.train import train, evaluate
    result = train({"preset": "cpu", "dataset": "shapes", "epochs": 2})
    result["model"], result["history"], result["final"]["test_acc"]

What it does, and why:

* The whole data set lives in one uint8 tensor on the training device; each step indexes a
  batch and augments it there (:mod:`dat_edu.data.augment`), so no DataLoader workers.
* AdamW, linear warm-up then cosine decay, updated every step; label smoothing; gradient
  clipping; bf16 autocast and channels-last on CUDA (bf16 on CPU on request); optional
  ``torch.compile``.
* Per epoch: a tqdm bar (loss, accuracy, images/s), ``metrics.csv``/``metrics.json`` and an
  atomic checkpoint ``last.pt`` (model, optimizer, scheduler, step, epoch, every RNG state,
  config, history) in the run folder. ``resume`` continues exactly where a run stopped: on CPU a
  run interrupted after epoch 1 and resumed ends with the same weights as an uninterrupted one.
* Under ``torchrun`` (``WORLD_SIZE`` > 1): DistributedDataParallel, each rank takes every
  ``world``-th index of the shared epoch permutation (what DistributedSampler does), the global
  batch is split across ranks, rank 0 writes metrics and checkpoints.
* ``DAT_EDU_FAST=1`` shrinks any run (1 epoch, <= 1,024 training images) for quick notebook runs.
"""

from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import importlib
import json
import math
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import DataBundle, DataSplit, augment_batch, load_dataset, normalize

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
]

CHECKPOINT_FORMAT = "dat_edu.train/1"


@dataclass
class TrainConfig:
    """Every setting of a training run. Presets (:data:`PRESETS`) override the defaults.

    Sizes: ``batch_size`` is the global batch (split across ranks under torchrun).
    ``train_size``/``test_size``: use only the first N images (None = all).
    ``amp``: "auto" (bf16 on CUDA, off on CPU), "bf16" or "none". ``channels_last``: "auto"
    (on for CUDA), True or False. ``stop_after``: stop after this many epochs in *this*
    invocation (the schedule still spans ``epochs``); resume later with ``resume``.
    ``resume``: a checkpoint file or a run folder (its ``last.pt``).
    """

    dataset: str = "cifar10"
    data_root: str | None = None
    train_size: int | None = None
    test_size: int | None = None
    model: str = "dat_cifar"
    model_kwargs: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 500
    lr: float = 1e-3
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    clip_grad: float | None = 5.0
    crop_padding: int = 4
    flip: bool = True
    cutmix_prob: float = 0.0
    cutmix_alpha: float = 1.0
    amp: str = "auto"
    channels_last: Any = "auto"
    compile: bool = False
    device: str = "auto"
    seed: int = 0
    threads: int | None = None
    out_dir: str | None = "runs"
    run_name: str | None = None
    resume: str | None = None
    stop_after: int | None = None
    progress: bool = True


PRESETS: dict[str, dict] = {
    # a GPU, full CIFAR-10; minutes on one modern GPU (big batch, bf16, data on device)
    "gpu": dict(
        dataset="cifar10", epochs=60, batch_size=512, lr=2e-3, min_lr=1e-5, warmup_epochs=3,
        weight_decay=0.05, label_smoothing=0.1, clip_grad=5.0, cutmix_prob=0.25,
        amp="bf16", channels_last=True, device="auto",
    ),
    # a laptop CPU: a CIFAR-10 subset sized so the run takes a few minutes on 2 cores
    "cpu": dict(
        dataset="cifar10", train_size=5000, test_size=1000, epochs=4, batch_size=64,
        lr=2e-3, warmup_epochs=0.5, amp="bf16", channels_last=False, device="cpu",
    ),
    # a continuous-integration sized run: seconds
    "ci": dict(
        dataset="shapes", train_size=512, test_size=256, epochs=2, batch_size=64, lr=2e-3,
        warmup_epochs=0.5, amp="none", channels_last=False, device="cpu", progress=False,
    ),
    # deformable keys moving onto the objects of the synthetic shapes data, in under a minute on
    # one CPU thread: the dat_shapes model (one key per offset group, see its docstring)
    "shapes": dict(
        dataset="shapes", model="dat_shapes", train_size=4000, test_size=1000, epochs=3, batch_size=64,
        lr=2e-3, warmup_epochs=0.3, label_smoothing=0.0, crop_padding=0, flip=False, amp="none",
        channels_last=False, device="cpu", threads=1,
    ),
    # the smallest run that touches every code path (for unit tests)
    "tiny": dict(
        dataset="synthetic", train_size=64, test_size=32, epochs=1, batch_size=16,
        eval_batch_size=16, warmup_epochs=0.5, amp="none", channels_last=False, device="cpu",
        progress=False,
    ),
}

# Settings that may differ between a run and its resumption (they do not change the result).
RUNTIME_KEYS = frozenset(
    {"resume", "stop_after", "progress", "out_dir", "run_name", "compile", "threads", "device",
     "eval_batch_size", "data_root"}
)
FAST_ENV = "DAT_EDU_FAST"


class CheckpointError(ValueError):
    """A checkpoint is corrupt, not a dat_edu checkpoint, or does not fit this run."""


# --------------------------------------------------------------------------- configuration


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
    if cfg.amp not in ("auto", "bf16", "none"):
        raise ValueError(f"amp must be 'auto', 'bf16' or 'none', got {cfg.amp!r}")
    if cfg.lr <= 0 or cfg.min_lr < 0 or cfg.min_lr > cfg.lr:
        raise ValueError(f"need 0 <= min_lr <= lr and lr > 0, got lr={cfg.lr}, min_lr={cfg.min_lr}")
    if cfg.stop_after is not None and cfg.stop_after < 1:
        raise ValueError(f"stop_after must be >= 1 epoch or None, got {cfg.stop_after}")


# --------------------------------------------------------------------------- schedule


def lr_at(step: int, total_steps: int, warmup_steps: int, lr: float, min_lr: float) -> float:
    """Learning rate at optimizer step ``step`` (0-based): linear warm-up, then cosine to ``min_lr``.

    Warm-up goes from ``lr / warmup_steps`` (not 0, so the first step already learns) to ``lr``
    at step ``warmup_steps - 1``; the cosine then reaches ``min_lr`` at the last step.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps - 1)
    t = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t))


# --------------------------------------------------------------------------- model


def build_model(cfg: TrainConfig, num_classes: int, in_chans: int, img_size: int) -> nn.Module:
    """Instantiate ``cfg.model``: ``"dat_cifar"`` (from :mod:`dat_edu.model`) or ``"pkg.mod:fn"``.

    The factory is called as ``fn(num_classes=..., in_chans=..., img_size=..., **cfg.model_kwargs)``.
    """
    if ":" in cfg.model:
        mod_name, fn_name = cfg.model.split(":", 1)
    else:
        mod_name, fn_name = "dat_edu.model", cfg.model
    try:
        factory = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot find model {cfg.model!r} ({err}); use a name from dat_edu.model "
                         "such as 'dat_cifar', or 'package.module:function'") from err
    return factory(num_classes=num_classes, in_chans=in_chans, img_size=img_size, **cfg.model_kwargs)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases, norm weights and position-bias tables (as in Swin/DAT)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or "position" in name or "rpe" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# --------------------------------------------------------------------------- distributed


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device_pref: str) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return _Dist(rank=rank, world=world, local_rank=local)


def _all_reduce_sum(values: list[float], device) -> list[float]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _gather_states(state: torch.Tensor, d: _Dist) -> list[torch.Tensor]:
    """All ranks' generator states (same length) -> list on every rank."""
    if d.world == 1:
        return [state]
    import torch.distributed as dist

    out = [None] * d.world
    dist.all_gather_object(out, state)
    return out


# --------------------------------------------------------------------------- evaluation


def _amp_context(device: torch.device, amp: bool):
    if not amp:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _as_split(data, mean, std) -> DataSplit:
    if isinstance(data, DataBundle):
        return data.test
    if isinstance(data, DataSplit):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
        if images.dtype == torch.uint8 and (mean is None or std is None):
            raise ValueError("uint8 images need mean= and std= (the data set's statistics) to be normalized; "
                             "or pass a DataSplit/DataBundle from dat_edu.data.load_dataset")
        c = images.shape[1]
        return DataSplit(images, labels, tuple(mean or (0.0,) * c), tuple(std or (1.0,) * c), ())
    raise ValueError("data must be a DataBundle, DataSplit or an (images, labels) pair")


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data,
    *,
    batch_size: int = 500,
    device=None,
    amp: bool = False,
    channels_last: bool = False,
    mean=None,
    std=None,
    return_preds: bool = False,
    shard: tuple[int, int] | None = None,
) -> dict:
    """Loss and accuracy of ``model`` on ``data`` (no augmentation, no label smoothing).

    data: a :class:`DataBundle` (its test split), a :class:`DataSplit`, or ``(images, labels)``
    with images uint8 (then pass ``mean``/``std``) or already-normalized float (N, C, H, W).
    Returns ``{"loss", "acc", "n"}`` and, with ``return_preds``, ``"preds"`` and ``"labels"``
    (int64 CPU tensors). ``shard=(rank, world)`` evaluates every world-th image and sums the
    counts over ranks (used under torchrun). The model is left in eval mode's previous state.
    """
    split = _as_split(data, mean, std)
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    images, labels = split.images, split.labels
    if shard is not None and shard[1] > 1:
        images, labels = images[shard[0]:: shard[1]], labels[shard[0]:: shard[1]]
    was_training = model.training
    model.eval()
    loss_sum, correct, preds = 0.0, 0, []
    try:
        for i in range(0, images.shape[0], batch_size):
            xb = images[i : i + batch_size].to(device, non_blocking=True)
            yb = labels[i : i + batch_size].to(device, non_blocking=True)
            x = normalize(xb, split.mean, split.std) if xb.dtype == torch.uint8 else xb.float()
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _amp_context(device, amp):
                logits = model(x)
            logits = logits.float()
            loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
            pred = logits.argmax(1)
            correct += (pred == yb).sum().item()
            if return_preds:
                preds.append(pred.cpu())
    finally:
        model.train(was_training)
    n = images.shape[0]
    if shard is not None and shard[1] > 1:
        loss_sum, correct, n = _all_reduce_sum([loss_sum, float(correct), float(n)], device)
        correct, n = int(correct), int(n)
    out = {"loss": loss_sum / max(n, 1), "acc": correct / max(n, 1), "n": n}
    if return_preds:
        out["preds"] = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
        out["labels"] = labels.cpu()
    return out


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` with :func:`torch.save` to a temp file next to ``path``, then rename (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`train`; :class:`CheckpointError` if corrupt or foreign.

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
    missing = [k for k in ("model", "optimizer", "scheduler", "epoch", "step", "rng", "config", "history") if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}; it is damaged, restart the run")
    state["path"] = str(path)
    return state


def _merge_resume_config(cfg: TrainConfig, explicit: set[str], saved: dict, path: str) -> TrainConfig:
    """Settings come from the checkpoint; explicitly given ones must agree with it."""
    merged = dict(saved)
    diffs = []
    for f in dataclasses.fields(TrainConfig):
        now = getattr(cfg, f.name)
        if f.name in RUNTIME_KEYS:
            if f.name in explicit or f.name == "resume":
                merged[f.name] = now
            continue
        if f.name in explicit and f.name in saved and _jsonable(now) != saved[f.name]:
            diffs.append(f"{f.name}: checkpoint {saved[f.name]!r}, now {now!r}")
    if diffs:
        raise CheckpointError(
            f"checkpoint {path} was written with different settings ({'; '.join(diffs)}). Resume with "
            "the same settings, or start a new run (different run_name, no resume)"
        )
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in merged.items() if k in names})


def _jsonable(v):
    return json.loads(json.dumps(v))


# --------------------------------------------------------------------------- metrics files


def _write_metrics(run_dir: Path, history: list[dict]) -> None:
    def atomic_write(path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    atomic_write(run_dir / "metrics.json", json.dumps(history, indent=1))
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(history)
    atomic_write(run_dir / "metrics.csv", buf.getvalue())


# --------------------------------------------------------------------------- training


def _pick_device(pref: str, d: _Dist) -> torch.device:
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    if pref == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' but no CUDA GPU is visible; use device='cpu' or 'auto'")
        return torch.device("cuda", d.local_rank)
    return torch.device(pref)


def _run_dir(cfg: TrainConfig) -> Path | None:
    if cfg.out_dir is None:
        return None
    name = cfg.run_name or f"{cfg.dataset}-{cfg.model.split(':')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Path(cfg.out_dir) / name


def train(config: "TrainConfig | dict | str | None" = None, *, model: nn.Module | Callable | None = None, **overrides) -> dict:
    """Train a model; return a summary dict.

    config: a preset name (``"gpu"``, ``"cpu"``, ``"ci"``, ``"tiny"``), a dict of settings
    (may contain ``"preset"``), or a :class:`TrainConfig`; keyword ``overrides`` win. ``model``:
    optional ready-made ``nn.Module`` (or a factory ``fn(num_classes, in_chans, img_size)``)
    instead of ``config.model``, e.g. a variant for an ablation.

    Returns ``{"model", "history", "final", "best_test_acc", "run_dir", "checkpoint",
    "config", "images_per_s", "time_s", "peak_memory_mb", "data"}``; ``history`` holds one
    dict per epoch (``epoch``, ``step``, ``lr``, ``train_loss``, ``train_acc``, ``test_loss``,
    ``test_acc``, ``epoch_time_s``, ``images_per_s``). ``data`` is the :class:`DataBundle`.
    """
    cfg, explicit = make_config(config, **overrides)
    ckpt = None
    if cfg.resume:
        ckpt = load_checkpoint(cfg.resume)
        cfg = _merge_resume_config(cfg, explicit, ckpt["config"], ckpt["path"])
    d = _setup_distributed(cfg.device)
    device = _pick_device(cfg.device, d)
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, ckpt, d, device, model)
    finally:
        torch.set_num_threads(threads_before)


def _train(cfg: TrainConfig, ckpt: dict | None, d: _Dist, device: torch.device, model) -> dict:
    """The body of :func:`train` once settings, processes and device are fixed."""
    use_amp = cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda")
    channels_last = cfg.channels_last is True or (cfg.channels_last == "auto" and device.type == "cuda")
    if ckpt is not None:
        run_dir = Path(ckpt["path"]).parent
    else:
        run_dir = _run_dir(cfg)
        if run_dir is not None and d.main and (run_dir / "last.pt").exists():
            raise ValueError(f"{run_dir} already holds a run: pass resume={str(run_dir)!r} to continue it, "
                             "or choose another run_name")

    # ---- data: whole splits resident on the device
    bundle = load_dataset(cfg.dataset, root=cfg.data_root, train_size=cfg.train_size,
                          test_size=cfg.test_size, seed=cfg.seed)
    train_split = bundle.train.to(device)
    test_split = bundle.test.to(device)
    num_classes = bundle.num_classes

    # ---- model (same initial weights on every rank: seeded before building)
    torch.manual_seed(cfg.seed)
    if isinstance(model, nn.Module):
        net = model
    elif callable(model):
        net = model(num_classes=num_classes, in_chans=bundle.in_chans, img_size=bundle.img_size)
    else:
        net = build_model(cfg, num_classes, bundle.in_chans, bundle.img_size)
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(_param_groups(net, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.999))

    per_rank_batch = max(1, cfg.batch_size // d.world)
    shard_len = len(train_split) // d.world
    steps_per_epoch = max(1, shard_len // per_rank_batch)
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = min(total_steps, max(0, round(cfg.warmup_epochs * steps_per_epoch)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_at(s, total_steps, warmup_steps, cfg.lr, cfg.min_lr) / cfg.lr
    )
    # data order: the same permutation on every rank; augmentation: one stream per rank
    order_gen = torch.Generator().manual_seed(cfg.seed + 17)
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1000 * (d.rank + 1))
    torch.manual_seed(cfg.seed + 7919 * (d.rank + 1))  # dropout / drop-path stream
    history: list[dict] = []
    start_epoch, step = 0, 0

    if ckpt is not None:
        try:
            net.load_state_dict(ckpt["model"])
        except RuntimeError as err:
            raise CheckpointError(
                f"checkpoint {ckpt['path']} does not fit this model ({str(err).splitlines()[0]} ...): "
                "it was written for another architecture or model_kwargs"
            ) from err
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(f"checkpoint {ckpt['path']}: optimizer state does not fit ({err})") from err
        rng = ckpt["rng"]
        order_gen.set_state(rng["order"])
        if len(rng["aug"]) != d.world:
            raise CheckpointError(f"checkpoint {ckpt['path']} was written by {len(rng['aug'])} process(es); "
                                  f"resume with the same number (now {d.world})")
        aug_gen.set_state(rng["aug"][d.rank])
        torch.set_rng_state(rng["torch"][d.rank])
        if device.type == "cuda" and rng.get("cuda"):
            torch.cuda.set_rng_state(rng["cuda"][d.rank], device)
        start_epoch, step, history = int(ckpt["epoch"]), int(ckpt["step"]), list(ckpt["history"])

    train_model = net
    if cfg.compile:
        train_model = torch.compile(net)
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(train_model, device_ids=[device.index] if device.type == "cuda" else None)

    if d.main and run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    from tqdm.auto import tqdm

    last_epoch = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start_epoch + cfg.stop_after)
    run_images, run_time = 0, 0.0
    ckpt_path = None
    for epoch in range(start_epoch, last_epoch):
        train_model.train()
        perm = torch.randperm(len(train_split), generator=order_gen)
        mine = perm[d.rank:: d.world][:shard_len].to(device)  # per-rank shard, equal lengths
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.float64)
        seen = 0
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not (cfg.progress and d.main), dynamic_ncols=True,
                   mininterval=0.1 if sys.stderr.isatty() else 5.0)  # logs: fewer redraws
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for i in range(steps_per_epoch):
            idx = mine[i * per_rank_batch: (i + 1) * per_rank_batch]
            x, targets = augment_batch(
                train_split.images[idx], train_split.labels[idx], mean=train_split.mean, std=train_split.std,
                num_classes=num_classes, crop_padding=cfg.crop_padding, flip=cfg.flip,
                cutmix_prob=cfg.cutmix_prob, cutmix_alpha=cfg.cutmix_alpha, generator=aug_gen,
            )
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _amp_context(device, use_amp):
                logits = train_model(x)
            loss = F.cross_entropy(logits.float(), targets, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_grad)
            optimizer.step()
            scheduler.step()
            step += 1
            hard = targets if targets.ndim == 1 else targets.argmax(1)
            b = x.shape[0]
            loss_sum += loss.detach().double() * b
            correct += (logits.detach().argmax(1) == hard).sum()
            seen += b
            if bar.disable is False and (i % 5 == 0 or i == steps_per_epoch - 1):
                el = time.perf_counter() - t0
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}",
                                img_s=f"{seen * d.world / max(el, 1e-9):.0f}", refresh=False)
            bar.update(1)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epoch_time = time.perf_counter() - t0
        bar.close()
        tl, tc, tn = _all_reduce_sum([loss_sum.item(), correct.item(), float(seen)], device)
        ev = evaluate(net, test_split, batch_size=cfg.eval_batch_size, device=device, amp=use_amp,
                      channels_last=channels_last, shard=(d.rank, d.world))
        ips = tn / epoch_time
        run_images += tn
        run_time += epoch_time
        row = {
            "epoch": epoch + 1, "step": step, "lr": optimizer.param_groups[0]["lr"],
            "train_loss": tl / tn, "train_acc": tc / tn, "test_loss": ev["loss"], "test_acc": ev["acc"],
            "epoch_time_s": round(epoch_time, 3), "images_per_s": round(ips, 1),
        }
        if device.type == "cuda":
            row["peak_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        history.append(row)
        # checkpoint: every rank's generator states are gathered so any rank can resume
        rng = {
            "order": order_gen.get_state(),
            "aug": _gather_states(aug_gen.get_state(), d),
            "torch": _gather_states(torch.get_rng_state(), d),
            "cuda": _gather_states(torch.cuda.get_rng_state(device), d) if device.type == "cuda" else [],
        }
        if d.main:
            msg = (f"epoch {epoch + 1}/{cfg.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
                   f"test loss {row['test_loss']:.4f} acc {row['test_acc']:.4f}  {ips:.0f} img/s")
            if cfg.progress:
                tqdm.write(msg)
            if run_dir is not None:
                state = {
                    "format": CHECKPOINT_FORMAT, "epoch": epoch + 1, "step": step,
                    "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "rng": rng,
                    "config": _jsonable(dataclasses.asdict(cfg)), "history": history,
                }
                ckpt_path = save_checkpoint(run_dir / "last.pt", state)
                _write_metrics(run_dir, history)

    peak = None
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    ips = run_images / run_time if run_time > 0 else float("nan")
    final = history[-1] if history else {}
    summary = {
        "model": net,
        "history": history,
        "final": final,
        "best_test_acc": max((h["test_acc"] for h in history), default=float("nan")),
        "run_dir": str(run_dir) if run_dir is not None else None,
        "checkpoint": str(ckpt_path) if ckpt_path else None,
        "config": dataclasses.asdict(cfg),
        "images_per_s": ips,
        "time_s": run_time,
        "peak_memory_mb": peak,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "data": bundle,
        "finished": (start_epoch if not history else history[-1]["epoch"]) >= cfg.epochs,
    }
    if d.main:
        if run_dir is not None:
            (run_dir / "summary.json").write_text(json.dumps(
                {k: v for k, v in summary.items() if k not in ("model", "data", "history")}, indent=1))
        if cfg.progress:
            print(summary_line(summary), flush=True)
    return summary


def summary_line(summary: dict) -> str:
    """One line for the end of a run: epochs, images/s, accuracy, peak CUDA memory, run folder."""
    hist, final = summary["history"], summary["final"]
    line = f"done: {len(hist)} epoch(s) in the run history, train {summary['images_per_s']:.0f} img/s"
    line += f" on {summary.get('device', '?')}"
    if final:
        line += f", test acc {final['test_acc']:.4f} (best {summary['best_test_acc']:.4f})"
    if summary.get("peak_memory_mb") is not None:
        line += f", peak CUDA memory {summary['peak_memory_mb']:.0f} MiB (torch.cuda.max_memory_allocated)"
    if summary.get("run_dir"):
        line += f", run folder {summary['run_dir']}"
    return line


# --------------------------------------------------------------------------- command line


def _parse_kv(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--model-kw expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


def _bool_or_auto(s: str):
    s = s.lower()
    if s in ("auto",):
        return "auto"
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected auto/true/false, got {s!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dat_edu.train",
        description="Train a small DAT. Start from a preset; any flag overrides it.",
        epilog="Presets: " + "; ".join(f"{k}: {v}" for k, v in PRESETS.items()),
    )
    p.add_argument("--preset", choices=sorted(PRESETS), help="gpu | cpu | ci | shapes | tiny")
    p.add_argument("--dataset", choices=["cifar10", "fashion_mnist", "shapes", "synthetic"])
    p.add_argument("--data-root", dest="data_root")
    p.add_argument("--train-size", dest="train_size", type=int)
    p.add_argument("--test-size", dest="test_size", type=int)
    p.add_argument("--model", help="'dat_cifar' or 'package.module:function'")
    p.add_argument("--model-kw", dest="model_kw", action="append", default=[], metavar="KEY=VALUE",
                   help="keyword for the model factory (repeatable), e.g. --model-kw drop_path_rate=0.1")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", dest="batch_size", type=int, help="global batch size")
    p.add_argument("--lr", type=float)
    p.add_argument("--min-lr", dest="min_lr", type=float)
    p.add_argument("--weight-decay", dest="weight_decay", type=float)
    p.add_argument("--warmup-epochs", dest="warmup_epochs", type=float)
    p.add_argument("--label-smoothing", dest="label_smoothing", type=float)
    p.add_argument("--clip-grad", dest="clip_grad", type=float, help="0 disables")
    p.add_argument("--crop-padding", dest="crop_padding", type=int)
    p.add_argument("--no-flip", dest="flip", action="store_const", const=False)
    p.add_argument("--cutmix", dest="cutmix_prob", type=float, help="probability per image")
    p.add_argument("--amp", choices=["auto", "bf16", "none"])
    p.add_argument("--channels-last", dest="channels_last", type=_bool_or_auto)
    p.add_argument("--compile", action="store_const", const=True)
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int,
                   help="CPU threads (default: torch's choice); 1 is often much faster on a busy or shared CPU")
    p.add_argument("--out-dir", dest="out_dir")
    p.add_argument("--run-name", dest="run_name")
    p.add_argument("--resume", help="checkpoint file or run folder to continue")
    p.add_argument("--stop-after", dest="stop_after", type=int, help="stop after N epochs of this invocation")
    p.add_argument("--no-progress", dest="progress", action="store_const", const=False)
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    return p


def main(argv: list[str] | None = None) -> dict | None:
    """Entry point of ``python -m dat_edu.train``; returns the summary (None with --print-config)."""
    args = build_parser().parse_args(argv)
    values = {k: v for k, v in vars(args).items() if v is not None and k not in ("model_kw", "print_config")}
    if args.model_kw:
        values["model_kwargs"] = _parse_kv(args.model_kw)
    if values.get("clip_grad") == 0:
        values["clip_grad"] = None
    if args.preset is None and args.resume is None:
        values["preset"] = "cpu" if not torch.cuda.is_available() else "gpu"
    cfg, _ = make_config(values)
    if args.print_config:
        print(json.dumps(dataclasses.asdict(cfg), indent=1))
        return None
    from .data import DownloadError, IDXError

    try:
        result = train(values)
    except (DownloadError, IDXError, FileNotFoundError, CheckpointError) as err:
        # data or checkpoint problems: the message says what to do, a traceback adds nothing
        raise SystemExit(f"error: {err}") from None
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if not result["config"]["progress"] and int(os.environ.get("RANK", "0")) == 0:
        print(summary_line(result), flush=True)  # the command line always reports the result
    return result


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
