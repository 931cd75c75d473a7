"""Reading a learner's notebook (untrusted JSON) and planning its run: which cell checks which part.

* The check cell of part N is the code cell tagged ``check:partN`` (the first one), else an
  untagged code cell whose source is exactly the exercise's check cell.
* A cell carrying several check tags is an error for each of those parts (0 points).
* A part whose check cell is missing gets it back: right after the learner's last cell that defines
  one of the names the check uses, else at the end.
* The learner's own check cells are never run: the harness only reports that the part is reached.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from dat_edu.course import scan
from dat_edu.course.exercises import ExerciseSpec, cell_source, check_tags

MAX_NOTEBOOK_BYTES = 32 << 20


@dataclass
class Cell:
    kind: str  # "code", "markdown", "check"
    source: str
    part: int | None = None
    number: int | None = None  # position in the learner's notebook (1-based, as shown); None if re-inserted


@dataclass
class Plan:
    cells: list[Cell] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # part -> why it cannot be graded
    notes: dict[int, list[str]] = field(default_factory=dict)  # part -> remarks for the flags column

    def code_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.kind in ("code", "check")]


def read(path: Path) -> tuple[dict | None, str | None]:
    """(notebook dict, None) or (None, error message). Symbolic links are refused."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if Path(path).is_symlink():
            return None, "is a symbolic link; submit the notebook file itself"
        return None, f"notebook could not be read: {exc.strerror or exc}"
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(MAX_NOTEBOOK_BYTES + 1)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        return None, f"notebook is larger than {MAX_NOTEBOOK_BYTES >> 20} MB; clear its outputs and submit it again"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "notebook is not valid JSON (not UTF-8 text); cannot grade it: re-save it from JupyterLab"
    except json.JSONDecodeError as exc:
        return None, f"notebook is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); cannot grade it: re-save it from JupyterLab"
    except RecursionError:
        return None, "notebook is not a readable notebook (nested too deeply)"
    if not isinstance(data, dict) or not isinstance(data.get("cells", data.get("worksheets")), list):
        return None, "file is JSON but not a Jupyter notebook (no cells); cannot grade it"
    return data, None


def _cells(data: dict) -> list[dict]:
    cells = data.get("cells")
    if cells is None:  # nbformat 3
        cells = [c for ws in data.get("worksheets", []) if isinstance(ws, dict) for c in ws.get("cells", [])]
    out = []
    for c in cells:
        if not isinstance(c, dict):
            continue
        kind = c.get("cell_type")
        src = c.get("source", c.get("input", ""))
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            src = ""
        meta = c.get("metadata") if isinstance(c.get("metadata"), dict) else {}
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        out.append({"cell_type": kind, "source": src, "metadata": {"tags": [t for t in tags if isinstance(t, str)]}})
    return out


def plan(data: dict, spec: ExerciseSpec) -> Plan:
    result = Plan()
    found: dict[int, int] = {}  # part -> index into result.cells
    exercise_sources = {p.exercise_source.strip(): n for n, p in spec.parts.items()}
    for number, c in enumerate(_cells(data), 1):
        kind = c["cell_type"]
        if kind not in ("code", "markdown"):
            continue
        source = cell_source(c)
        parts = check_tags(c) if kind == "code" else []
        if len(parts) > 1:
            for n in parts:
                if n in spec.parts:
                    result.errors[n] = (f"cell {number} carries the tags {', '.join(f'check:part{m}' for m in parts)}; "
                                        "a cell may check only one part: restore the check cells from the exercise")
        n = parts[0] if len(parts) == 1 else exercise_sources.get(source.strip()) if kind == "code" and not parts else None
        if n in spec.parts and n not in found and n not in result.errors:
            found[n] = len(result.cells)
            result.cells.append(Cell("check", source, n, number))
        else:
            if n in found:
                result.notes.setdefault(n, []).append(f"cell {number} is a second check cell for part {n}; the first one is graded")
            result.cells.append(Cell(kind, source, None, number))
    for n, p in sorted(spec.parts.items()):
        if n in found or n in result.errors:
            continue
        at = _insert_position(result.cells, p.uses)
        where = f"after cell {result.cells[at - 1].number}" if at else "at the start"
        if at == len(result.cells):
            where = "at the end"
        result.cells.insert(at, Cell("check", p.exercise_source, n, None))
        result.notes.setdefault(n, []).append(f"the check cell of part {n} was missing; it was put back {where}")
    return result


def _insert_position(cells: list[Cell], uses: tuple[str, ...]) -> int:
    """After the last code cell that defines one of ``uses`` at top level, else at the end."""
    last = None
    for i, c in enumerate(cells):
        if c.kind != "code":
            continue
        tree = scan.parse(c.source)
        if tree is not None and set(uses) & set(scan.top_level_names(tree)):
            last = i
    return len(cells) if last is None else last + 1
