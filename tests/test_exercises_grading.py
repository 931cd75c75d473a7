"""The real course exercises, graded by the sandboxed grader, in one class run (module fixture).

* The solution notebook, submitted as if by a learner, earns full marks.
* The untouched exercise notebook earns 0 on every part, with the friendly ``Part N ...`` message.
* Every wrong answer of ``tests/wrong_answers/`` (which ``tests/test_wrong_answers.py`` shows the
  in-notebook check cells reject) is rejected by the grader too. Learner ``NN-wrong-j`` holds wrong
  answers of several parts at once (two parts only when neither one's code reaches the other's
  function) and the correct code elsewhere: a part with a wrong answer must score 0 with a
  ``Part N (`` message, a part with correct code full marks (unless it calls a wrong one).
  This runs only with ``DAT_EDU_WRONG_ANSWERS=k`` (the first k wrong answers of every part; ``=1``
  is 50 wrong answers in 12 notebooks) or ``=all`` (293 in 99 notebooks,
  several minutes); by default it is skipped, for CI time: every wrong answer is rejected by its
  check cell in ``tests/test_wrong_answers.py``, the grader runs that same check code, and the
  grading tests reject wrong answers of the tiny exercise and of exercise 03 through the sandbox.

Skipped (with a reason) only while solutions/ is empty.
"""
from __future__ import annotations

import ast
import copy
import os
import textwrap
from pathlib import Path

import nbformat
import pytest

from dat_edu.course import exercises as gen
from dat_edu.course import grade, scan
from tests.test_wrong_answers import check_cells, solution_regions, with_body, wrong_answers

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = gen.solution_notebooks(ROOT / "solutions") if (ROOT / "solutions").is_dir() else []
PARAMS = [pytest.param(p, id=p.stem) for p in SOLUTIONS] or [
    pytest.param(None, id="solutions-empty", marks=pytest.mark.skip(reason="no notebooks in solutions/ yet"))
]
_LIMIT = os.environ.get("DAT_EDU_WRONG_ANSWERS", "0")
LIMIT = None if _LIMIT == "all" else int(_LIMIT)  # the first LIMIT wrong answers of every part (CI time)


def _names(code: str) -> set[str]:
    tree = scan.parse("def _answer():\n" + textwrap.indent(code, "    "))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()


def wrong_variants(solution: Path) -> list[tuple[object, dict[int, str], set[int]]]:
    """Learner notebooks holding the wrong answers, several parts at a time: (notebook, {part:
    description}, parts whose correct code calls a wrongly answered part). Two parts share a notebook
    only if neither one's code (solution or wrong answer) reaches the other's function."""
    sol = nbformat.read(solution, as_version=4)
    exe = nbformat.read(ROOT / "exercises" / solution.name, as_version=4)
    learner = copy.deepcopy(sol)
    for index in check_cells(exe).values():
        learner.cells[index] = copy.deepcopy(exe.cells[index])
    wrong, regions = wrong_answers(solution), solution_regions(sol)
    owner = {name: part for part, (index, _) in enumerate(regions, 1) for name in gen._learner_defined_names(sol.cells[index].source)}

    def reaches(part: int, code: str | None = None) -> set[int]:
        todo, seen = [part], set()
        while todo:
            p = todo.pop()
            source = code if p == part and code is not None else sol.cells[regions[p - 1][0]].source
            for q in {owner[n] for n in _names(source) if n in owner} - {p} - seen:
                seen.add(q)
                todo.append(q)
        return seen

    notebooks: list[dict[int, tuple[str, str]]] = []
    for part, answers in sorted(wrong.items()):
        for j, answer in enumerate(answers[:LIMIT]):
            mine = reaches(part, answer[1])
            for chosen in notebooks:
                if part not in chosen and not any(q in mine or part in reaches(q, chosen[q][1]) for q in chosen):
                    break
            else:
                notebooks.append(chosen := {})
            chosen[part] = (answer[0], answer[1])
    out = []
    for chosen in notebooks:
        nb, edits = copy.deepcopy(learner), {}
        for part, (_, code) in chosen.items():
            index, match = regions[part - 1]
            edits.setdefault(index, []).append((match, code))
        for index, items in edits.items():
            source = sol.cells[index].source
            for match, code in sorted(items, key=lambda mc: -mc[0].start()):
                source = with_body(source, match, code)
            nb.cells[index].source = source
        broken = {p for p in owner.values() if p not in chosen and reaches(p) & set(chosen)}
        out.append((nb, {p: d for p, (d, _) in chosen.items()}, broken))
    return out


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    subs = tmp_path_factory.mktemp("class")
    expected: dict[str, tuple[Path, dict[int, str], set[int]]] = {}
    for solution in SOLUTIONS:
        for who, path in (("solution", solution), ("untouched", ROOT / "exercises" / solution.name)):
            (subs / f"{solution.stem}-{who}").mkdir()
            (subs / f"{solution.stem}-{who}" / solution.name).write_bytes(path.read_bytes())
        for j, (nb, used, broken) in enumerate(wrong_variants(solution), 1):
            name = f"{solution.stem}-wrong-{j}"
            (subs / name).mkdir()
            nbformat.write(nb, subs / name / solution.name)
            expected[name] = (solution, used, broken)
    result = grade.grade(subs, ROOT / "solutions", grade.Options(jobs=2, cell_timeout=300, notebook_timeout=900))
    rows: dict[tuple[str, str], list] = {}
    for r in result.rows:
        rows.setdefault((r.learner, r.exercise), []).append(r)
    return rows, expected


@pytest.mark.parametrize("solution", PARAMS)
def test_solution_earns_full_marks(class_run, solution):
    rows = class_run[0][(f"{solution.stem}-solution", solution.stem)]
    bad = [f"part {r.part}: {r.message}" for r in rows if r.points != r.max_points]
    assert rows and not bad, f"solutions/{solution.name} does not pass its own checks when graded:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("solution", PARAMS)
def test_untouched_exercise_earns_nothing(class_run, solution):
    rows = class_run[0][(f"{solution.stem}-untouched", solution.stem)]
    vacuous = [f"part {r.part} passes without any work" for r in rows if r.points > 0]
    unfriendly = [f"part {r.part}: {r.message}" for r in rows if not r.message.startswith(f"Part {r.part}")]
    assert not vacuous and not unfriendly, f"exercises/{solution.name}:\n  " + "\n  ".join(vacuous + unfriendly)


@pytest.mark.parametrize("solution", PARAMS)
def test_wrong_answers_are_rejected_by_the_grader_too(class_run, solution):
    if LIMIT == 0:
        pytest.skip("set DAT_EDU_WRONG_ANSWERS=1 (or =all) to grade the wrong answers of tests/wrong_answers/")
    rows, expected = class_run
    problems, seen = [], 0
    for name, (sol, used, broken) in expected.items():
        if sol != solution:
            continue
        for r in rows[(name, solution.stem)]:
            if r.part in used:
                seen += 1
                if r.points > 0:
                    problems.append(f"part {r.part}: wrong answer passes when graded: {used[r.part]}")
                elif not r.message.startswith(f"Part {r.part} ("):
                    problems.append(f"part {r.part}: {used[r.part]}: unfriendly grade {r.message[:200]}")
            elif r.points != r.max_points and r.part not in broken:
                problems.append(f"part {r.part}: correct code next to wrong answers fails: {r.message[:200]}")
    assert seen and not problems, f"{solution.name}:\n  " + "\n  ".join(problems)
