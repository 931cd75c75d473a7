"""A learner's work is never lost: learners work in exercises/ in place, and the course's commands
(`make exercises`, `make notebooks`, `make test`) leave what they changed alone.

The exercise here is the course's own exercises/03_sampling.ipynb, solved in place the way a
learner does it in JupyterLab (code written into the stub cells, cells run, notebook saved).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_output

from dat_edu.course import exercises as gen
from dat_edu.course import provenance

ROOT = Path(__file__).resolve().parents[1]
NAME = "03_sampling.ipynb"


def solve_in_place(exercise: Path, solution: Path) -> bytes:
    """Write the solution's code into every stub cell and give it an output, as JupyterLab saves it."""
    ex = nbformat.read(exercise, as_version=4)
    sol = {c.id: c for c in nbformat.read(solution, as_version=4).cells}
    solved = 0
    for cell in ex.cells:
        if cell.cell_type == "code" and "raise NotImplementedError()" in cell.source:
            lines = sol[cell.id].source.splitlines()
            cell.source = "\n".join(line for line in lines if "### " not in line) + "\n# my own comment"
            cell.execution_count = solved + 1
            cell.outputs = [new_output("stream", name="stdout", text="ran it\n")]
            solved += 1
    assert solved >= 3
    ex.metadata["language_info"] = {"name": "python", "version": "3.11.7"}  # JupyterLab adds this
    nbformat.write(ex, exercise)
    return exercise.read_bytes()


@pytest.fixture
def course(tmp_path):
    """A copy of the course's solution and exercise 03, the exercise solved in place."""
    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises").mkdir()
    shutil.copy(ROOT / "solutions" / NAME, tmp_path / "solutions" / NAME)
    shutil.copy(ROOT / "exercises" / NAME, tmp_path / "exercises" / NAME)
    work = solve_in_place(tmp_path / "exercises" / NAME, tmp_path / "solutions" / NAME)
    return tmp_path, work


def change_solution(root: Path) -> None:
    path = root / "solutions" / NAME
    nb = nbformat.read(path, as_version=4)
    md = next(c for c in nb.cells[1:] if c.cell_type == "markdown")
    md.source += "\n\nA sentence the course added later."
    nbformat.write(nb, path)


def regenerate(root: Path, *extra: str) -> int:
    return gen.main(["--solutions", str(root / "solutions"), "--exercises", str(root / "exercises"), *extra])


def test_regenerating_keeps_a_solved_exercise(course, capsys):
    root, work = course
    assert regenerate(root) == 0  # the course did not change: nothing to replace
    assert "holds changes made since it was generated" in capsys.readouterr().out
    assert (root / "exercises" / NAME).read_bytes() == work

    change_solution(root)  # the course changed: the learner's file is still not replaced
    assert regenerate(root) == 1
    err = capsys.readouterr().err
    assert f"{NAME} was not replaced" in err and "--backup" in err
    assert (root / "exercises" / NAME).read_bytes() == work
    assert regenerate(root, "--check") == 1  # and --check says it is stale, without touching it
    assert (root / "exercises" / NAME).read_bytes() == work


def test_backup_keeps_the_work_and_brings_the_new_version(course, capsys):
    root, work = course
    change_solution(root)
    assert regenerate(root, "--backup") == 0
    out = capsys.readouterr().out
    backups = list((root / "backups" / "exercises").glob("03_sampling-*.ipynb"))
    assert len(backups) == 1 and f"kept your version of {root / 'exercises' / NAME} as {backups[0]}" in out
    assert backups[0].read_bytes() == work  # every byte of the learner's notebook
    fresh = (root / "exercises" / NAME).read_text()
    assert "A sentence the course added later." in fresh and "# my own comment" not in fresh
    assert provenance.untouched(nbformat.reads(fresh, as_version=4), provenance.GENERATED)
    assert regenerate(root) == 0 and not list((root / "backups" / "exercises").glob("*-2.ipynb"))


def test_an_untouched_exercise_is_still_regenerated(tmp_path, capsys):
    (tmp_path / "solutions").mkdir()
    shutil.copy(ROOT / "solutions" / NAME, tmp_path / "solutions" / NAME)
    assert regenerate(tmp_path) == 0
    change_solution(tmp_path)
    assert regenerate(tmp_path) == 0  # generator output, unchanged since: replaced without asking
    assert "A sentence the course added later." in (tmp_path / "exercises" / NAME).read_text()
    assert not (tmp_path / "backups").exists()


def _hygiene_run(root: Path, ci: bool) -> subprocess.CompletedProcess:
    """Run the staleness tests of tests/test_notebook_hygiene.py on a course copy at ``root``."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
           str(root / "tests" / "test_notebook_hygiene.py"), "-k", "exercise_is_generated or no_solutions_or_outputs"]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_staleness_test_does_not_fail_because_a_learner_worked(course):
    root, _ = course
    (root / "tests").mkdir()
    for name in ("test_notebook_hygiene.py", "conftest.py"):
        shutil.copy(ROOT / "tests" / name, root / "tests" / name)
    (root / "notebooks").mkdir()  # (no lessons in this copy)
    proc = _hygiene_run(root, ci=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 skipped" in proc.stdout and "holds changes made since it was generated" in proc.stdout
    proc = _hygiene_run(root, ci=True)  # on CI every exercise must be exactly the generator's
    assert proc.returncode == 1 and "2 failed" in proc.stdout, proc.stdout + proc.stderr
