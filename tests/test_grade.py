"""dat_edu.course.grade on tiny synthetic notebooks.

One grading run (module fixture) covers every kind of submission; each kernel
costs about a second, so the submissions are few and small.
"""
from __future__ import annotations

import copy
import csv
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dat_edu.course import exercises as gen
from dat_edu.course import grade

KS = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
IMPORT = "from dat_edu.course.checks import part, check"
ADD = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n"
DOUBLE = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
CHECK1 = (
    "with part(1, 'add'):\n"
    "    check(None, add(1, 2) == 3, 'add(1, 2) is wrong')\n"
    "    ### BEGIN HIDDEN TESTS\n"
    "    check(None, add(-1, 1) == 0, 'add is wrong for negative numbers')\n"
    "    ### END HIDDEN TESTS\n"
)
CHECK2 = "with part(2, 'double'):\n    check(None, double(2) == 4, 'double(2) is wrong')\n"


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
        new_markdown_cell("## Summary"),
    ]
    for i, c in enumerate(cells):
        c.id = f"cell{i}"
    return new_notebook(cells=cells, metadata={"kernelspec": KS})


def exercise_nb():
    return gen.make_exercise(solution_nb(), "01_tiny")[0]


def filled(add="return a + b", double="return 2 * x"):
    nb = exercise_nb()
    nb.cells[3].source = f"def add(a, b):\n    {add}\n"
    nb.cells[6].source = f"def double(x):\n    {double}\n"
    return nb


def save(folder: Path, name: str, nb) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


def build_submissions(root: Path) -> None:
    save(root / "good", "01_tiny.ipynb", filled())
    (root / "good" / "notes.txt").write_text("learner's own file\n")

    # renamed file; passes the visible check of part 1 but not its hidden test
    save(root / "renamed", "my attempt (1).ipynb", filled(add="return abs(a) + b"))

    # cells added and reordered (part 2 first), check cell of part 1 edited to pass vacuously
    nb = filled(add="return a - b")
    part2 = nb.cells[5:8]
    del nb.cells[5:8]
    nb.cells[2:2] = part2
    nb.cells.insert(1, new_markdown_cell("my notes"))
    nb.cells.insert(3, new_code_cell("scratch = [1, 2, 3]\nprint(sum(scratch))"))
    for c in nb.cells:
        if "check:part1" in c.metadata.get("tags", []):
            c.source = "print('Part 1 (add): passed')"
    save(root / "reordered", "01_tiny.ipynb", nb)

    save(root / "notdone", "01_tiny.ipynb", exercise_nb())

    nb = filled()
    nb.cells[3].source = "def add(a, b)\n    return a + b\n"  # missing colon
    save(root / "syntax", "01_tiny.ipynb", nb)

    nb = filled()
    nb.cells[3].source = "while True:\n    pass\n"
    save(root / "loop", "01_tiny.ipynb", nb)

    nb = filled(double="return helpers.double(x)")
    nb.cells[1].source = IMPORT + "\nimport helpers_that_do_not_exist as helpers"
    save(root / "missingimport", "01_tiny.ipynb", nb)

    (root / "badjson").mkdir()
    (root / "badjson" / "01_tiny.ipynb").write_text('{"cells": [ {"cell_type": "code", ')

    nb = filled()
    del nb.cells[7]  # check cell of part 2
    save(root / "missingcheck", "01_tiny.ipynb", nb)

    nb = filled()
    nb.cells.insert(5, new_code_cell("import os\nos._exit(1)"))
    save(root / "crash", "01_tiny.ipynb", nb)

    (root / "nothing").mkdir()
    (root / "nothing" / "README.md").write_text("no notebook here\n")


def snapshot(root: Path) -> dict:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    solutions = tmp / "solutions"
    solutions.mkdir()
    nbformat.write(solution_nb(), solutions / "01_tiny.ipynb")
    subs = tmp / "submissions"
    build_submissions(subs)
    before = snapshot(subs)
    out, summary = tmp / "gradebook.csv", tmp / "summary.md"
    code = grade.main(
        [str(subs), "--solutions", str(solutions), "--out", str(out), "--summary", str(summary),
         "--cell-timeout", "2", "--notebook-timeout", "60", "--jobs", "2", "--quiet"]
    )
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    by = {(r["learner"], r["part"]): r for r in rows}
    return {"code": code, "rows": rows, "by": by, "before": before, "after": snapshot(subs),
            "summary": summary.read_text(), "subs": subs}


def result(graded, learner, part):
    r = graded["by"][(learner, str(part))]
    return float(r["points"]), r["message"]


def test_exit_code_and_columns(graded):
    assert graded["code"] == 0
    assert list(graded["rows"][0].keys()) == ["learner", "exercise", "part", "points", "max_points", "message"]
    assert {r["max_points"] for r in graded["rows"] if r["part"] == "1"} == {"2"}


def test_good_submission(graded):
    assert result(graded, "good", 1) == (2.0, "passed")
    assert result(graded, "good", 2) == (1.0, "passed")


def test_renamed_file_and_hidden_tests(graded):
    points, msg = result(graded, "renamed", 1)
    assert points == 0 and msg == "Part 1 (add): add is wrong for negative numbers"
    assert result(graded, "renamed", 2) == (1.0, "passed")


def test_added_reordered_cells_and_edited_check_cell(graded):
    points, msg = result(graded, "reordered", 1)
    assert points == 0 and msg == "Part 1 (add): add(1, 2) is wrong"  # the canonical check ran
    assert result(graded, "reordered", 2) == (1.0, "passed")


def test_not_done(graded):
    for n in (1, 2):
        points, msg = result(graded, "notdone", n)
        assert points == 0 and msg.startswith(f"Part {n} is not done yet: replace `raise NotImplementedError()`")


def test_syntax_error(graded):
    points, msg = result(graded, "syntax", 1)
    assert points == 0
    assert msg.startswith("Part 1 (add): your code raised NameError: name 'add' is not defined [first problem:")
    assert "earlier cell `def add(a, b)` raised SyntaxError: expected ':' (line 1)]" in msg
    assert result(graded, "syntax", 2) == (1.0, "passed")


def test_infinite_loop_is_interrupted(graded):
    points, msg = result(graded, "loop", 1)
    assert points == 0 and "earlier cell `while True:` did not finish within 2 s" in msg
    assert result(graded, "loop", 2) == (1.0, "passed")  # the kernel survived the interrupt


def test_missing_import(graded):
    assert result(graded, "missingimport", 1) == (2.0, "passed")
    points, msg = result(graded, "missingimport", 2)
    assert points == 0 and "raised ModuleNotFoundError: No module named 'helpers_that_do_not_exist'" in msg


def test_invalid_json(graded):
    for n in (1, 2):
        points, msg = result(graded, "badjson", n)
        assert points == 0 and "01_tiny.ipynb: notebook is not valid JSON (line 1" in msg


def test_missing_check_cell(graded):
    assert result(graded, "missingcheck", 1) == (2.0, "passed")
    assert result(graded, "missingcheck", 2) == (0.0, "check cell for part 2 is missing")


def test_kernel_death(graded):
    assert result(graded, "crash", 1) == (2.0, "passed")
    points, msg = result(graded, "crash", 2)
    assert points == 0 and "kernel died while running `import os`" in msg


def test_learner_without_notebook(graded):
    assert result(graded, "nothing", 1) == (0.0, "no notebook submitted for this exercise")


def test_submissions_untouched(graded):
    assert graded["before"] == graded["after"]
    assert not any(p.name.startswith(".") or "checkpoint" in p.name for p in graded["subs"].rglob("*"))


def test_summary(graded):
    s = graded["summary"]
    assert "| learner | 01_tiny | total |" in s
    assert "| good | 3/3 | 3/3 (100%) |" in s
    assert "| notdone | 0/3 | 0/3 (0%) |" in s
    assert "missingcheck, 01_tiny, part 2: check cell for part 2 is missing" in s


# ---- no kernels below ------------------------------------------------------------

def test_matching_by_metadata_name_and_headings(tmp_path):
    spec = gen.make_exercise(solution_nb(), "01_tiny")[1]
    other = gen.make_exercise(solution_nb(), "02_other")[1]
    other.headings = ["something else"]
    stripped = exercise_nb()
    stripped.metadata.pop("dat_edu")
    save(tmp_path, "Untitled.ipynb", stripped)  # only headings identify it
    save(tmp_path, "02 Other-Copy1.ipynb", stripped)  # fuzzy file name
    save(tmp_path, "random.ipynb", new_notebook(cells=[new_markdown_cell("# unrelated")]))
    paths = grade.learner_notebooks(tmp_path)
    chosen, notes = grade.match_submissions(paths, [spec, other])
    assert chosen == {"01_tiny": tmp_path / "Untitled.ipynb", "02_other": tmp_path / "02 Other-Copy1.ipynb"}
    assert notes == ["random.ipynb: could not be matched to any exercise; ignored"]


def test_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path / "nope"), "--solutions", str(tmp_path)])
    assert info.value.code == 2
    (tmp_path / "subs").mkdir()
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path / "subs"), "--solutions", str(tmp_path)])
    assert info.value.code == 2 and "no solution notebooks" in capsys.readouterr().err


def test_stuck_kernel_hits_the_notebook_limit(tmp_path):
    """A loop that ignores the interrupt: later cells time out until the notebook limit stops the run."""
    import time

    nb = filled()
    nb.cells.insert(5, new_code_cell("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"))
    save(tmp_path / "stuck", "01_tiny.ipynb", nb)
    spec = gen.make_exercise(solution_nb(), "01_tiny")[1]
    start = time.monotonic()
    rows = grade.grade_notebook("stuck", tmp_path / "stuck" / "01_tiny.ipynb", spec, tmp_path / "stuck",
                                cell_timeout=2, notebook_timeout=5)
    assert time.monotonic() - start < 30
    assert (rows[0].points, rows[0].message) == (2, "passed")
    assert rows[1].points == 0 and "the notebook time limit of 5 s was reached" in rows[1].message, rows[1].message
