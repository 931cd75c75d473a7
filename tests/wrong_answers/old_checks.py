"""Show that the gap-closing wrong answers passed the checks as they were before they were closed.

Each ``tests/wrong_answers/exNN_name.py`` may list ``PASSED_OLD = [(old_part, description, code),
...]``: wrong answers that the visible check of ``old_part`` (in the solution notebook at an older
git revision) let through. ``code`` replaces the body of that part's solution region in the *old*
notebook (its signature may differ from today's). The same ``description`` must appear in today's
``WRONG`` table, where tests/test_wrong_answers.py proves that the new check rejects it.

    python -m tests.wrong_answers.old_checks REVISION [EXERCISE ...]

runs every listed wrong answer against the old exercise (visible checks, as a learner's
``pytest --nbval`` sees them) once for each of ``SEEDS`` random states (a check that draws random
inputs may catch a mistake in one draw and miss it in another) and prints how many draws let it
pass; it exits 1 if one of them passes no draw (then it is not a demonstration of a gap) or is
missing from ``WRONG``.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from dat_edu.course import exercises as gen
from dat_edu.course.execute import kernel_env
from tests.test_wrong_answers import check_cells, error_of, solution_regions, with_body

ROOT = Path(__file__).resolve().parents[2]
SEEDS = range(10)


def old_notebook(revision: str, name: str):
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:solutions/{name}.ipynb"],
                          check=True, capture_output=True, text=True).stdout
    return nbformat.reads(text, as_version=4)


def run(revision: str, name: str) -> list[str]:
    module = importlib.import_module(f"tests.wrong_answers.ex{name}")
    gaps = getattr(module, "PASSED_OLD", [])
    if not gaps:
        return []
    known = {entry[0] for answers in module.WRONG.values() for entry in answers}
    sol = old_notebook(revision, name)
    exe, _ = gen.make_exercise(sol, name)
    checks, regions = check_cells(exe), solution_regions(sol)
    learner = copy.deepcopy(sol)
    for index in checks.values():
        learner.cells[index] = copy.deepcopy(exe.cells[index])
    client = NotebookClient(learner, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(ROOT / "solutions")}})
    lines = []
    with client.setup_kernel(env=kernel_env()):
        for index, cell in enumerate(learner.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        for part, description, code in gaps:
            cell_index, match = regions[part - 1]
            original = learner.cells[cell_index]
            broken = copy.deepcopy(original)
            broken.source = with_body(original.source, match, code)
            client.execute_cell(broken, cell_index)
            passed, last_error = 0, ""
            for seed in SEEDS:
                client.execute_cell(nbformat.v4.new_code_cell(f"import torch; _ = torch.manual_seed({seed})"), 0)
                check = copy.deepcopy(learner.cells[checks[part]])
                client.execute_cell(check, checks[part])
                error = error_of(check)
                passed += error is None
                last_error = error[1][:120] if error else last_error
            verdict = f"passes the old check in {passed} of {len(SEEDS)} random draws"
            if passed < len(SEEDS):
                verdict += f" (caught otherwise: {last_error})"
            if description not in known:
                verdict += "; MISSING from WRONG"
            ok = passed > 0 and description in known
            lines.append(f"{'ok ' if ok else 'BAD'} {name} old part {part}: {description}: {verdict}")
            client.execute_cell(copy.deepcopy(original), cell_index)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.wrong_answers.old_checks", description=__doc__.split("\n\n")[0])
    ap.add_argument("revision", help="git revision whose solutions/ hold the old checks, e.g. cee8b92")
    ap.add_argument("exercises", nargs="*", help="exercise ids (default: every one with PASSED_OLD)")
    args = ap.parse_args(argv)
    names = args.exercises or [p.stem for p in gen.solution_notebooks(ROOT / "solutions")]
    lines = [line for name in names for line in run(args.revision, name)]
    print("\n".join(lines))
    return 0 if lines and all(line.startswith("ok ") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
