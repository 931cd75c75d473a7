"""Time to accuracy: the course's small DAT, a small CNN and the window-only DAT, on one budget.

    python -m dat_edu.bench.tta [--preset cpu] [--threads 2] [--budget SECONDS]

1. The DAT trains with the training preset (``--preset``, default ``cpu``: real Fashion-MNIST),
   exactly as ``python -m dat_edu.train --preset cpu`` would. Without ``--budget`` its wall time,
   including loading the data and every evaluation, is the budget; with ``--budget`` (and no
   ``--epochs``) it gets as many whole epochs of the preset's recipe as fit in the budget.
2. The same recipe trains two baselines within that budget: a small CNN (:func:`small_cnn`, two
   3x3 conv layers, 0.42M parameters) and the window-only variant of the DAT (every D block
   replaced by an L block: what the deformable blocks add). Each gets as many whole epochs as a
   short calibration run says fit in the budget (never more).

Every run prints its test accuracy after each epoch and the table shows, for each model: epochs,
wall time, CPU time (all threads), images per second and the final test accuracy. Wall time is
what a learner waits; it depends on everything else running on the machine (check ``uptime``).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from dat_edu.bench.table import text_table

__all__ = ["small_cnn", "window_only", "run_tta", "format_tta", "main"]


def small_cnn(num_classes: int = 10, in_chans: int = 1, img_size: int = 28) -> nn.Module:
    """The baseline: conv3x3(32) -> ReLU -> pool -> conv3x3(64) -> ReLU -> pool -> FC(128) -> FC."""
    side = img_size // 4
    return nn.Sequential(
        nn.Conv2d(in_chans, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, num_classes),
    )


def window_only(stage_spec) -> tuple[str, ...]:
    """The stage letters with every deformable block (D) replaced by a window block (L)."""
    return tuple(s.replace("D", "L") for s in stage_spec)


def _timed_train(config: dict, model=None) -> dict:
    from dat_edu.train import train

    c0, w0 = time.process_time(), time.perf_counter()
    r = train({"progress": False, "out_dir": None, **config}, model=model)
    r["wall_s"], r["cpu_s"] = time.perf_counter() - w0, time.process_time() - c0
    return r


def _row(name: str, r: dict) -> dict:
    return {"model": name, "params": sum(p.numel() for p in r["model"].parameters()),
            "epochs": len(r["history"]), "wall_s": r["wall_s"], "cpu_s": r["cpu_s"],
            "images_per_s": r["images_per_s"], "test_acc": r["final"]["test_acc"],
            "history": [round(h["test_acc"], 4) for h in r["history"]]}


def _epochs_within(budget: float, config: dict, model=None, calibration_images: int = 8192) -> int:
    """Whole epochs of ``config`` that fit in ``budget`` seconds, from a short timed run.

    The probe trains on ``calibration_images`` images (enough steps that the first, slower ones do
    not dominate its speed) and evaluates on the whole test set, as every epoch of the run does.
    """
    from dat_edu.data import load_dataset
    from dat_edu.train import make_config

    cfg, _ = make_config(config)
    n_train = cfg.train_size or len(load_dataset(cfg.dataset, test_size=1).train)
    probe = _timed_train({**config, "epochs": 1, "train_size": min(calibration_images, n_train)}, model)
    per_epoch = n_train / probe["images_per_s"]
    overhead = max(0.0, probe["wall_s"] - probe["time_s"])  # loading + evaluation, about once per epoch
    return max(1, math.floor(budget / (per_epoch + overhead)))


def run_tta(preset: str = "cpu", threads: int = 2, budget: float | None = None, overrides: dict | None = None,
            baselines: bool = True) -> list[dict]:
    """Train the DAT of ``preset``, then the baselines within the same budget; returns the rows."""
    from dat_edu.train import make_config

    cfg, _ = make_config({"preset": preset, "threads": threads, **(overrides or {})})
    base = {"preset": preset, "threads": threads, **(overrides or {})}
    rows = []
    if budget is not None and "epochs" not in (overrides or {}):
        base["epochs"] = _epochs_within(budget, base)
    dat = _timed_train(base)
    rows.append(_row(f"DAT ({cfg.model})", dat))
    print(format_tta(rows[-1:], header=False), flush=True)
    budget = dat["wall_s"] if budget is None else budget
    if baselines:
        from dat_edu.model import DAT

        spec = dat["model"].stage_spec if isinstance(dat["model"], DAT) else None
        candidates = [("small CNN", None, small_cnn)]
        if spec is not None and any("D" in s for s in spec):
            wo = {**base, "model_kwargs": {**cfg.model_kwargs, "stage_spec": window_only(spec)}}
            candidates.append(("window-only DAT (D -> L)", wo, None))
        for name, config, model in candidates:
            config = config or base
            epochs = _epochs_within(budget, config, model)
            r = _timed_train({**config, "epochs": epochs}, model)
            rows.append(_row(name, r))
            print(format_tta(rows[-1:], header=False), flush=True)
    return rows


def format_tta(rows: list[dict], header: bool = True) -> str:
    head = ["model", "params", "epochs", "wall s", "CPU s", "train img/s", "test acc", "test acc per epoch"]
    lines = [[r["model"], f"{r['params'] / 1e6:.2f}M", str(r["epochs"]), f"{r['wall_s']:.0f}", f"{r['cpu_s']:.0f}",
              f"{r['images_per_s']:.0f}", f"{r['test_acc']:.4f}", " ".join(f"{a:.3f}" for a in r["history"])]
             for r in rows]
    return text_table(head, lines, left=(0, 7), header=header)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m dat_edu.bench.tta", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu", help="training preset of the DAT run (default: cpu)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every run (default 2)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of wall time for every model: whole epochs that fit (default: "
                             "the DAT trains its preset's epochs and its wall time is the baselines' budget)")
    parser.add_argument("--dataset", default=None, help="override the preset's data set")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs (DAT run)")
    parser.add_argument("--train-size", dest="train_size", type=int, default=None)
    parser.add_argument("--test-size", dest="test_size", type=int, default=None)
    parser.add_argument("--no-baselines", dest="baselines", action="store_false", help="train only the DAT")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("dataset", args.dataset), ("epochs", args.epochs),
                                   ("train_size", args.train_size), ("test_size", args.test_size)) if v is not None}
    import os

    print(f"time to accuracy: preset {args.preset} {overrides or ''}, {args.threads} thread(s), "
          f"load average {os.getloadavg()[0]:.2f} (1 min) at the start, {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    print(format_tta([], header=True).rstrip(), flush=True)
    rows = run_tta(args.preset, args.threads, args.budget, overrides, args.baselines)
    print()
    print(format_tta(rows))
    budget = rows[0]["wall_s"] if args.budget is None else args.budget
    print(f"test accuracy within {budget:.0f} s of wall time: " + ", ".join(
        f"{r['model']} {r['test_acc']:.4f}" + ("" if r["wall_s"] <= budget else f" (over: {r['wall_s']:.0f} s)")
        for r in rows))
    return rows


if __name__ == "__main__":
    main()
