"""Benchmark the grader on a synthetic class (not a test): wall time and CPU time per notebook.

Usage::

    python -m dat_edu.course.gradebench [--learners 30] [--jobs 2] [--rounds 1] [--old DIR]

Learner i submits every exercise of ``solutions/``: the solution itself for even i, the untouched
exercise for odd i (so half the parts pass and half fail at their first check). With ``--old DIR``
(a folder holding another ``dat_edu`` package, e.g. today's library with the grader before the
sandbox: ``cp -r dat_edu DIR/ && rm -r DIR/dat_edu/course && git archive cee8b92 dat_edu/course |
tar -x -C DIR``) each round also grades the same class with that version, alternately, so both see
the same machine. CPU time counts the grader and everything it starts (judges, sandboxes, kernels); the
load average is printed because wall time on a shared machine means little.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dat_edu.course import grade
from dat_edu.course.exercises import solution_notebooks


def build_class(root: Path, solutions: Path, exercises: Path, learners: int) -> int:
    n = 0
    for i in range(learners):
        folder = root / f"learner{i:02d}"
        folder.mkdir(parents=True)
        for sol in solution_notebooks(solutions):
            src = sol if i % 2 == 0 else exercises / sol.name
            shutil.copy(src, folder / sol.name)
            n += 1
    return n


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_new(subs: Path, solutions: Path, jobs: int) -> tuple[float, float, dict]:
    own0, kids0, t0 = time.process_time(), _children_cpu(), time.monotonic()
    result = grade.grade(subs, solutions, grade.Options(jobs=jobs))
    wall = time.monotonic() - t0
    cpu = time.process_time() - own0 + _children_cpu() - kids0 + sum(result.cpu.values())
    return wall, cpu, result.cpu


def run_old(subs: Path, solutions: Path, jobs: int, old: Path, out: Path) -> tuple[float, float]:
    kids0, t0 = _children_cpu(), time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(old))
    cmd = [sys.executable, "-m", "dat_edu.course.grade", str(subs), "--solutions", str(solutions), "--out", str(out),
           "--jobs", str(jobs), "--quiet"]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    return time.monotonic() - t0, _children_cpu() - kids0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dat_edu.course.gradebench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--learners", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--solutions", type=Path, default=Path("solutions"))
    ap.add_argument("--exercises", type=Path, default=Path("exercises"))
    ap.add_argument("--old", type=Path, default=None, help="folder with an older dat_edu package to compare with")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gradebench_") as tmp:
        subs = Path(tmp) / "class"
        n = build_class(subs, args.solutions.resolve(), args.exercises.resolve(), args.learners)
        print(f"class: {args.learners} learners x {n // args.learners} exercises = {n} notebooks, --jobs {args.jobs}; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        new, old = [], []
        for r in range(args.rounds):
            wall, cpu, parts = run_new(subs, args.solutions.resolve(), args.jobs)
            new.append((wall, cpu))
            split = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(parts.items()))
            print(f"round {r + 1} new: wall {wall:.0f} s ({wall / n:.2f} s per notebook), CPU {cpu:.0f} s "
                  f"({cpu / n:.2f} s per notebook; {split})", flush=True)
            if args.old:
                wall, cpu = run_old(subs, args.solutions.resolve(), args.jobs, args.old.resolve(), Path(tmp) / "old.csv")
                old.append((wall, cpu))
                print(f"round {r + 1} old: wall {wall:.0f} s ({wall / n:.2f} s per notebook), CPU {cpu:.0f} s "
                      f"({cpu / n:.2f} s per notebook)", flush=True)
        med = lambda xs, i: statistics.median(x[i] for x in xs) / n  # noqa: E731
        line = f"median per notebook: new {med(new, 1):.2f} s CPU, {med(new, 0):.2f} s wall"
        if old:
            line += f"; old {med(old, 1):.2f} s CPU, {med(old, 0):.2f} s wall; CPU ratio new/old {med(new, 1) / med(old, 1):.2f}"
        print(line + f"; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
