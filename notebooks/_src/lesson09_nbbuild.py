"""Notebook writer shared by the generators of lessons 09 and 10 (lesson09.py, lesson10.py).

Cells are ("md" | "code", source) pairs; `write` makes a notebook with stable cell ids (so
regenerating does not churn the diff) and no outputs. Execute afterwards from a fresh kernel:
    python -m dat_edu.course.execute notebooks/09_training.ipynb
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent


def write(cells: list[tuple[str, str]], name: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    stem = name.split("_")[0]
    for i, (kind, src) in enumerate(cells):
        src = textwrap.dedent(src).strip("\n")
        cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        cell.id = f"l{stem}-{i:02d}"
        nb.cells.append(cell)
    path = NOTEBOOKS / name
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path


def update_markdown(cells: list[tuple[str, str]], name: str) -> Path:
    """Copy the markdown of `cells` into the executed notebook `name`, keeping its code and outputs.

    For text-only edits: no re-execution needed. Refuses if the code cells differ from `cells`.
    """
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    if len(nb.cells) != len(cells):
        raise ValueError(f"{name} has {len(nb.cells)} cells, the generator {len(cells)}: regenerate and execute")
    for cell, (kind, src) in zip(nb.cells, cells):
        src = textwrap.dedent(src).strip("\n")
        if cell.cell_type != ("markdown" if kind == "md" else "code"):
            raise ValueError(f"cell {cell.id} changed type: regenerate and execute")
        if kind == "md":
            cell.source = src
        elif cell.source != src:
            raise ValueError(f"code of cell {cell.id} changed: regenerate and execute")
    nbformat.write(nb, path)
    return path
