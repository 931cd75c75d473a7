"""Benchmark: DAT-T (224x224, float32) inference and a training step, paired with the official model.

    python -m dat_edu.bench model [--official PATH] [--model-batch 4] [--model-repeats 5]

Candidates, holding the same weights (random, or the official model's when PATH is given):

  official   the official v1 DAT (configs/dat_tiny.yaml), only with --official PATH
  readable   dat_edu.model.dat_tiny(fast=False): the lessons' classes
  fast       dat_edu.model.dat_tiny(): dat_edu.fast blocks on channels-last memory (the default)

"inference" is a forward pass under ``torch.no_grad`` (where :func:`dat_edu.fast.linear` uses
oneDNN's fused Linear+GELU); "training" is forward + backward of a cross-entropy loss, where
every layer must keep what its backward needs. Medians of CPU and wall time over paired runs.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from dat_edu.bench.table import add_official_argument, text_table
from dat_edu.bench.timing import paired_times

__all__ = ["run_model", "format_model", "add_arguments", "run"]


def _logits(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    y = m(x)
    return y[0] if isinstance(y, tuple) else y  # the official DAT returns (logits, pos, ref)


def run_model(batch: int = 4, repeats: int = 5, warmup: int = 1, official: str | None = None,
              train_batch: int = 2, seed: int = 0, factory=None, device: str = "cpu") -> list[dict]:
    """The table's rows. ``factory(fast=...)``: another dat_edu model than DAT-T (tests); the
    official candidate is always DAT-T."""
    from dat_edu.model import dat_tiny

    factory = factory or dat_tiny
    torch.manual_seed(seed)
    cands: dict[str, nn.Module] = {}
    readable = factory(fast=False)
    if official is not None:
        from dat_edu.bench.official import official_dat_tiny
        from dat_edu.weights import load_official_state_dict

        cands["official"] = official_dat_tiny(official)
        load_official_state_dict(readable, cands["official"].state_dict())
    cands["readable"] = readable
    cands["fast"] = factory()
    cands["fast"].load_state_dict(readable.state_dict())
    dev = torch.device(device)
    for m in cands.values():
        m.to(dev).eval()  # inference, and no drop path in the training step: same work for every candidate
    gen = torch.Generator().manual_seed(seed + 1)
    c, (h, w), k = readable.in_chans, readable.img_size, readable.num_classes
    x = torch.randn(batch, c, h, w, generator=gen).to(dev)
    xt = torch.randn(train_batch, c, h, w, generator=gen).to(dev)
    yt = torch.randint(0, k, (train_batch,), generator=gen).to(dev)

    def infer(m):
        def f():
            with torch.no_grad():
                _logits(m, x)
        return f

    def train(m):
        def f():
            m.zero_grad(set_to_none=True)
            F.cross_entropy(_logits(m, xt), yt).backward()
        return f

    with torch.no_grad():
        ref_name = "official" if official is not None else "readable"
        ref = _logits(cands[ref_name], x)
        diffs = {n: (_logits(m, x) - ref).abs().max().item() for n, m in cands.items()}
    ms = list(cands.values())
    t_inf = paired_times([infer(m) for m in ms], repeats, warmup, device=dev)
    t_train = paired_times([train(m) for m in ms], max(1, repeats // 2), warmup, device=dev)
    ref_i = list(cands).index(ref_name)
    rows = []
    for i, name in enumerate(cands):
        rows.append({
            "model": name, "infer_cpu_ms_per_img": t_inf[i].cpu_ms / batch,
            "infer_wall_ms_per_img": t_inf[i].wall_ms / batch, "infer_speedup": t_inf[ref_i].cpu_ms / t_inf[i].cpu_ms,
            "train_cpu_ms_per_img": t_train[i].cpu_ms / train_batch,
            "train_wall_ms_per_img": t_train[i].wall_ms / train_batch,
            "train_speedup": t_train[ref_i].cpu_ms / t_train[i].cpu_ms, "max_diff_logits": diffs[name],
        })
    return rows


def format_model(rows: list[dict], reference: str) -> str:
    head = ["DAT-T", "inference CPU ms/img", "wall ms/img", f"x {reference}", "training CPU ms/img",
            "wall ms/img", f"x {reference}", "max |diff| logits"]
    lines = [[r["model"], f"{r['infer_cpu_ms_per_img']:.1f}", f"{r['infer_wall_ms_per_img']:.1f}",
              f"{r['infer_speedup']:.2f}", f"{r['train_cpu_ms_per_img']:.1f}", f"{r['train_wall_ms_per_img']:.1f}",
              f"{r['train_speedup']:.2f}", f"{r['max_diff_logits']:.1e}"] for r in rows]
    return text_table(head, lines, left=())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_official_argument(parser)
    parser.add_argument("--model-batch", dest="model_batch", type=int, default=4, help="images per inference pass")
    parser.add_argument("--train-batch", dest="train_batch", type=int, default=2, help="images per training step")
    parser.add_argument("--model-repeats", dest="model_repeats", type=int, default=5,
                        help="timed inference runs (training: half as many)")


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[dict]:
    from dat_edu.bench.official import run_against_official

    if min(args.model_batch, args.train_batch, args.model_repeats) < 1:
        parser.error("--model-batch, --train-batch and --model-repeats must be >= 1")
    rows, reference = run_against_official(parser, args.official, run_model, batch=args.model_batch,
                                           repeats=args.model_repeats, train_batch=args.train_batch,
                                           device=args.device)
    on = "" if args.device == "cpu" else f" on {args.device}"
    print(f"DAT-T 224x224 float32{on}, {torch.get_num_threads()} CPU thread(s): inference batch {args.model_batch} "
          f"(medians of {args.model_repeats}), training step batch {args.train_batch} "
          f"(medians of {max(1, args.model_repeats // 2)}); 'x {reference}' = CPU-time speed-up")
    print(format_model(rows, reference))
    return rows
