"""Generate ``exercises/`` from ``solutions/`` (solutions are the single source).

Usage::

    python -m dat_edu.course.exercises            # solutions/*.ipynb -> exercises/*.ipynb
    python -m dat_edu.course.exercises --check    # exit 1 and list differences if exercises/ is stale
    python -m dat_edu.course.exercises --backup   # also replace exercises that hold a learner's work,
                                                  # after copying each to backups/exercises/
    python -m dat_edu.course.exercises --solutions solutions --exercises exercises

Learners work in ``exercises/`` in place, so the generator never overwrites an
exercise that changed since it was generated (see :func:`holds_changes` and
:mod:`dat_edu.course.provenance`): one generated from the current solution is
left as it is; a stale one is left too and the command exits 1 saying so,
unless ``--backup`` is given.

How to mark up a solution notebook (``solutions/NN_name.ipynb``)
----------------------------------------------------------------
* Solution code: put it between two lines ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` (any indent; the marker lines must contain nothing else).
  The exercise gets ``# YOUR CODE HERE`` and ``raise NotImplementedError()``
  at the indent of the ``### BEGIN SOLUTION`` line::

      def bilinear_weights(frac):
          \"\"\"...\"\"\"
          ### BEGIN SOLUTION
          ...
          ### END SOLUTION

* Written answers (markdown cells): the same markers; the exercise shows
  ``YOUR ANSWER HERE`` in place of the region.
* Check cells: a code cell tagged ``check:partN`` (N = 1, 2, ...; one check
  cell per part, one check tag per cell), cell metadata
  ``"dat_edu": {"points": P, "uses": ["name", ...]}`` (points default 1),
  body ``with part(N, "short name"): ...`` using
  :mod:`dat_edu.course.checks`. Its only output is ``Part N (<name>): passed``.
  Hidden tests go between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` inside a check cell (nowhere else); in the
  exercise they are replaced by the comment line
  ``# (more tests run here when your notebook is graded)``. Keep a visible line in the block.
* ``uses`` (required) lists every name the check reads from the learner's
  notebook: the functions, classes or values that the learner's part defines
  (top-level names bound in earlier code cells that contain a solution region).
  The grader gives the check exactly these names from the learner's notebook
  and nothing else, so the generator rejects a check that reads a learner name
  it does not list, or lists a name no earlier solution cell defines.
* Everything else (lesson text, demo code) is copied unchanged.
* Notebook metadata ``"dat_edu": {"exercise": "NN_name"}`` (the file stem) is
  written into the solution and the exercise by this generator; the grader
  uses it to recognise renamed submissions. Don't edit it.
* Execute the solution notebook (``python -m dat_edu.course.execute
  solutions/NN_name.ipynb``) so its committed outputs pass nbval, then run
  this generator and commit both notebooks.

How a check cell is graded (write every check for this)
-------------------------------------------------------
The learner's notebook runs in a sandbox; the grader's judge, another process, runs the
solution's full check cell (visible + hidden tests) in the state the *solution* notebook has at
that point: its setup values, helpers and random inputs are the solution's, the same for every
learner. Each ``uses`` name is bound to what the learner's notebook holds when it reaches the check:

* data is copied: tensors, numbers, strings, None, tuples, lists, dicts and sets of these, numpy
  arrays and scalars, dtypes, and modules made only of ``torch.nn`` / ``dat_edu`` layers. Values
  are read once, when the check starts.
* a function or class becomes a stand-in whose calls run the learner's code in the sandbox. A
  stand-in can only be called (or passed to a call such as ``forbid_calls``): no attributes
  (``f.__code__``), no ``isinstance(x, LearnerClass)``, no subclassing. The generator rejects a
  check that uses a learner function in any other way.
* Arguments go over by value: tensors (dense, on the CPU; gradients flow back through a call, so
  ``out.sum().backward()`` on a result works), Python data, dtypes, and ``torch.nn`` / ``dat_edu``
  modules by structure (their classes' code is never the learner's). In-place changes the learner's
  code makes to argument tensors, parameters and ``.training`` are copied back. A function, lambda
  or module defined by the check itself (a ``Halve`` stand-in for DropPath) stays in the judge and
  is called back. Aliasing between arguments (two views of one tensor) does not survive.
* Results come back the same way: callables as stand-ins, modules only when made of ``torch.nn`` /
  ``dat_edu`` layers. Anything else (an instance of the learner's own class, a generator, an open
  file) fails the part with a message that names what was returned. Exceptions come back as the
  same builtin type with the learner's message (``except ValueError`` works); other types keep
  their name.
* "Do not use X" is ``forbid_calls(fn, "X", args=...)`` and "how does it call X" is
  ``record_calls(fn, "X", args=...)`` (:mod:`dat_edu.course.forbid`): in the sandbox the named
  functions, their equivalents and their PyTorch operators raise (or are recorded) during the call.
  Never replace a library function in a check (``F.conv2d = spy`` does not reach the learner's
  process); the generator rejects it.
* A helper defined in an *earlier* check cell that reads a learner name sees the solution's
  function there: call the learner's functions only from the check that lists them in ``uses``.
* ``tests/test_exercises_grading.py`` grades every solution (full marks), every untouched exercise
  (0) and every wrong answer of ``tests/wrong_answers/`` (0) with the real grader.

The exercise notebook has all outputs and execution counts cleared (learners
run it), notebook metadata reduced to ``kernelspec``, ``language_info.name``
and ``dat_edu`` (so re-executing a solution never makes its exercise stale;
``dat_edu.generated`` is the fingerprint of the exercise's cells),
keeps cell ids and tags, and keeps only the ``dat_edu``, ``tags``,
``editable`` and ``deletable`` cell metadata; check cells are marked
``editable: false, deletable: false`` (JupyterLab honours both). The output
is deterministic (same bytes for the same solution), so ``--check`` is exact.
Unmatched, nested or malformed markers raise :class:`MarkupError` naming the
notebook and cell.
"""
from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dat_edu.course import provenance
from dat_edu.course.scan import gradable_problem

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = "YOUR ANSWER HERE"
HIDDEN_NOTE = "# (more tests run here when your notebook is graded)"
CHECK_TAG = re.compile(r"^check:part([1-9][0-9]*)$")
KEEP_CELL_METADATA = ("dat_edu", "tags", "editable", "deletable")
_MARKER_WORDS = re.compile(r"\b(BEGIN|END)\s+(SOLUTION|HIDDEN\s+TESTS)\b")
_EXACT = {BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN}


class MarkupError(ValueError):
    """A solution notebook's markers or tags are wrong; the message names notebook and cell."""


@dataclass
class PartSpec:
    """A graded part, read from a solution's check cell."""

    number: int
    name: str
    points: float
    cell_id: str | None
    full_source: str  # as in the solution (hidden tests included)
    exercise_source: str  # as in the exercise (hidden tests removed)
    uses: tuple[str, ...] = ()  # names the check reads from the learner's notebook


@dataclass
class ExerciseSpec:
    exercise: str  # file stem, e.g. "03_bilinear"
    path: Path
    parts: dict[int, PartSpec] = field(default_factory=dict)
    headings: list[str] = field(default_factory=list)


def _where(nb_name: str, index: int, cell) -> str:
    cid = cell.get("id")
    return f"{nb_name}: cell {index}" + (f" (id {cid})" if cid else "")


def cell_source(cell) -> str:
    """A cell's source as one string (notebooks may store it as a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def check_tags(cell) -> list[int]:
    """Part numbers from the ``check:partN`` tags of a cell."""
    return [int(m.group(1)) for t in cell.get("metadata", {}).get("tags", []) or [] if (m := CHECK_TAG.match(str(t)))]


def _replace_regions(text: str, where: str, kind: str) -> tuple[str, int, int]:
    """Replace solution regions and drop hidden-test regions.

    ``kind`` is "code" or "markdown". Returns (new text, n solution regions, n hidden regions).
    """
    out: list[str] = []
    state = None  # None, "solution", "hidden"
    start_line = 0
    n_sol = n_hidden = 0
    lines = text.splitlines(keepends=True)
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip()
        if _MARKER_WORDS.search(line) and stripped not in _EXACT:
            raise MarkupError(
                f"{where}, line {lineno}: malformed marker {stripped!r}; write exactly one of "
                f"{BEGIN_SOLUTION!r}, {END_SOLUTION!r}, {BEGIN_HIDDEN!r}, {END_HIDDEN!r} alone on its line"
            )
        if stripped in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if state is not None:
                raise MarkupError(
                    f"{where}, line {lineno}: {stripped!r} inside the {state} region opened on line "
                    f"{start_line}; regions cannot be nested: close it first"
                )
            state = "solution" if stripped == BEGIN_SOLUTION else "hidden"
            if state == "hidden" and kind != "code":
                raise MarkupError(f"{where}, line {lineno}: hidden tests belong in a check code cell, not in markdown")
            start_line = lineno
            if state == "solution":
                n_sol += 1
                indent = line[: len(line) - len(line.lstrip())]
                if kind == "code":
                    out.extend(f"{indent}{stub}\n" for stub in CODE_STUB)
                else:
                    out.append(f"{indent}{ANSWER_STUB}\n")
            else:
                n_hidden += 1
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f"{indent}{HIDDEN_NOTE}\n")  # honest: "passed" here is not the whole grade
            continue
        if stripped in (END_SOLUTION, END_HIDDEN):
            expected = END_SOLUTION if state == "solution" else END_HIDDEN if state == "hidden" else None
            if stripped != expected:
                opened = f"the {state} region opened on line {start_line}" if state else "no open region"
                raise MarkupError(f"{where}, line {lineno}: {stripped!r} does not match ({opened})")
            state = None
            continue
        if state is None:
            out.append(line)
    if state is not None:
        marker = BEGIN_SOLUTION if state == "solution" else BEGIN_HIDDEN
        raise MarkupError(f"{where}, line {start_line}: {marker!r} is never closed")
    new = "".join(out)
    if not text.endswith("\n") and new.endswith("\n"):
        new = new[:-1]
    return new, n_sol, n_hidden


def _code_lines(source: str) -> list[str]:
    return [line for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]


def _python_parses(source: str) -> str | None:
    """None if ``source`` parses (IPython magics allowed), else the error text."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:
        pass
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return f"{exc.msg} (line {exc.lineno})"
    return None


def _learner_defined_names(source: str) -> set[str]:
    """Top-level names bound by the statements of a solution cell that hold a solution region.

    A ``def`` or ``class`` whose body holds the region binds its name; an assignment written
    inside the region binds its targets. Lines outside the regions (setup the exercise shows)
    bind nothing here: a check reads those from the solution, not from the learner.
    """
    lines = source.splitlines()
    regions, start = [], None
    for lineno, line in enumerate(lines, 1):
        if line.strip() == BEGIN_SOLUTION:
            start = lineno
        elif line.strip() == END_SOLUTION and start is not None:
            regions.append((start, lineno))
            start = None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        end = getattr(node, "end_lineno", node.lineno)
        if not any(node.lineno <= b and a <= end for a, b in regions):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        else:
            names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


def _names_read(source: str) -> set[str]:
    """Every bare name a cell reads (free or not: a conservative superset)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _check_uses(where: str, n: int, meta: dict, source: str, learner_names: set[str]) -> tuple[str, ...]:
    """Validate ``dat_edu.uses`` of check cell ``n`` against the learner names defined so far."""
    read = _names_read(source) & learner_names
    uses = meta.get("uses")
    hint = f' (this check reads {sorted(read)}: write "uses": {sorted(read)!r})'.replace("'", '"') if read else ""
    if not isinstance(uses, list) or not uses or not all(isinstance(u, str) and u.isidentifier() for u in uses):
        raise MarkupError(
            f"{where}: metadata dat_edu.uses must be a non-empty list of the names the check of part {n} "
            f"reads from the learner's notebook{hint}"
        )
    unknown = sorted(set(uses) - learner_names)
    if unknown:
        raise MarkupError(
            f"{where}: dat_edu.uses names {unknown}, which no earlier cell with a solution region defines; "
            f"learner names defined so far: {sorted(learner_names)}"
        )
    unlisted = sorted(read - set(uses))
    if unlisted:
        raise MarkupError(
            f"{where}: the check reads {unlisted}, defined by the learner's part, but dat_edu.uses does not "
            "list them (the grader would not give the check the learner's version): add them to uses"
        )
    return tuple(uses)


def _part_name(source: str, number: int) -> str:
    m = re.search(rf"\bpart\(\s*{number}\s*,\s*(['\"])(.+?)\1", source)
    return m.group(2) if m else f"part {number}"


def exercise_id(path: Path) -> str:
    return Path(path).stem


def headings(nb) -> list[str]:
    """The notebook's markdown headings, lower-cased (used to recognise renamed submissions)."""
    out = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell_source(cell).splitlines():
                if re.match(r"^#{1,6}\s", line):
                    out.append(re.sub(r"\s+", " ", line.lstrip("#").strip().lower()))
    return out


def make_exercise(solution, name: str) -> tuple[nbformat.NotebookNode, ExerciseSpec]:
    """Build the exercise notebook (a new object) and the grading spec from a solution notebook.

    ``name`` is the solution's file stem; it becomes ``metadata.dat_edu.exercise``.
    """
    nb = copy.deepcopy(solution)
    spec = ExerciseSpec(exercise=name, path=Path(name))
    learner_names: set[str] = set()  # top-level names bound by cells with a solution region so far
    code_so_far: list[str] = []  # sources of the code cells before this one (for the gradability rules)
    for index, cell in enumerate(nb.cells):
        where = _where(name, index, cell)
        src = cell_source(cell)
        parts = check_tags(cell)
        if len(parts) > 1:
            raise MarkupError(f"{where}: a cell can check only one part, it has tags {parts}")
        if cell.cell_type in ("code", "markdown"):
            new, n_sol, n_hidden = _replace_regions(src, where, cell.cell_type)
        else:
            new, n_sol, n_hidden = src, 0, 0
        if parts and cell.cell_type != "code":
            raise MarkupError(f"{where}: tag check:part{parts[0]} is on a {cell.cell_type} cell; tag the check code cell")
        if n_hidden and not parts:
            raise MarkupError(f"{where}: hidden tests are only allowed in a check cell (tag it check:partN)")
        if parts:
            n = parts[0]
            if n in spec.parts:
                raise MarkupError(f"{where}: part {n} already has a check cell (cell id {spec.parts[n].cell_id})")
            if n_sol:
                raise MarkupError(f"{where}: a check cell must not contain a solution region")
            numbers = {int(k) for k in re.findall(r"\bpart\(\s*(\d+)", src)}
            if numbers - {n}:
                raise MarkupError(f"{where}: tagged check:part{n} but calls part({sorted(numbers - {n})[0]}, ...)")
            if not _code_lines(new):
                raise MarkupError(f"{where}: the check cell is empty once hidden tests are removed; keep a visible check")
            meta = cell.metadata.get("dat_edu") or {}
            points = meta.get("points", 1)
            if not isinstance(points, (int, float)) or isinstance(points, bool) or points < 0:
                raise MarkupError(f"{where}: metadata dat_edu.points must be a number >= 0, got {points!r}")
            uses = _check_uses(where, n, meta, src, learner_names)
            problem = gradable_problem(src, uses, code_so_far)
            if problem:
                raise MarkupError(f"{where}: {problem}")
            spec.parts[n] = PartSpec(n, meta.get("name") or _part_name(src, n), points, cell.get("id"), src, new, uses)
        elif cell.cell_type == "code" and n_sol:
            learner_names |= _learner_defined_names(src)
        if cell.cell_type == "code" and (n_sol or n_hidden):
            err = _python_parses(new)
            if err:
                raise MarkupError(f"{where}: the exercise version of this cell does not parse: {err}")
        if cell.cell_type == "code":
            code_so_far.append(src)
        cell.source = new
        meta = {k: cell.metadata[k] for k in KEEP_CELL_METADATA if k in cell.metadata}
        if parts:
            meta["editable"] = False
            meta["deletable"] = False
        cell.metadata = nbformat.from_dict(meta)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    if spec.parts:
        missing = sorted(set(range(1, max(spec.parts) + 1)) - set(spec.parts))
        if missing:
            raise MarkupError(f"{name}: parts are numbered 1..{max(spec.parts)} but part(s) {missing} have no check cell")
    # Notebook metadata: only what does not depend on where/when the solution was executed
    # (language_info.version etc. would make exercises/ stale after every re-execution).
    old_meta = nb.metadata
    meta = {"dat_edu": {**dict(old_meta.get("dat_edu") or {}), "exercise": name}}
    if "kernelspec" in old_meta:
        meta["kernelspec"] = old_meta["kernelspec"]
    meta["language_info"] = {"name": (old_meta.get("language_info") or {}).get("name", "python")}
    nb.metadata = nbformat.from_dict(meta)
    spec.headings = headings(solution)
    return nb, spec


def notebook_bytes(nb) -> bytes:
    """Serialise exactly as nbformat.write does (sorted keys, indent 1, final newline)."""
    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_notebook(path: Path):
    with open(path, encoding="utf-8") as fh:
        return nbformat.read(fh, as_version=4)


def load_spec(path: Path) -> ExerciseSpec:
    """Grading spec of one solution notebook."""
    path = Path(path)
    _, spec = make_exercise(read_notebook(path), exercise_id(path))
    spec.path = path
    return spec


def solution_notebooks(solutions: Path) -> list[Path]:
    return sorted(p for p in Path(solutions).glob("*.ipynb") if not p.name.startswith("."))


def _give_missing_ids(raw: dict, nb, name: str) -> bool:
    """nbformat invents *random* ids for cells saved without one; use stable ones instead.

    Returns True when ``nb`` got new ids (the solution file should be rewritten).
    """
    if nb.get("nbformat_minor", 0) < 5:
        return False
    raw_cells = raw.get("cells", [])
    changed = False
    taken = {c.get("id") for c in raw_cells if c.get("id")}
    for index, (rc, cell) in enumerate(zip(raw_cells, nb.cells)):
        if not rc.get("id"):
            salt = 0
            while True:
                cid = hashlib.sha1(f"{name}:{index}:{salt}".encode()).hexdigest()[:8]
                if cid not in taken:
                    break
                salt += 1
            cell["id"] = cid
            taken.add(cid)
            changed = True
    return changed


@dataclass
class Plan:
    writes: dict[Path, bytes] = field(default_factory=dict)  # path -> new bytes (stale or missing)
    extra: list[Path] = field(default_factory=list)  # exercises without a solution


def generate(sol_path: Path) -> tuple[bytes | None, bytes]:
    """(new bytes for the solution if it needs ids/metadata, else None; exercise bytes)."""
    sol_path = Path(sol_path)
    name = exercise_id(sol_path)
    raw = sol_path.read_bytes()
    sol = nbformat.reads(raw.decode("utf-8"), as_version=4)
    fix_solution = _give_missing_ids(json.loads(raw), sol, name)
    ex, _ = make_exercise(sol, name)
    provenance.stamp_generated(ex)
    if (sol.metadata.get("dat_edu") or {}).get("exercise") != name:
        sol.metadata["dat_edu"] = {**dict(sol.metadata.get("dat_edu") or {}), "exercise": name}
        fix_solution = True
    return (notebook_bytes(sol) if fix_solution else None), notebook_bytes(ex)


def plan(solutions: Path, exercises: Path) -> Plan:
    """Compute what the generator would write (only files whose bytes differ)."""
    result = Plan()
    solutions, exercises = Path(solutions), Path(exercises)
    names = set()
    for sol_path in solution_notebooks(solutions):
        names.add(exercise_id(sol_path))
        sol_bytes, data = generate(sol_path)
        if sol_bytes is not None:
            result.writes[sol_path] = sol_bytes
        ex_path = exercises / sol_path.name
        if not ex_path.exists() or ex_path.read_bytes() != data:
            result.writes[ex_path] = data
    if exercises.is_dir():
        for p in sorted(exercises.glob("*.ipynb")):
            if p.stem not in names:
                result.extra.append(p)
    return result


def holds_changes(path: Path, data: bytes) -> bool:
    """True if the exercise at ``path`` is not what the generator last wrote (a learner's work).

    ``data``: what the generator would write now. An exercise written before fingerprints existed
    counts as untouched only if its cells are exactly those it would get now.
    """
    try:
        nb = read_notebook(path)
    except Exception:  # unreadable: still someone's file; never replace it silently
        return True
    if provenance.recorded(nb, provenance.GENERATED) is None:
        return provenance.fingerprint(nb) != provenance.fingerprint(nbformat.reads(data.decode(), as_version=4))
    return not provenance.untouched(nb, provenance.GENERATED)


def hold_back(todo: Plan, exercises: Path) -> dict[Path, bytes]:
    """Take out of ``todo.writes`` the existing exercises that hold changes; return them."""
    held = {p: data for p, data in todo.writes.items()
            if p.parent == exercises and p.exists() and holds_changes(p, data)}
    for path in held:
        del todo.writes[path]
    return held


def generated_from_current(path: Path, data: bytes) -> bool:
    """Was the exercise at ``path`` (which holds changes) generated from the current solution?"""
    try:
        old = provenance.recorded(read_notebook(path), provenance.GENERATED)
    except Exception:
        return False
    return old == provenance.recorded(nbformat.reads(data.decode(), as_version=4), provenance.GENERATED)


def report_held(held: dict[Path, bytes], todo: Plan, backup: bool, check: bool) -> list[str]:
    """Handle the exercises that hold a learner's changes; return the problems (exit 1 if any).

    Never overwrites them. One generated from the current solution is left as it is (nothing new
    to get). A stale one (its solution changed since) is named by ``--check``; ``--backup`` copies
    it to ``backups/`` and regenerates it; otherwise it is left, with a message saying how to get
    the new version.
    """
    problems = []
    for path, data in held.items():
        if generated_from_current(path, data):
            print(f"note: {path} holds changes made since it was generated (your work?); it is up to date "
                  "with its solution, so it was left as it is")
        elif check:
            problems.append(f"{path}: stale (its solution changed) and it holds changes made since it was "
                            "generated: run with --backup to keep your version under backups/ and regenerate")
        elif backup:
            kept = provenance.keep_backup(path)
            print(f"kept your version of {path} as {kept}")
            todo.writes[path] = data
        else:
            problems.append(f"{path} was not replaced: its solution changed, but the file holds changes made since "
                            "it was generated (your work?). To get the new version, run again with --backup "
                            "(keeps yours under backups/) or move your file elsewhere first")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dat_edu.course.exercises", description=__doc__.split("\n\n")[0])
    ap.add_argument("--solutions", default="solutions", type=Path, help="folder of solution notebooks (default: solutions)")
    ap.add_argument("--exercises", default="exercises", type=Path, help="output folder (default: exercises)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 and list differences if stale")
    ap.add_argument("--backup", action="store_true",
                    help="exercises that hold changes (a learner's work): copy each to backups/, then regenerate it")
    args = ap.parse_args(argv)
    if not args.solutions.is_dir():
        ap.error(f"solutions folder {args.solutions} does not exist")
    try:
        todo = plan(args.solutions, args.exercises)
    except MarkupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    refused = report_held(hold_back(todo, args.exercises), todo, backup=args.backup, check=args.check)
    if args.check:
        problems = list(refused)
        for path in todo.writes:
            if path.parent == args.exercises:
                problems.append(f"{path}: {'stale' if path.exists() else 'missing'}")
            else:
                problems.append(f"{path}: metadata dat_edu.exercise or cell ids missing (the generator adds them)")
        problems += [f"{p}: has no solution notebook in {args.solutions}/ (delete it)" for p in todo.extra]
        if problems:
            print("exercises/ is out of date with solutions/:", file=sys.stderr)
            for line in problems:
                print(f"  {line}", file=sys.stderr)
            print("run: python -m dat_edu.course.exercises", file=sys.stderr)
            return 1
        print(f"exercises up to date ({len(solution_notebooks(args.solutions))} notebooks)")
        return 0
    args.exercises.mkdir(parents=True, exist_ok=True)
    for path, data in todo.writes.items():
        write_atomic(path, data)
        print(f"wrote {path}")
    for p in todo.extra:
        print(f"warning: {p} has no solution notebook; delete it", file=sys.stderr)
    for line in refused:
        print(f"error: {line}", file=sys.stderr)
    if not todo.writes and not refused:
        print("exercises already up to date")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
