"""Benchmark: one deformable block at DAT-T's stage settings, paired against the official block.

    python -m dat_edu.bench blocks [--official PATH] [--batch 8] [--repeats 10] [--threads 1]

Settings (DAT-T at 224x224): stage 3 = 14x14 map, 384 channels, 12 heads, 3 groups, offset
kernel 5; stage 4 = 7x7, 768 channels, 24 heads, 6 groups, kernel 3. Candidates, all holding the
same weights:

  official             DAttentionBaseline of the official v1 code (only with --official PATH)
  readable             dat_edu.deformable.DeformableAttention, the lessons' class
  fast                 dat_edu.fast.FastDeformableAttention, what dat_edu's DAT builds
  fast, corrected      the same with coords="corrected" (other numbers by design: not compared)

Each is timed forward + backward (a fixed random upstream gradient; input and parameters get
gradients) and forward only (no_grad), in turns, as medians of CPU time and wall time (see
:mod:`dat_edu.bench.timing`). The "max |diff|" columns compare output and every gradient with the
reference (official if given, else readable), as the largest absolute difference relative to
the tensor's largest entry (where that exceeds 1).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import nn

from dat_edu.bench.table import add_official_argument, cell, text_table
from dat_edu.bench.timing import paired_times
from dat_edu.deformable import DeformableAttention
from dat_edu.fast import FastDeformableAttention

__all__ = ["STAGES", "BlockRow", "run_blocks", "format_blocks", "add_stage_arguments", "add_arguments", "run"]

# name -> (channels, heads, groups, map size, stage index) of DAT-T
STAGES = {"stage3": (384, 12, 3, 14, 2), "stage4": (768, 24, 6, 7, 3)}


@dataclass
class BlockRow:
    stage: str
    candidate: str
    fwd_bwd_cpu_ms: float
    fwd_bwd_wall_ms: float
    fwd_cpu_ms: float
    fwd_wall_ms: float
    speedup_cpu: float | None = None  # fwd+bwd CPU time of the reference / this one
    fwd_speedup_cpu: float | None = None
    speedup_wall: float | None = None
    max_diff_out: float | None = None
    max_diff_grad: float | None = None


def _normwise(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item() / max(1.0, b.abs().max().item())


def _outputs(m: nn.Module, x: torch.Tensor, g: torch.Tensor, names: dict[str, str] | None = None):
    """(output, grad of x, {dat_edu parameter name: grad}); ``names`` maps official names to ours."""
    x = x.detach().clone().requires_grad_()
    y = m(x)
    y = y[0] if isinstance(y, tuple) else y  # the official block returns (y, pos, ref)
    named = list(m.named_parameters())
    grads = torch.autograd.grad(y, [x, *(p for _, p in named)], g)
    keys = [names[n] if names else n for n, _ in named]
    return y, grads[0], dict(zip(keys, grads[1:]))


def _diffs(outs, ref) -> tuple[float, float]:
    grads = [_normwise(outs[1], ref[1])] + [_normwise(outs[2][k], ref[2][k]) for k in ref[2]]
    return _normwise(outs[0], ref[0]), max(grads)


def run_blocks(stages=("stage3", "stage4"), batch: int = 8, repeats: int = 10, warmup: int = 2,
               official: str | None = None, seed: int = 0, device: str = "cpu",
               settings: dict[str, tuple[int, int, int, int, int]] | None = None) -> list[BlockRow]:
    """Time the candidates at each DAT-T stage; see the module docstring.

    ``settings``: other (channels, heads, groups, size, stage index) by name, instead of ``stages``.
    """
    rows: list[BlockRow] = []
    settings = settings or {s: STAGES[s] for s in stages}
    dev = torch.device(device)
    for stage, (dim, heads, groups, size, stage_idx) in settings.items():
        torch.manual_seed(seed)
        readable = DeformableAttention(dim, heads, groups, size, stage_idx=stage_idx)
        cands: dict[str, nn.Module] = {}
        names = None
        if official is not None:
            from dat_edu.bench.official import official_dattention
            from dat_edu.weights import load_official_state_dict, official_key_map

            cands["official"] = official_dattention(official, dim, heads, groups, size, stage_idx)
            load_official_state_dict(readable, cands["official"].state_dict())
            names = official_key_map(readable)  # official name -> dat_edu name
        cands["readable"] = readable
        for name, coords in (("fast", "official"), ("fast, corrected", "corrected")):
            cands[name] = FastDeformableAttention(dim, heads, groups, size, stage_idx=stage_idx, coords=coords)
            cands[name].load_state_dict(readable.state_dict())
        cands = {name: m.to(dev) for name, m in cands.items()}
        x = torch.randn(batch, dim, size, size, generator=torch.Generator().manual_seed(seed + 1)).to(dev)
        g = torch.randn(batch, dim, size, size, generator=torch.Generator().manual_seed(seed + 2)).to(dev)
        xg = x.clone().requires_grad_()

        def step(m: nn.Module):
            def f():
                m.zero_grad(set_to_none=True)
                xg.grad = None
                y = m(xg)
                (y[0] if isinstance(y, tuple) else y).backward(g)
            return f

        def forward(m: nn.Module):
            def f():
                with torch.no_grad():
                    m(x)
            return f

        ms = list(cands.values())
        both = paired_times([step(m) for m in ms] + [forward(m) for m in ms], repeats, warmup, device=dev)
        train, infer = both[: len(ms)], both[len(ms):]
        ref_name = "official" if official is not None else "readable"
        ref_i = list(cands).index(ref_name)
        ref = _outputs(cands[ref_name], x, g, names if official is not None else None)
        for i, (name, m) in enumerate(cands.items()):
            row = BlockRow(stage, name, train[i].cpu_ms, train[i].wall_ms, infer[i].cpu_ms, infer[i].wall_ms,
                           speedup_cpu=train[ref_i].cpu_ms / train[i].cpu_ms,
                           fwd_speedup_cpu=infer[ref_i].cpu_ms / infer[i].cpu_ms,
                           speedup_wall=train[ref_i].wall_ms / train[i].wall_ms)
            if name != "fast, corrected":  # other numbers by design
                outs = _outputs(m, x, g, names if name == "official" else None)
                row.max_diff_out, row.max_diff_grad = _diffs(outs, ref)
            rows.append(row)
    return rows


def format_blocks(rows: list[BlockRow], reference: str) -> str:
    head = ["stage", "block", "fwd+bwd CPU ms", "wall ms", f"x {reference}", "fwd CPU ms", "wall ms",
            f"x {reference}", "max |diff| out", "max |diff| grads"]
    lines = [[r.stage, r.candidate, cell(r.fwd_bwd_cpu_ms, ".1f"), cell(r.fwd_bwd_wall_ms, ".1f"),
              cell(r.speedup_cpu, ".2f"), cell(r.fwd_cpu_ms, ".1f"), cell(r.fwd_wall_ms, ".1f"),
              cell(r.fwd_speedup_cpu, ".2f"), cell(r.max_diff_out, ".1e"), cell(r.max_diff_grad, ".1e")]
             for r in rows]
    return text_table(head, lines, left=())


def add_stage_arguments(parser: argparse.ArgumentParser, prefix: str, repeats: int) -> None:
    """--official, --stages, --PREFIX-batch and --PREFIX-repeats (the block and parts tables)."""
    add_official_argument(parser)
    parser.add_argument("--stages", nargs="+", choices=sorted(STAGES), default=sorted(STAGES))
    parser.add_argument(f"--{prefix}-batch", dest=f"{prefix}_batch", type=int, default=8, help="images per step")
    parser.add_argument(f"--{prefix}-repeats", dest=f"{prefix}_repeats", type=int, default=repeats,
                        help="timed runs per candidate (medians reported)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stage_arguments(parser, "block", repeats=10)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[BlockRow]:
    from dat_edu.bench.official import run_against_official

    if args.block_batch < 1 or args.block_repeats < 1:
        parser.error("--block-batch and --block-repeats must be >= 1")
    rows, reference = run_against_official(parser, args.official, run_blocks, stages=args.stages,
                                           batch=args.block_batch, repeats=args.block_repeats,
                                           device=args.device)
    on = "" if args.device == "cpu" else f" on {args.device}"
    print(f"deformable block, DAT-T stage settings{on}: batch {args.block_batch}, float32, "
          f"{torch.get_num_threads()} CPU thread(s); medians of {args.block_repeats} paired runs; "
          f"'x {reference}' = CPU-time speed-up")
    print(format_blocks(rows, reference))
    return rows
