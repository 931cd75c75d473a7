"""One-shot GPU measurement: everything worth knowing about a CUDA machine, in one table.

    python -m dat_edu.bench.gpu [--minutes 8] [--no-compile]
    python -m dat_edu.bench.gpu --tiny          # the same steps, tiny and on the CPU (tests)

Steps, in order, each bounded so the whole run stays within about ``--minutes``:

1. throughput of the ``gpu`` training preset (dat_cifar, bf16 autocast, channels-last, batch 512)
   on synthetic CIFAR-format data resident on the GPU: images/s and peak memory, eager, then with
   ``torch.compile`` (the first compiled epoch includes compilation, so two epochs are run and
   the second is reported);
2. time to accuracy: the same recipe on Fashion-MNIST zero-padded to 32x32, the whole data set on
   the GPU, for a fixed number of epochs: seconds and test accuracy per epoch (the tiny mode uses
   the sample bundled with dat_edu);
3. the deformable block at DAT-T stage settings, readable vs fast, forward + backward on CUDA
   (:mod:`dat_edu.bench.blocks`), and the dense / window / deformable sweep
   (:mod:`dat_edu.bench.attention`).

It prints one table at the end (and each step's lines as it goes). Nothing here has been run on a
GPU by the authors yet; the README says so and quotes no GPU figure.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from dat_edu.bench.table import cell, text_table
from dat_edu.data import FASHION_MNIST_SAMPLE, DownloadError, load_fashion_mnist

__all__ = ["GpuPlan", "plan", "run_gpu", "format_results", "main"]


@dataclass
class GpuPlan:
    """Sizes of every step (``plan(tiny=True)`` is the CPU smoke test of the test suite)."""

    device: str
    throughput_images: int
    throughput_batch: int
    tta_epochs: int
    tta_train_size: int | None
    tta_test_size: int | None
    tta_batch: int
    tta_root: str | None  # None: the full Fashion-MNIST (found, or fetched on first use)
    block_batch: int
    block_repeats: int
    sweep_sizes: tuple[int, ...]
    compile: bool
    block_settings: dict | None = None  # None: DAT-T stage 3 and 4


def plan(tiny: bool = False, compile: bool = True) -> GpuPlan:
    if tiny:
        return GpuPlan(device="cpu", throughput_images=32, throughput_batch=16, tta_epochs=1, tta_train_size=64,
                       tta_test_size=64, tta_batch=32, tta_root=str(FASHION_MNIST_SAMPLE), block_batch=1, block_repeats=1, sweep_sizes=(4,),
                       compile=False, block_settings={"tiny": (16, 4, 2, 6, 1)})
    return GpuPlan(device="cuda", throughput_images=25_600, throughput_batch=512, tta_epochs=10, tta_train_size=None,
                   tta_test_size=None, tta_batch=512, tta_root=None, block_batch=32, block_repeats=20, sweep_sizes=(16, 32, 64),
                   compile=compile)


def _train(config: dict) -> dict:
    from dat_edu.train import train

    return train({"progress": False, "out_dir": None, **config})


def _throughput(p: GpuPlan, compile: bool) -> dict:
    epochs = 2 if compile else 1  # a compiled run's first epoch includes compilation
    r = _train({"preset": "gpu", "dataset": "synthetic", "device": p.device, "epochs": epochs,
                "train_size": p.throughput_images, "test_size": p.throughput_batch,
                "batch_size": p.throughput_batch, "eval_batch_size": p.throughput_batch, "compile": compile,
                "warmup_epochs": 0.1,
                **({"amp": "none", "channels_last": False} if p.device == "cpu" else {})})
    last = r["history"][-1]
    return {"what": f"gpu preset, synthetic data, {'compiled' if compile else 'eager'}",
            "images_per_s": last["images_per_s"], "peak_memory_mb": r["peak_memory_mb"],
            "seconds": last["epoch_time_s"], "test_acc": None}


def _time_to_accuracy(p: GpuPlan) -> list[dict]:
    t0 = time.perf_counter()
    try:
        load_fashion_mnist(p.tta_root, train=False)
    except (FileNotFoundError, ValueError, DownloadError) as err:  # not here, no network: say so, go on
        return [{"what": f"Fashion-MNIST run skipped: {str(err).splitlines()[0][:120]}", "images_per_s": None,
                 "peak_memory_mb": None, "seconds": None, "test_acc": None}]
    r = _train({"preset": "gpu", "dataset": "fashion_mnist", "data_root": p.tta_root, "device": p.device,
                "epochs": p.tta_epochs,
                "train_size": p.tta_train_size, "test_size": p.tta_test_size, "batch_size": p.tta_batch,
                "cutmix_prob": 0.0,
                "warmup_epochs": min(1.0, p.tta_epochs / 3), "compile": False,
                **({"amp": "none", "channels_last": False} if p.device == "cpu" else {})})
    rows, elapsed = [], 0.0
    for h in r["history"]:
        elapsed += h["epoch_time_s"]
        rows.append({"what": f"Fashion-MNIST 32x32 on the device, epoch {h['epoch']}", "images_per_s": h["images_per_s"],
                     "peak_memory_mb": h.get("peak_memory_mb"), "seconds": elapsed, "test_acc": h["test_acc"]})
    rows.append({"what": "Fashion-MNIST run, wall time incl. loading and evaluation", "images_per_s": None,
                 "peak_memory_mb": r["peak_memory_mb"], "seconds": time.perf_counter() - t0,
                 "test_acc": r["final"]["test_acc"]})
    return rows


def _blocks(p: GpuPlan) -> list[dict]:
    from dat_edu.bench.blocks import run_blocks

    rows = run_blocks(batch=p.block_batch, repeats=p.block_repeats, device=p.device, settings=p.block_settings)
    return [{"what": f"block {r.stage} {r.candidate}: fwd+bwd (wall ms {r.fwd_bwd_wall_ms:.2f}, x readable "
                     f"{(r.speedup_wall or 0):.2f})", "images_per_s": p.block_batch / r.fwd_bwd_wall_ms * 1e3,
             "peak_memory_mb": None, "seconds": r.fwd_bwd_wall_ms / 1e3, "test_acc": None} for r in rows]


def _sweep(p: GpuPlan) -> list[dict]:
    from dat_edu.bench.attention import run_benchmark

    rows = run_benchmark(p.sweep_sizes, repeats=max(3, p.block_repeats // 2), device=p.device)
    return [{"what": f"attention {r['size']}x{r['size']} {r['attention']}: fwd+bwd", "images_per_s": None,
             "peak_memory_mb": r["cuda_peak_mib"] if r["cuda_peak_mib"] is not None else r["saved_mib"],
             "seconds": None if r["wall_ms"] is None else r["wall_ms"] / 1e3, "test_acc": None}
            for r in rows if r["wall_ms"] is not None]


def run_gpu(p: GpuPlan, minutes: float = 8.0) -> list[dict]:
    """Run every step of ``p`` (skipping what the time budget no longer allows); returns the rows."""
    if p.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("python -m dat_edu.bench.gpu needs a CUDA GPU (torch.cuda.is_available() is False); "
                         "use --tiny for the CPU smoke test")
    start, budget = time.perf_counter(), minutes * 60
    steps = [("throughput, eager", lambda: [_throughput(p, False)])]
    if p.compile:
        steps.append(("throughput, torch.compile", lambda: [_throughput(p, True)]))
    steps += [("time to accuracy", lambda: _time_to_accuracy(p)), ("deformable block", lambda: _blocks(p)),
              ("attention sweep", lambda: _sweep(p))]
    rows: list[dict] = []
    for name, step in steps:
        if time.perf_counter() - start > budget:
            rows.append({"what": f"{name}: skipped, past the {minutes:g}-minute budget", "images_per_s": None,
                         "peak_memory_mb": None, "seconds": None, "test_acc": None})
            continue
        for row in step():
            print(format_results([row], header=False), flush=True)
            rows.append(row)
    return rows


def format_results(rows: list[dict], header: bool = True) -> str:
    lines = [[r["what"], cell(r["images_per_s"], ".0f"), cell(r["peak_memory_mb"], ".0f"), cell(r["seconds"], ".3g"),
              cell(r["test_acc"], ".4f")] for r in rows]
    return text_table(["measurement", "img/s", "peak MiB", "seconds", "test acc"], lines, header=header)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m dat_edu.bench.gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes on the CPU (the test suite's smoke test)")
    parser.add_argument("--minutes", type=float, default=8.0, help="time budget; later steps are skipped past it")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip the torch.compile step")
    args = parser.parse_args(argv)
    p = plan(args.tiny, args.compile)
    name = torch.cuda.get_device_name(0) if p.device == "cuda" and torch.cuda.is_available() else "CPU (tiny mode)"
    print(f"dat_edu GPU measurement on {name}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}", flush=True)
    rows = run_gpu(p, args.minutes)
    print()
    print(format_results(rows))
    return rows


if __name__ == "__main__":
    main()
