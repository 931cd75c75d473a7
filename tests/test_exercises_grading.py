"""The real course exercises, graded by the sandboxed grader, in one class run (module fixture).

* The solution notebook, submitted as if by a learner, earns full marks.
* The untouched exercise notebook earns 0 on every part, with the friendly ``Part N ...`` message.
* Every wrong answer of ``tests/wrong_answers/`` (which ``tests/test_wrong_answers.py`` shows the
  in-notebook check cells reject) is rejected by the grader too: learner ``NN-wrong-j`` holds the
  j-th wrong answer of every part (the correct code where a part has fewer), so a part with a wrong
  answer must score 0 with a ``Part N (`` message and a part with the correct code full marks.
  ``DAT_EDU_WRONG_ANSWERS=k`` grades only the first k wrong answers per part (all by default).

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
LIMIT = int(os.environ.get("DAT_EDU_WRONG_ANSWERS", "0")) or None


def wrong_variants(solution: Path) -> list[tuple[object, dict[int, str]]]:
    """(notebook, {part: description}) for j = 1, 2, ...: the j-th wrong answer of every part."""
    sol = nbformat.read(solution, as_version=4)
    exe = nbformat.read(ROOT / "exercises" / solution.name, as_version=4)
    learner = copy.deepcopy(sol)
    for index in check_cells(exe).values():
        learner.cells[index] = copy.deepcopy(exe.cells[index])
    wrong = wrong_answers(solution)
    regions = solution_regions(sol)
    learner_names = {n for i, _ in regions for n in gen._learner_defined_names(sol.cells[i].source)}
    depth = max(len(v) for v in wrong.values())
    out = []
    for j in range(min(depth, LIMIT or depth)):
        nb, used, edits = copy.deepcopy(learner), {}, {}
        for part, answers in wrong.items():
            if j < len(answers):
                index, match = regions[part - 1]
                edits.setdefault(index, []).append((match, answers[j][1]))
                used[part] = answers[j][0]
                tree = scan.parse("def _answer():\n" + textwrap.indent(answers[j][1], "    "))
                names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()
                others = learner_names - gen._learner_defined_names(sol.cells[index].source)
                assert not names & others, f"{solution.name} part {part}: a wrong answer uses another part's function"
        for index, items in edits.items():
            source = sol.cells[index].source
            for match, code in sorted(items, key=lambda mc: -mc[0].start()):
                source = with_body(source, match, code)
            nb.cells[index].source = source
        out.append((nb, used))
    return out


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    subs = tmp_path_factory.mktemp("class")
    expected: dict[str, tuple[Path, dict[int, str] | None]] = {}
    for solution in SOLUTIONS:
        for who, path in (("solution", solution), ("untouched", ROOT / "exercises" / solution.name)):
            (subs / f"{solution.stem}-{who}").mkdir()
            (subs / f"{solution.stem}-{who}" / solution.name).write_bytes(path.read_bytes())
        for j, (nb, used) in enumerate(wrong_variants(solution), 1):
            name = f"{solution.stem}-wrong-{j}"
            (subs / name).mkdir()
            nbformat.write(nb, subs / name / solution.name)
            expected[name] = (solution, used)
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
    rows, expected = class_run
    problems, seen = [], 0
    for name, (sol, used) in expected.items():
        if sol != solution:
            continue
        for r in rows[(name, solution.stem)]:
            if r.part in used:
                seen += 1
                if r.points > 0:
                    problems.append(f"part {r.part}: wrong answer passes when graded: {used[r.part]}")
                elif not r.message.startswith(f"Part {r.part} ("):
                    problems.append(f"part {r.part}: {used[r.part]}: unfriendly grade {r.message[:200]}")
            elif r.points != r.max_points:
                problems.append(f"part {r.part}: correct code next to wrong answers fails: {r.message[:200]}")
    assert seen and not problems, f"{solution.name}:\n  " + "\n  ".join(problems)
