"""dat_edu.course.grade on a tiny exercise: honest submissions keep their scores, broken ones survive.

One class run (module fixture, two jobs, sandboxed) covers every kind of submission; the tiny
exercise imports no torch, so each sandbox starts in a fraction of a second.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dat_edu.course import gradebook, grade, match
from dat_edu.course import exercises as gen
from tests.grading_helpers import (
    ADD_AT, CHECK1_AT, CHECK2_AT, DOUBLE_AT, IMPORT, exercise_nb, filled, read_rows, save, snapshot, solution_nb,
    write_solutions,
)

ODD = "=HYPERLINK(\"x\")| <b>odd <i> ü"  # a learner folder name that is a formula, markdown and HTML


def with_cell(nb, at: int, source: str):
    nb.cells.insert(at, new_code_cell(source))
    return nb


def build_submissions(root: Path) -> None:
    save(root / "good", "01_tiny.ipynb", filled())
    (root / "good" / "notes.txt").write_text("learner's own file\n")
    save(root / "renamed", "my attempt (1).ipynb", filled(add="return abs(a) + b"))  # fails only the hidden test
    save(root / "half", "01_tiny.ipynb", filled(double="return x + 1", mean="return max(xs)"))

    nb = filled(add="return a - b")  # reordered, extra cells, a check cell edited to pass vacuously
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
    nb.cells[ADD_AT].source = "def add(a, b)\n    return a + b\n"  # missing colon
    save(root / "syntax", "01_tiny.ipynb", nb)
    nb = filled()
    nb.cells[DOUBLE_AT].source = "while True:\n    pass\n"
    save(root / "loop", "01_tiny.ipynb", nb)
    stuck = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"
    save(root / "stuck", "01_tiny.ipynb", with_cell(filled(), DOUBLE_AT, stuck))
    nb = filled(double="return helpers.double(x)")
    nb.cells[1].source = IMPORT + "\nimport helpers_that_do_not_exist as helpers"
    save(root / "missingimport", "01_tiny.ipynb", nb)
    (root / "badjson").mkdir()
    (root / "badjson" / "01_tiny.ipynb").write_text('{"cells": [ {"cell_type": "code", ')
    nb = filled()
    del nb.cells[CHECK2_AT]
    save(root / "missingcheck", "01_tiny.ipynb", nb)
    save(root / "crash", "01_tiny.ipynb", with_cell(filled(), DOUBLE_AT, "import os\nos._exit(1)"))
    save(root / "sysexit", "01_tiny.ipynb", with_cell(filled(), DOUBLE_AT, "import sys\nsys.exit(3)"))
    save(root / "segfault", "01_tiny.ipynb", with_cell(filled(), DOUBLE_AT, "import ctypes\nctypes.string_at(0)"))
    fork = ("import os, subprocess, threading, time\n"
            "threading.Thread(target=lambda: time.sleep(600), daemon=True).start()\n"
            "try:\n    pid = os.fork()\n    if pid == 0:\n        time.sleep(600)\nexcept OSError as e:\n    print('fork:', e)\n"
            "try:\n    subprocess.Popen(['sleep', '600'])\nexcept OSError as e:\n    print('spawn:', e)\n")
    save(root / "forks", "01_tiny.ipynb", with_cell(filled(), DOUBLE_AT, fork))
    save(root / "memory", "01_tiny.ipynb", with_cell(filled(), DOUBLE_AT, "hog = bytearray(16 << 30)"))
    save(root / "output", "01_tiny.ipynb", with_cell(filled(), DOUBLE_AT, "for _ in range(200_000):\n    print('x' * 1000)"))
    nb = filled()
    nb.cells[CHECK1_AT].metadata["tags"] = ["check:part1", "check:part2", "check:part3"]
    save(root / "multitag", "01_tiny.ipynb", nb)
    save(root / "dupes", "01_tiny.ipynb", filled(add="return 0"))
    save(root / "dupes", "01_tiny (2).ipynb", filled())
    os.utime(root / "dupes" / "01_tiny.ipynb", (1_000_000, 1_000_000))  # the older copy
    save(root / ODD, "Tiny – ünïcode name.ipynb", filled())
    forge = "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'\\xff' * 64)\n    except OSError:\n        pass"
    save(root / "forger", "01_tiny.ipynb", with_cell(filled(), CHECK1_AT + 1, forge))
    (root / "nothing").mkdir()
    (root / "nothing" / "README.md").write_text("no notebook here\n")
    chatty = filled()  # every cell prints more than a cell may keep: the notebook's total is capped too
    chatty.cells[DOUBLE_AT:DOUBLE_AT] = [new_code_cell(f"print('{i % 10}' * 30_000)") for i in range(120)]
    save(root / "chatty", "01_tiny.ipynb", chatty)
    os.symlink(root / "good", root / "linked-folder")  # a classmate's folder under another name
    (root / "linked-notebook").mkdir()
    os.symlink(root / "good" / "01_tiny.ipynb", root / "linked-notebook" / "01_tiny.ipynb")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    solutions = write_solutions(tmp / "solutions")
    subs = tmp / "submissions"
    build_submissions(subs)
    before = snapshot(subs)
    out, summary = tmp / "gradebook.csv", tmp / "summary.md"
    code = grade.main([str(subs), "--solutions", str(solutions), "--out", str(out), "--summary", str(summary),
                       "--cell-timeout", "2", "--notebook-timeout", "60", "--jobs", "2", "--quiet",
                       "--memory-limit", "2048"])
    return {"code": code, **read_rows(out), "before": before, "after": snapshot(subs), "out": out,
            "summary": summary.read_text(), "subs": subs, "review": tmp / "gradebook-review"}


def result(graded, learner, part):
    r = graded["by"][(learner, str(part))]
    return float(r["points"]), r["message"]


def test_exit_code_columns_and_run_row(graded):
    assert graded["code"] == 0
    assert list(graded["rows"][0].keys()) == gradebook.COLUMNS
    first = graded["rows"][0]
    assert first["learner"] == "" and "bubblewrap" in first["message"] and "unchanged" in first["message"]
    assert {r["max_points"] for r in graded["rows"] if r["part"] == "1"} == {"2"}


def test_honest_scores(graded):
    assert [result(graded, "good", n) for n in (1, 2, 3)] == [(2.0, "passed"), (1.0, "passed"), (1.0, "passed")]
    assert result(graded, "half", 1) == (2.0, "passed")
    assert result(graded, "half", 2) == (0.0, "Part 2 (double): double(2) is wrong")
    assert result(graded, "half", 3) == (0.0, "Part 3 (mean): mean([1, 2, 3, 6]) is wrong")


def test_renamed_file_and_hidden_tests(graded):
    assert result(graded, "renamed", 1) == (0.0, "Part 1 (add): hidden-7f3a: add is wrong for negative numbers")
    assert result(graded, "renamed", 2) == (1.0, "passed")


def test_added_reordered_cells_and_edited_check_cell(graded):
    assert result(graded, "reordered", 1) == (0.0, "Part 1 (add): add(1, 2) is wrong")  # the real check ran
    assert result(graded, "reordered", 2) == (1.0, "passed")


def test_not_done(graded):
    for n in (1, 2, 3):
        points, msg = result(graded, "notdone", n)
        assert points == 0 and msg.startswith(f"Part {n} is not done yet: replace `raise NotImplementedError()`")


def test_syntax_error(graded):
    points, msg = result(graded, "syntax", 1)
    assert points == 0
    assert msg.startswith("Part 1 (add): your code raised NameError: name 'add' is not defined [first problem:")
    assert "earlier cell `def add(a, b)` raised SyntaxError: expected ':' (line 1)]" in msg
    assert result(graded, "syntax", 2) == (1.0, "passed")


def test_infinite_loop_is_interrupted(graded):
    points, msg = result(graded, "loop", 2)
    assert points == 0 and "earlier cell `while True:` did not finish within 2 s" in msg
    assert result(graded, "loop", 1) == (2.0, "passed")
    assert result(graded, "loop", 3) == (1.0, "passed")  # the notebook went on after the interrupt


def stopped_after_part_1(graded, learner: str, why: str) -> None:
    assert result(graded, learner, 1) == (2.0, "passed")  # decided before: kept
    for n in (2, 3):
        points, msg = result(graded, learner, n)
        assert points == 0 and why in msg, msg


def test_loop_that_swallows_interrupts_is_stopped(graded):
    stopped_after_part_1(graded, "stuck", "did not finish within 2 s, even after being interrupted")


def test_missing_import(graded):
    assert result(graded, "missingimport", 1) == (2.0, "passed")
    points, msg = result(graded, "missingimport", 2)
    assert points == 0 and "raised ModuleNotFoundError: No module named 'helpers_that_do_not_exist'" in msg


def test_invalid_json(graded):
    for n in (1, 2, 3):
        points, msg = result(graded, "badjson", n)
        assert points == 0 and "01_tiny.ipynb: notebook is not valid JSON (line 1" in msg


def test_missing_check_cell_is_put_back(graded):
    r = graded["by"][("missingcheck", "2")]
    assert (r["points"], r["message"]) == ("1", "passed")
    assert "the check cell of part 2 was missing; it was put back after cell 7" in r["flags"]


@pytest.mark.parametrize("learner, why", [
    ("crash", "ended while running cell 7 `import os`"),
    ("segfault", "ended while running cell 7 `import ctypes`"),
])
def test_dying_process(graded, learner, why):
    assert result(graded, learner, 1) == (2.0, "passed")
    points, msg = result(graded, learner, 2)
    assert points == 0 and why in msg, msg


def test_sys_exit_forks_memory_and_output_are_survived(graded):
    for learner in ("sysexit", "forks", "memory", "output"):
        assert [result(graded, learner, n)[0] for n in (1, 2, 3)] == [2.0, 1.0, 1.0], learner


def test_one_cell_with_every_check_tag(graded):
    for n in (1, 2, 3):
        points, msg = result(graded, "multitag", n)
        assert points == 0 and "carries the tags check:part1, check:part2, check:part3" in msg


def test_duplicates_are_resolved_by_the_stated_rule_and_reported(graded):
    assert result(graded, "dupes", 1) == (2.0, "passed")  # the newer, correct copy
    rows = [r for r in graded["rows"] if r["learner"] == "dupes" and r["part"] == ""]
    assert len(rows) == 1 and rows[0]["notebook"] == "01_tiny.ipynb"
    assert "graded from 01_tiny (2).ipynb" in rows[0]["message"] and "most recently modified" in rows[0]["message"]


def test_odd_names_are_escaped(graded):
    assert result(graded, "'" + ODD, 1) == (2.0, "passed")  # as the CSV stores it
    raw = graded["out"].read_text()
    assert "'=HYPERLINK" in raw and "\n=" not in raw and '\n"=' not in raw  # no cell starts with a formula character
    assert "<b>" not in graded["summary"] and "\\|" in graded["summary"]


def test_forged_frames_stop_that_notebook_only(graded):
    stopped_after_part_1(graded, "forger", "not graded because the notebook interfered with the grader")


def test_symbolic_links_are_refused(graded):
    rows = [r for r in graded["rows"] if r["learner"] == "linked-folder"]
    assert len(rows) == 1 and rows[0]["message"] == "the learner's folder is a symbolic link; refused"
    rows = [r for r in graded["rows"] if r["learner"] == "linked-notebook" and r["part"] == ""]
    assert rows[0]["message"] == "01_tiny.ipynb is a symbolic link; refused (submit the file itself)"
    assert result(graded, "linked-notebook", 1) == (0.0, "no notebook submitted for this exercise")


def test_output_is_capped_per_cell_and_per_notebook(graded):
    import nbformat

    from dat_edu.course import review

    assert [result(graded, "chatty", n)[0] for n in (1, 2, 3)] == [2.0, 1.0, 1.0]
    nb = nbformat.read(graded["review"] / "chatty" / "01_tiny.ipynb", as_version=4)
    texts = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert max(map(len, texts)) < 21_000  # 30,000 printed, 20,000 kept
    assert sum(map(len, texts)) <= review.MAX_TOTAL + 2_000  # 120 cells: 2.4 million characters kept, capped at 2 MiB


def test_learner_without_notebook(graded):
    assert result(graded, "nothing", 1) == (0.0, "no notebook submitted for this exercise")


def test_submissions_untouched(graded):
    assert graded["before"] == graded["after"]


def test_review_notebooks(graded):
    import nbformat

    nb = nbformat.read(graded["review"] / "half" / "01_tiny.ipynb", as_version=4)
    checks = [c for c in nb.cells if c.metadata.get("tags") == ["check:part2"]]
    assert "[graded] Part 2 (double): double(2) is wrong (0/1)" in checks[0].outputs[0]["text"]
    out = nbformat.read(graded["review"] / "output" / "01_tiny.ipynb", as_version=4)
    assert max(len(o.get("text", "")) for c in out.cells if c.cell_type == "code" for o in c.outputs) < 30_000


def test_summary(graded):
    s = graded["summary"]
    assert "| learner | 01\\_tiny | total |" in s
    assert "| good | 4/4 | 4/4 (100%) |" in s
    assert "| notdone | 0/4 | 0/4 (0%) |" in s


# ---- no sandboxes below ----------------------------------------------------------------

def test_matching_by_metadata_name_and_headings(tmp_path):
    spec = gen.make_exercise(solution_nb(), "01_tiny")[1]
    other = gen.make_exercise(solution_nb(), "02_other")[1]
    other.headings = ["something else"]
    stripped = exercise_nb()
    stripped.metadata.pop("dat_edu")
    save(tmp_path, "Untitled.ipynb", stripped)  # only headings identify it
    save(tmp_path, "02 Other-Copy1.ipynb", stripped)  # fuzzy file name
    save(tmp_path, "random.ipynb", new_notebook(cells=[new_markdown_cell("# unrelated")]))
    os.symlink(tmp_path / "random.ipynb", tmp_path / "link.ipynb")
    notebooks, links = match.learner_notebooks(tmp_path)
    assert links == [tmp_path / "link.ipynb"]
    found = match.match_submissions(notebooks, [spec, other])
    assert found.chosen == {"01_tiny": tmp_path / "Untitled.ipynb", "02_other": tmp_path / "02 Other-Copy1.ipynb"}
    assert found.unmatched == [tmp_path / "random.ipynb"]


def test_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path / "nope"), "--solutions", str(tmp_path)])
    assert info.value.code == 2
    (tmp_path / "subs").mkdir()
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path / "subs"), "--solutions", str(tmp_path)])
    assert info.value.code == 2 and "no solution notebooks" in capsys.readouterr().err
    write_solutions(tmp_path / "sol")
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path / "subs"), "--solutions", str(tmp_path / "sol"), "--out", str(tmp_path / "subs" / "g.csv")])
    assert info.value.code == 2 and "outside the submissions" in capsys.readouterr().err
    inside = Path(gen.__file__).parent / "g.csv"  # every sandbox sees the library
    with pytest.raises(SystemExit) as info:
        grade.main([str(tmp_path / "subs"), "--solutions", str(tmp_path / "sol"), "--out", str(inside)])
    assert info.value.code == 2 and "inside a folder every sandbox can read" in capsys.readouterr().err
    assert not inside.exists()


def test_csv_and_markdown_escaping():
    row = gradebook.Row("-1+1", "@x", 1, 0, 1, "=cmd|' /C calc'!A0", ["+flag"], "\tname.ipynb")
    assert row.as_csv() == ["'-1+1", "'@x", "1", "0", "1", "'=cmd|' /C calc'!A0", "'+flag", "'\tname.ipynb"]
    assert gradebook.md_text("a|b <script>\n*x*") == "a\\|b \\<script\\> \\*x\\*"


def test_gradebook_is_written_atomically(tmp_path, monkeypatch):
    out = tmp_path / "g.csv"
    out.write_text("the earlier gradebook\n")

    class Broken(gradebook.Row):
        def as_csv(self):
            raise RuntimeError("disk full, say")

    rows = [gradebook.Row("a", "01_tiny", 1, 2, 2, "passed"), Broken("b", "01_tiny", 1, 0, 2, "x")]
    with pytest.raises(RuntimeError):
        gradebook.write(rows, [], out, None)  # the old grader had truncated the file by now
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        gradebook.write(rows[:1], [], out, None)
    assert out.read_text() == "the earlier gradebook\n" and sorted(tmp_path.iterdir()) == [out]  # no temporary file left
    monkeypatch.undo()
    gradebook.write(rows[:1], [], out, tmp_path / "g.md")
    assert read_rows(out)["by"][("a", "1")]["points"] == "2" and (tmp_path / "g.md").exists()


def test_no_sandbox_is_recorded_and_changes_are_reported(tmp_path):
    write_solutions(tmp_path / "sol")
    save(tmp_path / "subs" / "a", "01_tiny.ipynb", filled())
    # without the sandbox a notebook can write into the solutions: the hashes taken before and after see it
    planted = tmp_path / "sol" / "planted.txt"
    save(tmp_path / "subs" / "b", "01_tiny.ipynb", with_cell(filled(), 2, f"open({str(planted)!r}, 'w').write('x')"))
    assert grade.main([str(tmp_path / "subs"), "--solutions", str(tmp_path / "sol"), "--out", str(tmp_path / "g.csv"),
                       "--no-sandbox", "--no-review", "--quiet"]) == 3
    rows = read_rows(tmp_path / "g.csv")
    first = rows["rows"][0]["message"]
    assert first.startswith("2 notebooks graded in NO SANDBOX (--no-sandbox)")
    assert f"WARNING: changed while grading: {tmp_path / 'sol' / 'planted.txt'}" in first and planted.exists()
    assert [rows["by"][("a", str(n))]["points"] for n in (1, 2, 3)] == ["2", "1", "1"]


def test_refuses_without_bubblewrap(tmp_path, monkeypatch, capsys):
    write_solutions(tmp_path / "sol")
    save(tmp_path / "subs" / "a", "01_tiny.ipynb", filled())
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    code = grade.main([str(tmp_path / "subs"), "--solutions", str(tmp_path / "sol"), "--out", str(tmp_path / "g.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "bubblewrap (`bwrap`) is not installed" in err and "apt-get install bubblewrap" in err
    assert not (tmp_path / "g.csv").exists()
