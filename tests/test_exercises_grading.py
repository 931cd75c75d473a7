"""The real course exercises grade honestly (one test per exercise, named after it).

* The solution notebook, submitted as if by a learner, earns full marks (its
  check cells, hidden tests included, pass under the grader).
* The untouched exercise notebook earns 0 on every part, and every message is
  the friendly ``Part N ...`` one: no check passes vacuously while the code
  still says ``raise NotImplementedError()``.

Both run in the grader's conditions (a temporary copy of the folder as working
directory, canonical check cells), side by side. This runs every solution
notebook once more, so it costs about as much as ``pytest --nbval solutions/``.

Skipped (with a reason) only while solutions/ is empty.
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dat_edu.course import exercises as gen
from dat_edu.course import grade

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted(p for p in (ROOT / "solutions").glob("*.ipynb") if not p.name.startswith("."))
PARAMS = [pytest.param(p, id=p.stem) for p in SOLUTIONS] or [
    pytest.param(None, id="solutions-empty", marks=pytest.mark.skip(reason="no notebooks in solutions/ yet"))
]


@functools.lru_cache(maxsize=None)
def graded(solution: Path) -> tuple[list, list | None]:
    """(rows for the solution, rows for the untouched exercise or None), graded side by side."""
    spec = gen.load_spec(solution)
    exercise = ROOT / "exercises" / solution.name

    def run(path: Path) -> list:
        return grade.grade_notebook("x", path, spec, path.parent, cell_timeout=300, notebook_timeout=900)

    with ThreadPoolExecutor(max_workers=2) as pool:
        sol = pool.submit(run, solution)
        ex = pool.submit(run, exercise) if exercise.exists() else None
        return sol.result(), (ex.result() if ex else None)


@pytest.mark.parametrize("solution", PARAMS)
def test_solution_earns_full_marks(solution):
    rows, _ = graded(solution)
    bad = [f"part {r.part}: {r.message}" for r in rows if r.points != r.max_points]
    assert rows and not bad, f"solutions/{solution.name} does not pass its own checks when graded:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("solution", PARAMS)
def test_untouched_exercise_earns_nothing(solution):
    _, rows = graded(solution)
    assert rows is not None, f"exercises/{solution.name} is missing: run `python -m dat_edu.course.exercises`"
    vacuous = [f"part {r.part} passes without any work" for r in rows if r.points > 0]
    unfriendly = [f"part {r.part}: {r.message}" for r in rows if not r.message.startswith(f"Part {r.part}")]
    assert not vacuous and not unfriendly, f"exercises/{solution.name}:\n  " + "\n  ".join(vacuous + unfriendly)
