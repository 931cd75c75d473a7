"""A tiny exercise (no torch, so that its sandboxes start in a fraction of a second) and helpers to
build submissions of it, for the grading tests.

Parts: 1 ``add`` (2 points, a hidden test whose message carries :data:`HIDDEN_MARK`), 2 ``double``,
3 ``mean`` without ``statistics.mean`` / ``statistics.fmean`` (a "do not use" part).
"""
from __future__ import annotations

import csv
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dat_edu.course import exercises as gen

KS = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
HIDDEN_MARK = "hidden-7f3a"
IMPORT = "import statistics\nfrom dat_edu.course.checks import part, check, forbid_calls"
ADD = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n"
DOUBLE = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
MEAN = "def mean(xs):\n    ### BEGIN SOLUTION\n    return sum(xs) / len(xs)\n    ### END SOLUTION\n"
CHECK1 = (
    "with part(1, 'add'):\n"
    "    check(None, add(1, 2) == 3, 'add(1, 2) is wrong')\n"
    "    ### BEGIN HIDDEN TESTS\n"
    f"    check(None, add(-1, 1) == 0, '{HIDDEN_MARK}: add is wrong for negative numbers')\n"
    "    ### END HIDDEN TESTS\n"
)
CHECK2 = "with part(2, 'double'):\n    check(None, double(2) == 4, 'double(2) is wrong')\n"
CHECK3 = (
    "with part(3, 'mean'):\n"
    "    m = forbid_calls(mean, 'statistics.mean', 'statistics.fmean', args=([1, 2, 3, 6],))\n"
    "    check(None, m == 3, 'mean([1, 2, 3, 6]) is wrong')\n"
)
# positions of the cells in the exercise
ADD_AT, CHECK1_AT, DOUBLE_AT, CHECK2_AT, MEAN_AT, CHECK3_AT = 3, 4, 6, 7, 9, 10


def solution_nb():
    cells = [
        new_markdown_cell("# 01 Tiny exercise"),
        new_code_cell(IMPORT),
        new_markdown_cell("## Part 1: add"),
        new_code_cell(ADD),
        new_code_cell(CHECK1, metadata={"tags": ["check:part1"], "dat_edu": {"points": 2, "uses": ["add"]}}),
        new_markdown_cell("## Part 2: double"),
        new_code_cell(DOUBLE),
        new_code_cell(CHECK2, metadata={"tags": ["check:part2"], "dat_edu": {"uses": ["double"]}}),
        new_markdown_cell("## Part 3: mean, without the statistics module"),
        new_code_cell(MEAN),
        new_code_cell(CHECK3, metadata={"tags": ["check:part3"], "dat_edu": {"uses": ["mean"]}}),
        new_markdown_cell("## Summary"),
    ]
    for i, c in enumerate(cells):
        c.id = f"cell{i}"
    return new_notebook(cells=cells, metadata={"kernelspec": KS})


def exercise_nb():
    return gen.make_exercise(solution_nb(), "01_tiny")[0]


def spec():
    return gen.make_exercise(solution_nb(), "01_tiny")[1]


def filled(add="return a + b", double="return 2 * x", mean="return sum(xs) / len(xs)"):
    nb = exercise_nb()
    nb.cells[ADD_AT].source = f"def add(a, b):\n    {add}\n"
    nb.cells[DOUBLE_AT].source = f"def double(x):\n    {double}\n"
    nb.cells[MEAN_AT].source = f"def mean(xs):\n    {mean}\n"
    return nb


def save(folder: Path, name: str, nb) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


def write_solutions(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(solution_nb(), folder / "01_tiny.ipynb")
    return folder


def snapshot(root: Path) -> dict:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def read_rows(out: Path) -> dict:
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {"rows": rows, "by": {(r["learner"], r["part"]): r for r in rows}}
