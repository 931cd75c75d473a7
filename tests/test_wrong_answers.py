"""Every part of every exercise rejects at least one realistic wrong answer.

The wrong answers live in ``tests/wrong_answers/exNN_name.py`` as ``WRONG = {part: [(description,
code), ...]}``; ``code`` replaces the body of the part's solution region (the N-th
``### BEGIN SOLUTION`` region of the solution notebook belongs to part N). An entry may carry a third
element, a text that the failure message must contain (e.g. ``"order"`` for a forgotten swap), so that
the learner is told what is wrong and not only that something is.

For each exercise one kernel runs the notebook the way a learner sees it (the exercise's check
cells, hidden tests removed, with the solution code filled in). Then, for each wrong answer, the
part's code cell is re-run with the wrong body, the part's visible check cell is re-run and must
fail with ``ExerciseCheckFailed`` whose message starts ``Part N (``, and the correct cell is run
again so that later parts see a working function. Checking the visible cells (not the hidden
tests) is what a learner's ``pytest --nbval exercises/NN_name.ipynb`` does.
"""
from __future__ import annotations

import copy
import importlib
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dat_edu.course import exercises as gen
from dat_edu.course.execute import kernel_env

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = gen.solution_notebooks(ROOT / "solutions") if (ROOT / "solutions").is_dir() else []
REGION = re.compile(
    r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*\n(?P<body>.*?)^[ \t]*### END SOLUTION[ \t]*$",
    re.M | re.S,
)


def wrong_answers(solution: Path) -> dict[int, list[tuple[str, str]]]:
    module = importlib.import_module(f"tests.wrong_answers.ex{solution.stem}")
    return module.WRONG


def solution_regions(nb) -> list[tuple[int, re.Match]]:
    """(cell index, match) for every solution region of the code cells, in notebook order."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            found.extend((index, m) for m in REGION.finditer(cell.source))
    return found


def with_body(source: str, match: re.Match, code: str) -> str:
    body = textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", match.group("indent"))
    return source[: match.start()] + body + source[match.end() + 1 :]


def check_cells(nb) -> dict[int, int]:
    return {part: index for index, cell in enumerate(nb.cells) for part in gen.check_tags(cell)}


def error_of(cell) -> tuple[str, str] | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output["ename"], output["evalue"]
    return None


@pytest.mark.parametrize("solution", [pytest.param(p, id=p.stem) for p in SOLUTIONS])
def test_wrong_answers_fail_their_part(solution: Path):
    exercise = ROOT / "exercises" / solution.name
    assert exercise.exists(), f"{exercise} is missing: run `python -m dat_edu.course.exercises`"
    try:
        wrong = wrong_answers(solution)
    except ModuleNotFoundError:
        pytest.fail(f"no wrong answers for {solution.name}: add tests/wrong_answers/ex{solution.stem}.py")

    sol = nbformat.read(solution, as_version=4)
    exe = nbformat.read(exercise, as_version=4)
    checks = check_cells(exe)
    regions = solution_regions(sol)
    assert len(regions) == len(checks), (
        f"{solution.name}: {len(regions)} solution regions but {len(checks)} check cells; "
        "the harness needs one region per part"
    )
    missing = sorted(set(checks) - {p for p, answers in wrong.items() if answers})
    assert not missing, f"{solution.name}: parts {missing} have no wrong answer in tests/wrong_answers"

    # The learner's view with the solutions filled in: solution cells, exercise check cells.
    learner = copy.deepcopy(sol)
    for index in checks.values():
        learner.cells[index] = copy.deepcopy(exe.cells[index])
    client = NotebookClient(
        learner, timeout=300, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(solution.parent)}},
    )
    problems = []
    with client.setup_kernel(env=kernel_env()):
        for index, cell in enumerate(learner.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
                assert error_of(cell) is None, f"{solution.name} cell {index} fails with the solution: {error_of(cell)}"
        for part, answers in sorted(wrong.items()):
            cell_index, match = regions[part - 1]
            original = learner.cells[cell_index]
            for description, code, *hint in answers:
                broken = copy.deepcopy(original)
                broken.source = with_body(original.source, match, code)
                client.execute_cell(broken, cell_index)
                check = copy.deepcopy(learner.cells[checks[part]])
                client.execute_cell(check, checks[part])
                error = error_of(check)
                if error is None:
                    problems.append(f"part {part}: wrong answer passes: {description}")
                elif error[0] != "ExerciseCheckFailed" or not error[1].startswith(f"Part {part} ("):
                    problems.append(f"part {part}: {description}: unfriendly failure {error[0]}: {error[1][:200]}")
                elif hint and hint[0] not in error[1]:
                    problems.append(f"part {part}: {description}: the message does not say {hint[0]!r}: {error[1][:200]}")
                client.execute_cell(copy.deepcopy(original), cell_index)
    assert not problems, f"{solution.name}:\n  " + "\n  ".join(problems)


def test_harness_notices_a_correct_answer_that_is_offered_as_wrong():
    """The harness itself can fail: substituting the real solution body is not a wrong answer."""
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    match = next(REGION.finditer(source))
    assert with_body(source, match, "return x - 1") == "def f(x):\n    return x - 1\n"
    assert match.group("body") == "    return x + 1\n"
