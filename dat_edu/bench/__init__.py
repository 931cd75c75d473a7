"""Benchmarks, each printing a side-by-side table with the command that made it.

    python -m dat_edu.bench [--official PATH]   the deformable block at DAT-T settings (paired with
                                                the official block when PATH is given), then the
                                                attention sweep: dense, window, deformable
    python -m dat_edu.bench blocks [--official PATH]     only the block table
    python -m dat_edu.bench attention [--sizes 8 16 32]  only the sweep
    python -m dat_edu.bench model [--official PATH]      DAT-T, inference and a training step
    python -m dat_edu.bench parts [--official PATH]      the block's training step, part by part
    python -m dat_edu.bench.tta                          time to accuracy on Fashion-MNIST:
                                                         the small DAT, a CNN, the window-only DAT
    python -m dat_edu.bench.gpu                          one-shot GPU measurement

CPU times are the process's CPU time (``time.process_time``), medians of runs that take turns
(:mod:`dat_edu.bench.timing`); wall times are printed next to them. ``--threads 1`` (the
default here) measures one core, which is what a shared machine can promise.

The official code is never part of this package: ``--official`` reads it from your clone of
https://github.com/LeapLabTHU/DAT at the v1 commit 566a593 (:mod:`dat_edu.bench.official`).
"""

from dat_edu.bench.attention import auto_window, format_table, run_benchmark, saved_activation_bytes
from dat_edu.bench.cli import main
from dat_edu.bench.timing import Timing, paired_times

__all__ = ["main", "paired_times", "Timing", "run_benchmark", "format_table", "auto_window",
           "saved_activation_bytes"]
