"""The training loop, as named steps around one small run state.

    train(config)
      start_run      settings, processes, device, data, model, optimizer, schedule, random streams
      resume_run     (with --resume) weights, optimizer, schedule, random streams, history
      for each epoch:
        train_epoch  one pass over this process's shard of a fresh permutation
        end_epoch    evaluate, one history row, checkpoint and metrics files
      summarize      the result dict (and summary.json)

What it does, and why:

* The whole data set lives in one uint8 tensor on the training device; each step indexes a
  batch and augments it there (:mod:`dat_edu.data.augment`), so no DataLoader workers.
* AdamW, linear warm-up then cosine decay, updated every step; label smoothing; gradient
  clipping; bf16 autocast and channels-last on CUDA (bf16 on CPU on request); optional
  ``torch.compile``.
* ``resume`` continues exactly where a run stopped: on CPU a run interrupted after epoch 1 and
  resumed ends with the same weights as an uninterrupted one (every RNG state is checkpointed).
* Under ``torchrun`` each rank takes every ``world``-th index of the shared epoch permutation
  (what DistributedSampler does) and the global batch is split across ranks.
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import DataBundle, DataSplit, augment_batch, load_dataset
from .checkpoint import (CHECKPOINT_FORMAT, CheckpointError, jsonable, load_checkpoint, merge_resume_config,
                         save_checkpoint, write_json, write_metrics)
from .config import TrainConfig, make_config
from .distributed import Dist, all_reduce_sum, gather_states, pick_device, setup_distributed
from .evaluation import amp_context, evaluate
from .progress import EpochProgress, write

__all__ = ["train", "build_model", "lr_at", "param_groups", "summary_line", "Run"]


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


def build_model(cfg: TrainConfig, num_classes: int, in_chans: int, img_size: int) -> nn.Module:
    """Instantiate ``cfg.model``: ``"dat_cifar"`` (from :mod:`dat_edu.model`) or ``"pkg.mod:fn"``.

    The factory is called as ``fn(num_classes=..., in_chans=..., img_size=..., **cfg.model_kwargs)``.
    """
    import importlib

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


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on 1-D parameters (biases, norm weights) and on the parameters
    whose names contain one of ``model.no_weight_decay_keywords()`` (DAT: the position tables)."""
    keywords = model.no_weight_decay_keywords() if hasattr(model, "no_weight_decay_keywords") else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or any(k in name for k in keywords):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@dataclass
class Run:
    """What a run holds while it trains; the steps below read and update it."""

    cfg: TrainConfig
    dist: Dist
    device: torch.device
    amp: bool
    channels_last: bool
    run_dir: Path | None
    data: DataBundle
    train_split: DataSplit
    test_split: DataSplit
    net: nn.Module  # the model itself (weights, checkpoints, evaluation)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    per_rank_batch: int
    shard_len: int
    steps_per_epoch: int
    order_gen: torch.Generator  # data order: the same permutation on every rank
    aug_gen: torch.Generator  # augmentation: one stream per rank
    step: int = 0
    start_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    train_model: nn.Module | None = None  # net, compiled and/or wrapped in DDP
    checkpoint: Path | None = None
    images: float = 0.0  # images trained on (all ranks) and seconds spent in this invocation
    seconds: float = 0.0


def _run_dir(cfg: TrainConfig, ckpt: dict | None, d: Dist) -> Path | None:
    if ckpt is not None:
        return Path(ckpt["path"]).parent
    if cfg.out_dir is None:
        return None
    name = cfg.run_name or f"{cfg.dataset}-{cfg.model.split(':')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.out_dir) / name
    if d.main and (run_dir / "last.pt").exists():
        raise ValueError(f"{run_dir} already holds a run: pass resume={str(run_dir)!r} to continue it, "
                         "or choose another run_name")
    return run_dir


def start_run(cfg: TrainConfig, ckpt: dict | None, d: Dist, device: torch.device, model) -> Run:
    """Data on the device, the model (same initial weights on every rank), optimizer, schedule, streams."""
    run_dir = _run_dir(cfg, ckpt, d)
    bundle = load_dataset(cfg.dataset, root=cfg.data_root, train_size=cfg.train_size,
                          test_size=cfg.test_size, seed=cfg.seed)
    train_split, test_split = bundle.train.to(device), bundle.test.to(device)
    channels_last = cfg.channels_last is True or (cfg.channels_last == "auto" and device.type == "cuda")

    torch.manual_seed(cfg.seed)  # before building: the same initial weights on every rank
    if isinstance(model, nn.Module):
        net = model
    elif callable(model):
        net = model(num_classes=bundle.num_classes, in_chans=bundle.in_chans, img_size=bundle.img_size)
    else:
        net = build_model(cfg, bundle.num_classes, bundle.in_chans, bundle.img_size)
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(param_groups(net, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.999))

    per_rank_batch = max(1, cfg.batch_size // d.world)
    shard_len = len(train_split) // d.world
    steps_per_epoch = max(1, shard_len // per_rank_batch)
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = min(total_steps, max(0, round(cfg.warmup_epochs * steps_per_epoch)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_at(s, total_steps, warmup_steps, cfg.lr, cfg.min_lr) / cfg.lr
    )
    order_gen = torch.Generator().manual_seed(cfg.seed + 17)
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1000 * (d.rank + 1))
    torch.manual_seed(cfg.seed + 7919 * (d.rank + 1))  # dropout / drop-path stream
    return Run(cfg=cfg, dist=d, device=device, amp=cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda"),
               channels_last=channels_last, run_dir=run_dir, data=bundle, train_split=train_split,
               test_split=test_split, net=net, optimizer=optimizer, scheduler=scheduler,
               per_rank_batch=per_rank_batch, shard_len=shard_len, steps_per_epoch=steps_per_epoch,
               order_gen=order_gen, aug_gen=aug_gen)


def resume_run(run: Run, ckpt: dict) -> None:
    """Weights, optimizer, schedule, every random stream and the history from a checkpoint."""
    d, path = run.dist, ckpt["path"]
    try:
        run.net.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise CheckpointError(
            f"checkpoint {path} does not fit this model ({str(err).splitlines()[0]} ...): "
            "it was written for another architecture or model_kwargs"
        ) from err
    try:
        run.optimizer.load_state_dict(ckpt["optimizer"])
        run.scheduler.load_state_dict(ckpt["scheduler"])
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {path}: optimizer state does not fit ({err})") from err
    rng = ckpt["rng"]
    run.order_gen.set_state(rng["order"])
    if len(rng["aug"]) != d.world:
        raise CheckpointError(f"checkpoint {path} was written by {len(rng['aug'])} process(es); "
                              f"resume with the same number (now {d.world})")
    run.aug_gen.set_state(rng["aug"][d.rank])
    torch.set_rng_state(rng["torch"][d.rank])
    if run.device.type == "cuda" and rng.get("cuda"):
        torch.cuda.set_rng_state(rng["cuda"][d.rank], run.device)
    run.start_epoch, run.step, run.history = int(ckpt["epoch"]), int(ckpt["step"]), list(ckpt["history"])


def _wrap(run: Run) -> None:
    """torch.compile and/or DistributedDataParallel around the model, for the training steps."""
    model = torch.compile(run.net) if run.cfg.compile else run.net
    if run.dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    run.train_model = model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_epoch(run: Run, epoch: int) -> dict:
    """One pass over this rank's shard; returns the epoch's summed loss/correct/images (all ranks) and time."""
    cfg, d, device, split = run.cfg, run.dist, run.device, run.train_split
    run.train_model.train()
    perm = torch.randperm(len(split), generator=run.order_gen)
    mine = perm[d.rank:: d.world][: run.shard_len].to(device)  # per-rank shard, equal lengths
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64)
    seen = 0
    bar = EpochProgress(run.steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress and d.main)
    _sync(device)
    t0 = time.perf_counter()
    for i in range(run.steps_per_epoch):
        idx = mine[i * run.per_rank_batch: (i + 1) * run.per_rank_batch]
        x, targets = augment_batch(
            split.images[idx], split.labels[idx], mean=split.mean, std=split.std,
            num_classes=run.data.num_classes, crop_padding=cfg.crop_padding, flip=cfg.flip,
            cutmix_prob=cfg.cutmix_prob, cutmix_alpha=cfg.cutmix_alpha, generator=run.aug_gen,
        )
        if run.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with amp_context(device, run.amp):
            logits = run.train_model(x)
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=cfg.label_smoothing)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_grad:
            torch.nn.utils.clip_grad_norm_(run.net.parameters(), cfg.clip_grad)
        run.optimizer.step()
        run.scheduler.step()
        run.step += 1
        hard = targets if targets.ndim == 1 else targets.argmax(1)
        loss_sum += loss.detach().double() * x.shape[0]
        correct += (logits.detach().argmax(1) == hard).sum()
        seen += x.shape[0]
        stats = None
        if bar.enabled and (i % 5 == 0 or i == run.steps_per_epoch - 1):  # .item() waits for the device
            elapsed = max(time.perf_counter() - t0, 1e-9)
            stats = {"loss": f"{loss_sum.item() / seen:.3f}", "acc": f"{correct.item() / seen:.3f}",
                     "img_s": f"{seen * d.world / elapsed:.0f}"}
        bar.step(stats)
    _sync(device)
    seconds = time.perf_counter() - t0
    bar.close()
    total_loss, total_correct, total_seen = all_reduce_sum([loss_sum.item(), correct.item(), float(seen)], device)
    return {"loss_sum": total_loss, "correct": total_correct, "seen": total_seen, "seconds": seconds}


def _rng_states(run: Run) -> dict:
    """Every rank's generator states, gathered so that any rank can resume."""
    d, device = run.dist, run.device
    return {
        "order": run.order_gen.get_state(),
        "aug": gather_states(run.aug_gen.get_state(), d),
        "torch": gather_states(torch.get_rng_state(), d),
        "cuda": gather_states(torch.cuda.get_rng_state(device), d) if device.type == "cuda" else [],
    }


def end_epoch(run: Run, epoch: int, stats: dict) -> dict:
    """Evaluate, append the epoch's history row, and (rank 0) print it and write checkpoint and metrics."""
    cfg, d, device = run.cfg, run.dist, run.device
    ev = evaluate(run.net, run.test_split, batch_size=cfg.eval_batch_size, device=device, amp=run.amp,
                  channels_last=run.channels_last, shard=(d.rank, d.world))
    ips = stats["seen"] / stats["seconds"]
    run.images += stats["seen"]
    run.seconds += stats["seconds"]
    row = {
        "epoch": epoch + 1, "step": run.step, "lr": run.optimizer.param_groups[0]["lr"],
        "train_loss": stats["loss_sum"] / stats["seen"], "train_acc": stats["correct"] / stats["seen"],
        "test_loss": ev["loss"], "test_acc": ev["acc"],
        "epoch_time_s": round(stats["seconds"], 3), "images_per_s": round(ips, 1),
    }
    if device.type == "cuda":
        row["peak_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    run.history.append(row)
    rng = _rng_states(run)  # a collective: every rank takes part
    if not d.main:
        return row
    if cfg.progress:
        write(f"epoch {epoch + 1}/{cfg.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
              f"test loss {row['test_loss']:.4f} acc {row['test_acc']:.4f}  {ips:.0f} img/s")
    if run.run_dir is not None:
        state = {
            "format": CHECKPOINT_FORMAT, "epoch": epoch + 1, "step": run.step,
            "model": run.net.state_dict(), "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(), "rng": rng,
            "config": jsonable(dataclasses.asdict(cfg)), "history": run.history,
        }
        run.checkpoint = save_checkpoint(run.run_dir / "last.pt", state)
        write_metrics(run.run_dir, run.history)
    return row


def summarize(run: Run) -> dict:
    """The result of :func:`train` (see there); rank 0 also writes ``summary.json``."""
    device, history = run.device, run.history
    summary = {
        "model": run.net,
        "history": history,
        "final": history[-1] if history else {},
        "best_test_acc": max((h["test_acc"] for h in history), default=float("nan")),
        "run_dir": str(run.run_dir) if run.run_dir is not None else None,
        "checkpoint": str(run.checkpoint) if run.checkpoint else None,
        "config": dataclasses.asdict(run.cfg),
        "images_per_s": run.images / run.seconds if run.seconds > 0 else float("nan"),
        "time_s": run.seconds,
        "peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "data": run.data,
        "finished": (run.start_epoch if not history else history[-1]["epoch"]) >= run.cfg.epochs,
    }
    if run.dist.main and run.run_dir is not None:
        write_json(run.run_dir / "summary.json",
                   {k: v for k, v in summary.items() if k not in ("model", "data", "history")})
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


@contextmanager
def _threads(n: int | None):
    """``torch.set_num_threads(n)`` for the duration of a run (train() is called from notebooks)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(config: "TrainConfig | dict | str | None" = None, *, model: nn.Module | Callable | None = None,
          **overrides) -> dict:
    """Train a model; return a summary dict.

    config: a preset name (see :data:`dat_edu.train.PRESETS`), a dict of settings (may contain
    ``"preset"``), or a :class:`TrainConfig`; keyword ``overrides`` win. ``model``: optional
    ready-made ``nn.Module`` (or a factory ``fn(num_classes, in_chans, img_size)``) instead of
    ``config.model``, e.g. a variant for an ablation.

    Returns ``{"model", "history", "final", "best_test_acc", "run_dir", "checkpoint",
    "config", "images_per_s", "time_s", "peak_memory_mb", "device", "data", "finished"}``;
    ``history`` holds one dict per epoch (``epoch``, ``step``, ``lr``, ``train_loss``, ``train_acc``,
    ``test_loss``, ``test_acc``, ``epoch_time_s``, ``images_per_s``). ``data`` is the :class:`DataBundle`.
    """
    cfg, explicit = make_config(config, **overrides)
    ckpt = None
    if cfg.resume:
        ckpt = load_checkpoint(cfg.resume)
        cfg = merge_resume_config(cfg, explicit, ckpt["config"], ckpt["path"])
    d = setup_distributed(cfg.device)
    device = pick_device(cfg.device, d)
    with _threads(cfg.threads):
        run = start_run(cfg, ckpt, d, device, model)
        if ckpt is not None:
            resume_run(run, ckpt)
        _wrap(run)
        if d.main and run.run_dir is not None:
            write_json(run.run_dir / "config.json", dataclasses.asdict(cfg))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        last = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, run.start_epoch + cfg.stop_after)
        for epoch in range(run.start_epoch, last):
            end_epoch(run, epoch, train_epoch(run, epoch))
        summary = summarize(run)
    if d.main and cfg.progress:
        print(summary_line(summary), flush=True)
    return summary
