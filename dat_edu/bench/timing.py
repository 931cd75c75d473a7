"""Paired timing: CPU time and wall time of several candidates measured side by side.

On a machine that other programs share, one wall-clock run says little: a candidate that happened
to run while another process held the core looks slow. :func:`paired_times` therefore lets the
candidates take turns (round robin), many times, and reports for each the median of the
process's CPU time (``time.process_time``: the time this process ran, not the time it waited)
and the median wall time. A speed claim is the ratio of two medians from the same run.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

__all__ = ["Timing", "paired_times", "sync"]


def sync(device: torch.device | str) -> None:
    """Wait for queued GPU work (CUDA kernels run asynchronously); nothing on a CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    """Medians over ``repeats`` runs, in milliseconds."""

    cpu_ms: float
    wall_ms: float
    repeats: int

    def ratio_to(self, other: "Timing") -> tuple[float, float]:
        """(cpu, wall) speed-up of self over other: other's time / self's time."""
        return other.cpu_ms / self.cpu_ms, other.wall_ms / self.wall_ms


def paired_times(fns: Sequence[Callable[[], object]], repeats: int = 10, warmup: int = 2,
                 device: torch.device | str = "cpu") -> list[Timing]:
    """Time every ``fn()`` ``repeats`` times, in turns, after ``warmup`` untimed turns.

    On CUDA the wall time waits for the GPU (the CPU time then mostly measures launching).
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    cpu: list[list[float]] = [[] for _ in fns]
    wall: list[list[float]] = [[] for _ in fns]
    for _ in range(max(1, repeats)):
        for i, fn in enumerate(fns):
            sync(device)
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            sync(device)
            cpu[i].append((time.process_time() - c0) * 1e3)
            wall[i].append((time.perf_counter() - w0) * 1e3)
    return [Timing(statistics.median(c), statistics.median(w), max(1, repeats)) for c, w in zip(cpu, wall)]
