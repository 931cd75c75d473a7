"""Benchmark: where a deformable block's training step goes, part by part, at DAT-T's stage settings.

    python -m dat_edu.bench parts [--official PATH] [--stages stage3 stage4] [--parts-repeats 15]

The fast block (what dat_edu's DAT builds) is taken apart into the pieces its forward runs, each
timed forward + backward on the shapes and values the block itself produces, in turns with the
whole block (and with the official block when PATH is given) so that one run compares them:

  4 projections          q, k, v and the output: four (B*N, C) x (C, C) matrix products
  offset network         depthwise conv, LayerNorm, GELU, 1x1 conv -> (Δy, Δx) per key
  feature sampling       grid_sample of the groups' features at the keys' positions
  bias lookup forward    grid_sample of the relative-position table at every (query, key) pair
  bias lookup backward   its backward, as the block runs it: the table's and the grid's gradients
    grid gradient only   the same backward without the table's gradient (the scatter into the table)
  attention              scores written into the bias, softmax, weighted sum, and their backward
                         (timed with a copy of the bias, which the block does not make)

With the official block it prints the ceiling that the projections set: the two codes run the same
matrix products (PyTorch's ``F.linear`` and ``F.conv2d`` 1x1, both MKL), so even a block whose other
parts cost nothing would be (official time) / (projection time) faster.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from dat_edu.bench.blocks import STAGES, add_stage_arguments
from dat_edu.bench.table import cell, text_table
from dat_edu.bench.timing import paired_times
from dat_edu.fast import FastDeformableAttention
from dat_edu.fast.attend import attend_into_bias
from dat_edu.fast.deformable import _bias_grid, _heads, _offsets, _positions
from dat_edu.fast.linear import linear
from dat_edu.sampling import sample_features

__all__ = ["PartRow", "block_parts", "run_parts", "format_parts", "ceilings", "add_arguments", "run"]


@dataclass
class PartRow:
    stage: str
    part: str
    cpu_ms: float
    wall_ms: float
    share: float | None = None  # CPU time / the fast block's


def _backward(out: torch.Tensor) -> None:
    out.backward(torch.ones_like(out))


def block_parts(m: FastDeformableAttention, x: torch.Tensor) -> dict[str, Callable[[], None]]:
    """Each part of ``m``'s training step on input x (B, C, H, W), by name: forward + backward, except
    the bias lookup, whose forward and backward are timed apart (see the module docstring).

    Every part starts from the intermediate values the block computes for ``x`` (detached leaves
    that want a gradient), so that the parts run on the shapes and numbers of the real step.
    """
    B, C, H, W = x.shape
    g, nh = m.num_groups, m.num_heads
    tokens = x.flatten(2).transpose(1, 2).contiguous()  # (B, N, C)
    with torch.no_grad():
        q = linear(tokens, m.proj_q.weight.view(C, C), m.proj_q.bias)
        pos, _ = _positions(m, q, H, W)  # (B*g, Hk, Wk, 2)
        grid = _bias_grid(m, pos, H, W)  # (B*g, N, Ns, 2)
        table = m.rpe_table
        tables = table.view(1, g, -1, *table.shape[1:]).expand(B, -1, -1, -1, -1).reshape(B * g, -1, *table.shape[1:])
        bias = F.grid_sample(tables, grid, align_corners=True)  # (B*g, hg, N, Ns)
        x_groups = x.detach().reshape(B * g, C // g, H, W)
        sampled = sample_features(x_groups, pos, m.align_corners)  # (B*g, Cg, Hk, Wk)
        sampled = sampled.reshape(B, C, -1).transpose(1, 2).contiguous()  # (B, Ns, C)
        k = linear(sampled, m.proj_k.weight.view(C, C), m.proj_k.bias)
        v = linear(sampled, m.proj_v.weight.view(C, C), m.proj_v.bias)
    leaf = lambda t: t.detach().clone().requires_grad_()  # noqa: E731
    # the output projection's input has the shape of the tokens
    projections = [(m.proj_q, tokens), (m.proj_k, sampled), (m.proj_v, sampled), (m.proj_out, tokens)]
    grad_bias = torch.randn_like(bias)
    q_heads, k_heads, v_heads, bias_leaf = (leaf(t) for t in (_heads(q, nh), _heads(k, nh), _heads(v, nh), bias))

    def whole():
        m.zero_grad(set_to_none=True)
        _backward(m(leaf(x)))

    def proj():
        for layer, t in projections:
            _backward(linear(leaf(t), layer.weight.view(C, C), layer.bias))

    def bias_backward(table_grad: bool) -> Callable[[], None]:
        return lambda: torch.ops.aten.grid_sampler_2d_backward(grad_bias, tables, grid, 0, 0, True, [table_grad, True])

    return {
        "whole block": whole,
        "4 projections": proj,
        "offset network": lambda: _backward(_offsets(m, leaf(q), H, W)),
        "feature sampling": lambda: _backward(sample_features(leaf(x_groups), leaf(pos), m.align_corners)),
        "bias lookup forward": lambda: torch.grid_sampler_2d(tables, grid, 0, 0, True),
        "bias lookup backward": bias_backward(True),
        "  grid gradient only": bias_backward(False),
        # the bias is overwritten: a copy of a leaf each time (the block overwrites grid_sample's output)
        "attention": lambda: _backward(attend_into_bias(q_heads, k_heads, v_heads, bias_leaf.clone(), m.scale)),
    }


def run_parts(stages=("stage3", "stage4"), batch: int = 8, repeats: int = 15, warmup: int = 2,
              official: str | None = None, seed: int = 0,
              settings: dict[str, tuple[int, int, int, int, int]] | None = None) -> list[PartRow]:
    """Time the parts of the fast block at each stage (and the official block); see the module docstring."""
    rows: list[PartRow] = []
    for stage, (dim, heads, groups, size, stage_idx) in (settings or {s: STAGES[s] for s in stages}).items():
        torch.manual_seed(seed)
        m = FastDeformableAttention(dim, heads, groups, size, stage_idx=stage_idx)
        x = torch.randn(batch, dim, size, size, generator=torch.Generator().manual_seed(seed + 1))
        first = {}
        if official is not None:
            from dat_edu.bench.official import official_dattention
            from dat_edu.weights import load_official_state_dict

            ref = official_dattention(official, dim, heads, groups, size, stage_idx)
            load_official_state_dict(m, ref.state_dict())
            xo = x.clone().requires_grad_()

            def official_step(ref=ref, xo=xo):
                ref.zero_grad(set_to_none=True)
                _backward(ref(xo)[0])

            first["official block"] = official_step
        parts = {**first, **block_parts(m, x)}
        times = paired_times(list(parts.values()), repeats, warmup)
        block = times[list(parts).index("whole block")].cpu_ms
        rows += [PartRow(stage, name, t.cpu_ms, t.wall_ms, t.cpu_ms / block) for name, t in zip(parts, times)]
    return rows


def format_parts(rows: list[PartRow]) -> str:
    head = ["stage", "part (forward + backward)", "CPU ms", "wall ms", "of the fast block"]
    lines = [[r.stage, r.part, cell(r.cpu_ms, ".1f"), cell(r.wall_ms, ".1f"),
              "-" if r.share is None else f"{100 * r.share:.0f}%"] for r in rows]
    return text_table(head, lines, left=(0, 1))


def ceilings(rows: list[PartRow]) -> list[str]:
    """One line per stage with an official block: the speed-up the projections leave room for."""
    out = []
    for stage in dict.fromkeys(r.stage for r in rows):
        t = {r.part: r.cpu_ms for r in rows if r.stage == stage}
        if "official block" in t:
            out.append(f"{stage}: fast block {t['official block'] / t['whole block']:.2f}x the official; "
                       f"the projections alone take {t['4 projections']:.1f} ms, so no block that runs them "
                       f"can be more than {t['official block'] / t['4 projections']:.2f}x faster "
                       f"(1.5x needs the whole step within {t['official block'] / 1.5:.1f} ms)")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stage_arguments(parser, "parts", repeats=15)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[PartRow]:
    from dat_edu.bench.official import run_against_official

    if args.parts_batch < 1 or args.parts_repeats < 1:
        parser.error("--parts-batch and --parts-repeats must be >= 1")
    if args.device != "cpu":
        parser.error("the parts table is a CPU benchmark: use --device cpu")
    rows, _ = run_against_official(parser, args.official, run_parts, stages=args.stages,
                                   batch=args.parts_batch, repeats=args.parts_repeats)
    print(f"the fast deformable block's training step by part, DAT-T stage settings: batch {args.parts_batch}, "
          f"float32, {torch.get_num_threads()} CPU thread(s); medians of {args.parts_repeats} paired runs")
    print(format_parts(rows))
    for line in ceilings(rows):
        print(line)
    return rows
