"""The real course exercises grade honestly (one test per exercise, named after it).

* The solution notebook, submitted as if by a learner, earns full marks (its
  check cells, hidden tests included, pass under the grader).
* The untouched exercise notebook earns 0 on every part, and every message is
  the friendly ``Part N ...`` one: no check passes vacuously while the code
  still says ``raise NotImplementedError()``.

Skipped (with a reason) only while solutions/ is empty.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from dat_edu.course import exercises as gen
from dat_edu.course import grade

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted(p for p in (ROOT / "solutions").glob("*.ipynb") if not p.name.startswith("."))
PARAMS = [pytest.param(p, id=p.stem) for p in SOLUTIONS] or [
    pytest.param(None, id="solutions-empty", marks=pytest.mark.skip(reason="no notebooks in solutions/ yet"))
]


@pytest.mark.parametrize("solution", PARAMS)
def test_solution_earns_full_marks(solution):
    spec = gen.load_spec(solution)
    rows = grade.grade_notebook("solution", solution, spec, solution.parent, cell_timeout=300, notebook_timeout=900)
    bad = [f"part {r.part}: {r.message}" for r in rows if r.points != r.max_points]
    assert rows and not bad, f"solutions/{solution.name} does not pass its own checks:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("solution", PARAMS)
def test_untouched_exercise_earns_nothing(solution):
    exercise = ROOT / "exercises" / solution.name
    assert exercise.exists(), f"exercises/{solution.name} is missing: run `python -m dat_edu.course.exercises`"
    spec = gen.load_spec(solution)
    rows = grade.grade_notebook("blank", exercise, spec, exercise.parent, cell_timeout=300, notebook_timeout=900)
    vacuous = [f"part {r.part} passes without any work" for r in rows if r.points > 0]
    unfriendly = [f"part {r.part}: {r.message}" for r in rows if not r.message.startswith(f"Part {r.part}")]
    assert not vacuous and not unfriendly, f"exercises/{solution.name}:\n  " + "\n  ".join(vacuous + unfriendly)
