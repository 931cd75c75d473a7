"""The commands a learner is told to type are the same everywhere: README, lesson 00, every exercise."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SELF_CHECK = ".venv/bin/python -m pytest --nbval --nbval-current-env exercises/{}.ipynb"
# any command line that runs pytest on an exercise, however it is spelled
PYTEST_ON_EXERCISE = re.compile(r"(?:[\w./-]+ -m )?[\w./-]*pytest\b[^\n`]*?exercises/[^\s`]+")
ROOT_ARGS = 'make lab LAB_ARGS="--allow-root --no-browser"'
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def markdown(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def commands(text: str) -> list[str]:
    return [m.group(0) for m in PYTEST_ON_EXERCISE.finditer(text)]


def well_formed(cmd: str) -> bool:
    return re.fullmatch(re.escape(SELF_CHECK).replace(r"\{\}", r"(\d\d_\w+|NN_name)"), cmd) is not None


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_exercise_header_names_its_own_self_check(path):
    header = nbformat.read(path, as_version=4).cells[0]
    assert header.cell_type == "markdown" and header.source.startswith("# Exercise"), "the first cell is the header"
    assert commands(header.source) == [SELF_CHECK.format(path.stem)], commands(header.source)
    assert f"Work in this notebook itself,\n`exercises/{path.stem}.ipynb`" in header.source


@pytest.mark.parametrize("where", ["README.md", "notebooks/00_start_here.ipynb"])
def test_readme_and_lesson_00_give_the_same_commands(where):
    text = (ROOT / where).read_text() if where.endswith(".md") else markdown(ROOT / where)
    found = commands(text)
    assert found, f"{where} shows no self-check command"
    assert all(well_formed(c) for c in found), f"{where}: {[c for c in found if not well_formed(c)]}"
    assert ROOT_ARGS in text, f"{where} must show how to start the course as root: {ROOT_ARGS}"


def test_the_check_catches_a_variant():
    assert not well_formed(".venv/bin/pytest --nbval exercises/03_sampling.ipynb")
    assert not well_formed("pytest --nbval --nbval-current-env exercises/NN_name.ipynb")
    assert commands("run `pytest --nbval exercises/03_sampling.ipynb` now") == ["pytest --nbval exercises/03_sampling.ipynb"]
    assert well_formed(SELF_CHECK.format("03_sampling"))
