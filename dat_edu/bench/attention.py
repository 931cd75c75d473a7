"""Benchmark: what does each kind of attention cost as the feature map grows?

    python -m dat_edu.bench attention [--device cpu|cuda] [--sizes 8 16 32] [--dim 64] [--heads 2]
                                      [--batch 2] [--repeats N] [--warmup N] [--window W]
                                      [--groups G] [--stride S] [--threads T]

For every feature-map size H = W = s it times one forward + backward pass (median CPU time and
median wall time over ``repeats`` runs after ``warmup`` runs; the layers take turns so background
load hits them alike, see :mod:`dat_edu.bench.timing`) of these attention layers on a
(batch, dim, s, s) input:

  dense       MultiHeadSelfAttention: every query attends to all H*W pixels        -> H*W keys
  window      WindowAttention (shift 0): every query attends to its w x w window    -> w*w keys
  deformable  FastDeformableAttention (what DAT builds): every query attends to Hk*Wk sampled
              points -> Hk*Wk keys (Hk = H / stride; with the official stride 1 as many as dense)
  deformable (readable)  DeformableAttention, the lessons' class: same numbers, written as the paper

and measures memory:
  on CUDA: peak ``torch.cuda.max_memory_allocated`` during the step, minus what was allocated
           before it (parameters and the input), in MiB;
  on CPU:  there is no peak-memory counter, so it adds up the bytes of the tensors that autograd
           saves for the backward pass (``torch.autograd.graph.saved_tensors_hooks``), counting each
           storage once and leaving out the parameters (the input counts when a layer saves it):
           the "saved activations" of the layer.
           It is the part of training memory that grows with the map (the attention matrix lives here).

Compare rows of one run, not across runs or machines; the "x dense" column is the CPU-time ratio
to the dense layer of the same size, measured side by side.
On a CPU that other programs keep busy, multi-threaded kernels (grid_sample, indexing) can stall
waiting for a thread that is not scheduled: ``--threads 1`` then gives steadier numbers.
"""

from __future__ import annotations

import argparse
from typing import Callable

import torch
from torch import nn

from dat_edu.attention import MultiHeadSelfAttention
from dat_edu.bench.timing import paired_times, sync
from dat_edu.deformable import DeformableAttention
from dat_edu.fast import FastDeformableAttention
from dat_edu.windows import WindowAttention

__all__ = ["saved_activation_bytes", "auto_window", "run_benchmark", "format_table", "add_arguments", "run"]

MIB = 2**20


def saved_activation_bytes(fn: Callable[[], torch.Tensor], exclude: tuple[torch.Tensor, ...] = ()) -> tuple[torch.Tensor, int]:
    """Run ``fn()`` and count the bytes of the tensors autograd saves for backward.

    Each underlying storage is counted once (views such as a transposed weight or an expanded bias
    share storage with their base), and storages of the tensors in ``exclude`` (pass the module's
    parameters) are not counted. Returns (output of fn, bytes).
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in skip:
            seen[ptr] = storage.nbytes()
        return t  # keep the tensor itself: we only look, autograd works as usual

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


def auto_window(size: int, largest: int = 7) -> int:
    """The largest window <= ``largest`` (7, DAT's window) that divides ``size`` (4 for 8, 16, 32)."""
    return max(w for w in range(1, min(size, largest) + 1) if size % w == 0)


def _step(module: nn.Module, x: torch.Tensor) -> None:
    """One training step's worth of attention work: forward, then backward of a scalar loss."""
    module.zero_grad(set_to_none=True)
    x.grad = None
    module(x).sum().backward()


def _stepper(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    return lambda: _step(module, x)


def _memory(module: nn.Module, x: torch.Tensor) -> tuple[float, float | None]:
    """(saved activations MiB, CUDA peak MiB above the memory allocated before the step, or None)."""
    device = x.device
    module.zero_grad(set_to_none=True)
    x.grad = None
    peak = None
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    y, saved = saved_activation_bytes(lambda: module(x), exclude=tuple(module.parameters()))
    y.sum().backward()
    if device.type == "cuda":
        sync(device)
        peak = (torch.cuda.max_memory_allocated(device) - base) / MIB
    return saved / MIB, peak


def _deformable_row(size: int, dim: int, heads: int, groups: int, stride: int, x: torch.Tensor,
                    cls: type = FastDeformableAttention, name: str = "deformable") -> dict:
    """A deformable candidate for one size: a module and its key count, or a note saying why not."""
    row = {"size": size, "attention": name}
    try:
        m = cls(dim, heads, groups, q_size=(size, size), stride=stride).to(x.device)
    except ValueError as err:
        return {**row, "note": f"skipped: {err}"}
    with torch.no_grad():
        _, pos, _ = m(x, return_positions=True)  # pos: (B, g, Hk, Wk, 2)
    keys = pos.shape[2] * pos.shape[3]
    return {**row, "module": m, "keys_per_query": keys, "note": f"{groups} group(s), stride {stride}"}


def run_benchmark(
    sizes: tuple[int, ...] | list[int] = (8, 16, 32),
    dim: int = 64,
    heads: int = 2,
    batch: int = 2,
    repeats: int = 10,
    warmup: int = 2,
    device: str = "cpu",
    window: int | None = None,
    groups: int = 1,
    stride: int = 1,
    seed: int = 0,
) -> list[dict]:
    """Time and measure dense, window and deformable attention on (batch, dim, s, s) inputs.

    window: None picks :func:`auto_window` per size; a window that does not divide s skips the row.
    groups, stride: passed to DeformableAttention (official: stride 1).

    Returns one dict per (size, attention) with keys ``size``, ``attention`` ("dense", "window",
    "deformable", "deformable (readable)"), ``keys_per_query``, ``cpu_ms`` and ``wall_ms`` (medians
    of fwd+bwd), ``vs_dense`` (CPU time / the dense layer's), ``saved_mib`` (saved activations),
    ``cuda_peak_mib`` (None on CPU), ``params``, ``note``. A skipped row has ``cpu_ms`` None and
    says why in ``note``.
    """
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False: use --device cpu")
    torch.manual_seed(seed)
    rows: list[dict] = []
    for s in sizes:
        x = torch.randn(batch, dim, s, s, device=dev, requires_grad=True)
        candidates = [
            {"size": s, "attention": "dense", "module": MultiHeadSelfAttention(dim, heads),
             "keys_per_query": s * s, "note": ""},
        ]
        w = auto_window(s) if window is None else window
        if s % w == 0:
            candidates.append({"size": s, "attention": "window", "module": WindowAttention(dim, heads, w),
                               "keys_per_query": w * w, "note": f"window {w}"})
        else:
            candidates.append({"size": s, "attention": "window",
                               "note": f"skipped: window {w} does not divide {s}"})
        candidates.append(_deformable_row(s, dim, heads, groups, stride, x))
        candidates.append(_deformable_row(s, dim, heads, groups, stride, x, DeformableAttention,
                                          "deformable (readable)"))

        size_rows, modules = [], []
        for c in candidates:
            m = c.pop("module", None)
            row = {"keys_per_query": None, "cpu_ms": None, "wall_ms": None, "vs_dense": None,
                   "saved_mib": None, "cuda_peak_mib": None, "params": None, **c}
            if m is not None:
                m = m.to(dev).train()
                row["params"] = sum(p.numel() for p in m.parameters())
                modules.append((row, m))
            size_rows.append(row)
        # memory first, one module at a time (the hooks would slow the timed runs down)
        for row, m in modules:
            row["saved_mib"], row["cuda_peak_mib"] = _memory(m, x)
        timings = paired_times([_stepper(m, x) for _, m in modules], repeats, warmup, device=dev)
        for (row, _), t in zip(modules, timings):
            row["cpu_ms"], row["wall_ms"] = t.cpu_ms, t.wall_ms
        dense = size_rows[0]["cpu_ms"]
        for row in size_rows:
            if row["cpu_ms"] is not None:
                row["vs_dense"] = row["cpu_ms"] / dense
        rows.extend(size_rows)
    return rows


def format_table(rows: list[dict]) -> str:
    """Render the rows of :func:`run_benchmark` as a fixed-width text table."""
    cuda = any(r["cuda_peak_mib"] is not None for r in rows)
    head = ["size", "attention", "keys/query", "CPU ms", "wall ms", "x dense (CPU)", "saved activations MiB"]
    if cuda:
        head.append("CUDA peak MiB")
    head += ["params", "note"]
    lines = []

    def num(v, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for r in rows:
        cells = [f"{r['size']}x{r['size']}", r["attention"], num(r["keys_per_query"], "d"),
                 num(r["cpu_ms"], ".2f"), num(r["wall_ms"], ".2f"), num(r["vs_dense"], ".2f"),
                 num(r["saved_mib"], ".2f")]
        if cuda:
            cells.append(num(r["cuda_peak_mib"], ".2f"))
        cells += [num(r["params"], "d"), r["note"]]
        lines.append(cells)
    widths = [max([len(h)] + [len(c[i]) for c in lines]) for i, h in enumerate(head)]

    def fmt_row(cells: list[str]) -> str:  # right-align numbers, leave the last (note) column ragged
        return "  ".join(c.rjust(wd) if i < len(cells) - 1 else c
                         for i, (c, wd) in enumerate(zip(cells, widths))).rstrip()

    out = [fmt_row(head), fmt_row(["-" * wd for wd in widths])]
    out += [fmt_row(c) for c in lines]
    return "\n".join(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the attention sweep (also used by ``python -m dat_edu.bench`` without a command)."""
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32], help="feature-map sizes H = W")
    parser.add_argument("--dim", type=int, default=64, help="channels C")
    parser.add_argument("--heads", type=int, default=2, help="attention heads")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10, help="timed runs (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--window", type=int, default=None, help="window size (default: largest <= 7 dividing the size)")
    parser.add_argument("--groups", type=int, default=1, help="offset groups of deformable attention")
    parser.add_argument("--stride", type=int, default=1, help="key-grid stride of deformable attention")


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[dict]:
    """Run the sweep for parsed ``args``, print its table, return its rows."""
    if min(args.sizes) < 1 or args.repeats < 1 or args.warmup < 0 or args.batch < 1:
        parser.error("sizes, repeats and batch must be positive and warmup >= 0")
    try:
        rows = run_benchmark(args.sizes, args.dim, args.heads, args.batch, args.repeats, args.warmup,
                             args.device, args.window, args.groups, args.stride)
    except ValueError as err:
        parser.error(str(err))
    threads = f", {torch.get_num_threads()} CPU thread(s)" if args.device == "cpu" else ""
    print(f"attention fwd+bwd: batch {args.batch}, dim {args.dim}, heads {args.heads}, device {args.device}"
          f"{threads}; medians of {args.repeats} paired runs after {args.warmup} warm-up")
    if args.device == "cpu":
        print("memory: saved activations = bytes autograd keeps for backward (no peak counter on CPU)")
    else:
        print("memory: CUDA peak = max_memory_allocated during the step above what was allocated before it")
    print(format_table(rows))
    return rows
