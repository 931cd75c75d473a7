"""dat_edu.course.exercises: solutions/ -> exercises/ (no kernels; fast)."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from dat_edu.course import exercises as gen

KS = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def solution_nb():
    check1 = new_code_cell(
        "with part(1, 'add'):\n"
        "    check(None, add(1, 2) == 3, 'add(1, 2) is wrong')\n"
        "    ### BEGIN HIDDEN TESTS\n"
        "    check(None, add(-1, 1) == 0, 'add fails for negative numbers')\n"
        "    ### END HIDDEN TESTS\n",
        metadata={"tags": ["check:part1"], "dat_edu": {"points": 2, "uses": ["add"]}, "scrolled": True},
        execution_count=3,
        outputs=[new_output("stream", name="stdout", text="Part 1 (add): passed\n")],
    )
    return new_notebook(
        cells=[
            new_markdown_cell("# 01 Tiny\n## Part 1: add", id="c0"),
            new_code_cell("from dat_edu.course.checks import part, check", id="c1", execution_count=1),
            new_code_cell(
                "class Adder:\n"
                "    def add(self, a, b):\n"
                "        ### BEGIN SOLUTION\n"
                "        total = a + b\n"
                "        return total\n"
                "        ### END SOLUTION\n"
                "\n"
                "def add(a, b):\n"
                "    ### BEGIN SOLUTION\n"
                "    return Adder().add(a, b)\n"
                "    ### END SOLUTION",
                id="c2",
                execution_count=2,
                metadata={"execution": {"iopub.status.busy": "2026-01-01T00:00:00"}},
            ),
            check1,
            new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION\n", id="c4"),
            new_code_cell("print('demo')", id="c5", execution_count=4,
                          outputs=[new_output("stream", name="stdout", text="demo\n")]),
            new_markdown_cell("## Summary", id="c6"),
        ],
        metadata={"kernelspec": KS, "widgets": {"state": {}}},
    )


def fix_ids(nb):
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i}"
    return nb


def test_solution_region_replaced_at_its_indent():
    ex, spec = gen.make_exercise(fix_ids(solution_nb()), "01_tiny")
    src = ex.cells[2].source
    assert src == (
        "class Adder:\n"
        "    def add(self, a, b):\n"
        "        # YOUR CODE HERE\n"
        "        raise NotImplementedError()\n"
        "\n"
        "def add(a, b):\n"
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError()"
    )
    assert "BEGIN" not in src and "a + b" not in src


def test_markdown_answer_and_hidden_tests():
    sol = fix_ids(solution_nb())
    ex, spec = gen.make_exercise(sol, "01_tiny")
    assert ex.cells[4].source == "Why?\n\nYOUR ANSWER HERE\n"
    check_src = ex.cells[3].source
    assert "HIDDEN" not in check_src and "negative" not in check_src
    assert check_src == (
        "with part(1, 'add'):\n"
        "    check(None, add(1, 2) == 3, 'add(1, 2) is wrong')\n"
        "    # (more tests run here when your notebook is graded)\n"
    )
    p = spec.parts[1]
    assert (p.number, p.name, p.points, p.uses) == (1, "add", 2, ("add",))
    assert "negative" in p.full_source and p.exercise_source == check_src
    # the solution object itself is not modified
    assert "BEGIN SOLUTION" in sol.cells[2].source


def test_outputs_cleared_metadata_kept_and_marked():
    ex, _ = gen.make_exercise(fix_ids(solution_nb()), "01_tiny")
    for cell in ex.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert "execution" not in cell.metadata and "scrolled" not in cell.metadata
    check = ex.cells[3]
    assert check.metadata["tags"] == ["check:part1"]
    assert check.metadata["dat_edu"] == {"points": 2, "uses": ["add"]}
    assert check.metadata["editable"] is False and check.metadata["deletable"] is False
    assert ex.metadata["dat_edu"] == {"exercise": "01_tiny"}
    assert ex.metadata == {"dat_edu": {"exercise": "01_tiny"}, "kernelspec": KS, "language_info": {"name": "python"}}
    assert [c.id for c in ex.cells] == [f"c{i}" for i in range(7)]


def test_deterministic_bytes():
    a = gen.notebook_bytes(gen.make_exercise(fix_ids(solution_nb()), "01_tiny")[0])
    b = gen.notebook_bytes(gen.make_exercise(fix_ids(solution_nb()), "01_tiny")[0])
    assert a == b and a.endswith(b"\n")
    json.loads(a)
    # executing the solution (language_info with the Python version) does not change the exercise
    executed = fix_ids(solution_nb())
    executed.metadata["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
    assert gen.notebook_bytes(gen.make_exercise(executed, "01_tiny")[0]) == a


@pytest.mark.parametrize(
    "source, expect",
    [
        ("x = 1\n### BEGIN SOLUTION\nx = 2\n", "never closed"),
        ("x = 1\n### END SOLUTION\n", "does not match"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION\n", "cannot be nested"),
        ("### BEGIN SOLUTION\nx = 1\n### END HIDDEN TESTS\n", "does not match"),
        ("## BEGIN SOLUTION\nx = 1\n## END SOLUTION\n", "malformed marker"),
        ("### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS\n", "only allowed in a check cell"),
    ],
)
def test_bad_markers_raise_naming_notebook_and_cell(source, expect):
    nb = new_notebook(cells=[new_markdown_cell("# t", id="m0"), new_code_cell(source, id="bad1")], metadata={"kernelspec": KS})
    with pytest.raises(gen.MarkupError) as info:
        gen.make_exercise(nb, "05_broken")
    msg = str(info.value)
    assert expect in msg and "05_broken" in msg and "cell 1" in msg and "bad1" in msg


def test_check_cell_rules():
    learner = new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")

    def nb_with(*cells):
        return new_notebook(cells=[learner, *cells], metadata={"kernelspec": KS})

    tag = lambda n: {"tags": [f"check:part{n}"], "dat_edu": {"uses": ["f"]}}  # noqa: E731
    only_hidden = new_code_cell("### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS", metadata=tag(1))
    with pytest.raises(gen.MarkupError, match="empty once hidden tests are removed"):
        gen.make_exercise(nb_with(only_hidden), "x")
    dup = [new_code_cell("f()", metadata=tag(1)), new_code_cell("f()", metadata=tag(1))]
    with pytest.raises(gen.MarkupError, match="already has a check cell"):
        gen.make_exercise(nb_with(*dup), "x")
    with pytest.raises(gen.MarkupError, match=r"part\(s\) \[1\]"):
        gen.make_exercise(nb_with(new_code_cell("f()", metadata=tag(2))), "x")
    with pytest.raises(gen.MarkupError, match="points"):
        gen.make_exercise(nb_with(new_code_cell("f()", metadata={**tag(1), "dat_edu": {"points": -1}})), "x")
    with pytest.raises(gen.MarkupError, match=r"tagged check:part1 but calls part\(2, ...\)"):
        gen.make_exercise(nb_with(new_code_cell("with part(2, 'x'):\n    f()", metadata=tag(1))), "x")
    broken = new_code_cell("with part(1, 'a'):\n    ### BEGIN HIDDEN TESTS\n    assert 1\n    ### END HIDDEN TESTS\n", metadata=tag(1))
    with pytest.raises(gen.MarkupError, match="does not parse"):
        gen.make_exercise(nb_with(broken), "x")
    two_tags = new_code_cell("f()", metadata={"tags": ["check:part1", "check:part2"], "dat_edu": {"uses": ["f"]}})
    with pytest.raises(gen.MarkupError, match="only one part"):
        gen.make_exercise(nb_with(two_tags), "x")


@pytest.mark.parametrize(
    "uses, expect",
    [
        (None, r'non-empty list .* write "uses": \["f"\]'),
        ([], "non-empty list"),
        (["f", 3], "non-empty list"),
        (["g"], r"names \['g'\], which no earlier cell with a solution region defines"),
        (["f", "setup_value"], r"names \['setup_value'\]"),
        (["later"], r"names \['later'\]"),
    ],
)
def test_uses_must_list_exactly_the_learner_names_the_check_reads(uses, expect):
    """The grader hands a check only the learner names in `uses`: a wrong list is a markup error."""
    learner = new_code_cell("setup_value = 3\n\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    meta = {"tags": ["check:part1"], "dat_edu": {} if uses is None else {"uses": uses}}
    check_cell = new_code_cell("with part(1, 'f'):\n    check(None, f() == setup_value, 'f is wrong')", metadata=meta)
    later = new_code_cell("def later():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION")
    nb = new_notebook(cells=[learner, check_cell, later], metadata={"kernelspec": KS})
    with pytest.raises(gen.MarkupError, match=expect):
        gen.make_exercise(nb, "x")
    nb.cells[1].metadata["dat_edu"] = {"uses": ["f"]}  # setup_value is the exercise's, not the learner's
    assert gen.make_exercise(nb, "x")[1].parts[1].uses == ("f",)


def test_uses_rejects_a_learner_name_the_check_reads_but_does_not_list():
    cells = [
        new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
        new_code_cell("def g():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION"),
        new_code_cell("with part(1, 'fg'):\n    check(None, f() + g() == 3, 'wrong')",
                      metadata={"tags": ["check:part1"], "dat_edu": {"uses": ["f"]}}),
    ]
    with pytest.raises(gen.MarkupError, match=r"reads \['g'\].*does not\s+list them"):
        gen.make_exercise(new_notebook(cells=cells, metadata={"kernelspec": KS}), "x")


@pytest.mark.parametrize(
    "body, expect",
    [
        ("F.conv2d = lambda *a, **k: None\ncheck(None, f() == 1, 'wrong')", r"replaces `F.conv2d`.*forbid_calls or record_calls"),
        ("setattr(F, 'conv2d', print)\ncheck(None, f() == 1, 'wrong')", r"setattr\(\).*forbid_calls"),
        ("check(None, 'return' in f.__doc__, 'wrong')", r"uses `f` other than by calling it"),
        ("check(None, isinstance(1, f), 'wrong')", None),  # passed to a call: allowed
        ("check(None, forbid_calls(f, 'F.conv2d', args=(1,)) == 1, 'wrong')", None),
    ],
)
def test_checks_the_judge_cannot_grade_are_rejected(body, expect):
    """When graded, the learner's f lives in another process: a check can only call it."""
    cells = [
        new_code_cell("import torch.nn.functional as F\nfrom dat_edu.course.checks import part, check, forbid_calls"),
        new_code_cell("def f(*a):\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
        new_code_cell("with part(1, 'f'):\n    " + body.replace("\n", "\n    "),
                      metadata={"tags": ["check:part1"], "dat_edu": {"uses": ["f"]}}),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": KS})
    if expect is None:
        gen.make_exercise(nb, "x")
    else:
        with pytest.raises(gen.MarkupError, match=expect):
            gen.make_exercise(nb, "x")


def write_solution(folder, name="01_tiny", nb=None):
    folder.mkdir(exist_ok=True)
    nbformat.write(fix_ids(nb or solution_nb()), folder / f"{name}.ipynb")


def test_cli_generate_then_check(tmp_path, capsys):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    write_solution(sol)
    args = ["--solutions", str(sol), "--exercises", str(ex)]
    assert gen.main(args + ["--check"]) == 1  # nothing generated yet
    assert gen.main(args) == 0
    first = (ex / "01_tiny.ipynb").read_bytes()
    # the solution got its exercise id, and nothing else changed in it
    sol_nb = nbformat.read(sol / "01_tiny.ipynb", as_version=4)
    assert sol_nb.metadata["dat_edu"] == {"exercise": "01_tiny"}
    assert "BEGIN SOLUTION" in sol_nb.cells[2].source and sol_nb.cells[3].outputs
    assert gen.main(args + ["--check"]) == 0
    assert gen.main(args) == 0
    assert (ex / "01_tiny.ipynb").read_bytes() == first  # same bytes on a re-run
    capsys.readouterr()

    # a changed solution makes exercises/ stale, and --check names the file
    nb = nbformat.read(sol / "01_tiny.ipynb", as_version=4)
    nb.cells[5].source = "print('changed demo')"
    nbformat.write(nb, sol / "01_tiny.ipynb")
    assert gen.main(args + ["--check"]) == 1
    err = capsys.readouterr().err
    assert "01_tiny.ipynb: stale" in err
    assert (ex / "01_tiny.ipynb").read_bytes() == first  # --check writes nothing

    # an exercise without a solution is reported too
    gen.main(args)
    (ex / "99_orphan.ipynb").write_bytes(first)
    assert gen.main(args + ["--check"]) == 1
    assert "99_orphan.ipynb: has no solution" in capsys.readouterr().err


def test_cli_reports_markup_error(tmp_path, capsys):
    nb = new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\nx = 1\n")], metadata={"kernelspec": KS})
    write_solution(tmp_path / "solutions", "02_bad", nb)
    assert gen.main(["--solutions", str(tmp_path / "solutions"), "--exercises", str(tmp_path / "ex")]) == 1
    assert "02_bad: cell 0" in capsys.readouterr().err
    assert not (tmp_path / "ex" / "02_bad.ipynb").exists()


@pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning")
def test_cells_without_ids_get_stable_ids(tmp_path):
    """nbformat invents random ids for cells saved without one; the generator must not."""
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    sol.mkdir()
    nb = json.loads(nbformat.writes(fix_ids(solution_nb())))
    for cell in nb["cells"]:
        cell.pop("id")
    (sol / "01_tiny.ipynb").write_text(json.dumps(nb))
    args = ["--solutions", str(sol), "--exercises", str(ex)]
    plans = [gen.plan(sol, ex).writes[ex / "01_tiny.ipynb"] for _ in range(2)]
    assert plans[0] == plans[1]
    assert gen.main(args) == 0 and gen.main(args + ["--check"]) == 0
    ids = [c["id"] for c in json.loads((sol / "01_tiny.ipynb").read_text())["cells"]]
    assert len(set(ids)) == len(ids) == 7
    assert [c["id"] for c in json.loads((ex / "01_tiny.ipynb").read_text())["cells"]] == ids
