"""Grade a folder of exercise submissions into a CSV gradebook.

Usage::

    python -m dat_edu.course.grade SUBMISSIONS_DIR --solutions solutions --out gradebook.csv \\
        [--summary summary.md] [--cell-timeout 60] [--notebook-timeout 600] [--jobs 1]

Layout: ``SUBMISSIONS_DIR/<learner>/<any name>.ipynb`` (sub-folders allowed,
``.ipynb_checkpoints`` ignored). A submission is matched to its exercise by
notebook metadata ``dat_edu.exercise`` (written by the generator), else by a
fuzzy file name (``03 bilinear (1).ipynb`` -> ``03_bilinear``), else by its
markdown headings. Learners may add, split or reorder cells.

Grading (see :mod:`dat_edu.course.exercises` for how solutions are marked up):

* A part is the check cell tagged ``check:partN`` in the solution, worth its
  ``dat_edu.points`` (default 1). In the submission the check cell is found
  by the same tag, else by identical source; if neither exists the part gets 0
  with "check cell for part N is missing".
* The submission is executed in a temporary copy of the learner's folder
  (submissions are only read, never written) in a fresh kernel, top to bottom,
  continuing after errors, with a per-cell timeout (the cell is interrupted)
  and a per-notebook time limit. Each check cell's source is replaced by the
  solution's full check cell (visible checks + hidden tests), so edited check
  cells cannot change the result and hidden tests run right where the
  learner's check ran.
* A part scores its points iff that cell finished without an error; the
  message is the check's own ("Part 2 (offsets): ...") or says what went
  wrong (timeout, kernel died, earlier cell's error), one line per part.
* Broken notebooks (invalid JSON, syntax errors, infinite loops, missing
  imports, kernel crashes) give 0 for the affected parts with a clear message.

How to mark up a solution notebook: see :mod:`dat_edu.course.exercises`.

Output: CSV with columns ``learner, exercise, part, points, max_points,
message`` (one row per learner x exercise x part, plus rows for unmatched
notebooks); optional markdown summary with a per-learner table and totals.
Exit status 0 even when submissions fail; 2 for bad usage or broken solutions.
Kernels get ``DAT_EDU_GRADING=1`` in their environment (``DAT_EDU_FAST`` is
passed through if set).
"""
from __future__ import annotations

import argparse
import copy
import csv
import difflib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dat_edu.course.exercises import ExerciseSpec, MarkupError, _headings, _source, check_tags, load_spec, solution_notebooks

COLUMNS = ["learner", "exercise", "part", "points", "max_points", "message"]
PASSED = "passed"
_DROP_TAGS = {"raises-exception", "skip-execution", "nbval-skip"}


@dataclass
class Row:
    learner: str
    exercise: str
    part: int | str
    points: float
    max_points: float
    message: str

    def as_csv(self) -> list[str]:
        return [self.learner, self.exercise, str(self.part), _num(self.points), _num(self.max_points), self.message]


def _num(x: float) -> str:
    return f"{x:g}"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clean(evalue: str) -> str:
    """Drop ipykernel's temporary file names: "(676827692.py, line 1)" -> "(line 1)"."""
    return re.sub(r"\(\d+\.py, (line \d+)\)", r"(\1)", evalue)


def _cell_label(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return "`" + _short(line.strip(), 40) + "`"
    return "`" + _short(source.strip(), 40) + "`" if source.strip() else "(empty cell)"


# ---------------------------------------------------------------- matching --------

def _norm_stem(stem: str) -> str:
    s = stem.lower()
    s = re.sub(r"[-_ ]*copy\d*$", "", s)
    s = re.sub(r"\s*\(\d+\)$", "", s)
    s = re.sub(r"[^a-z0-9]+", " ", s)
    return s.strip()


def _leading_number(stem: str) -> int | None:
    m = re.match(r"\s*(\d+)", stem)
    return int(m.group(1)) if m else None


def _read_json(path: Path) -> tuple[dict | None, str | None]:
    """(notebook dict, None) or (None, error message)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"notebook could not be read: {exc.strerror or exc}"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "notebook is not valid JSON (not UTF-8 text); cannot grade it: re-save it from JupyterLab"
    except json.JSONDecodeError as exc:
        return None, f"notebook is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); cannot grade it: re-save it from JupyterLab"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, "file is JSON but not a Jupyter notebook (no cells); cannot grade it"
    return data, None


def match_score(path: Path, data: dict | None, spec: ExerciseSpec) -> float:
    """How well a submitted notebook matches an exercise (0 = not at all)."""
    if data is not None:
        meta = (data.get("metadata") or {}).get("dat_edu") or {}
        if isinstance(meta, dict) and meta.get("exercise") == spec.exercise:
            return 10.0
    stem, target = _norm_stem(path.stem), _norm_stem(spec.exercise)
    if stem == target:
        return 5.0
    score = 0.0
    n, m = _leading_number(stem), _leading_number(target)
    ratio = difflib.SequenceMatcher(None, stem, target).ratio()
    if n is not None and n == m:
        score = 3.0 + ratio
    elif ratio >= 0.6 and (n is None or m is None):
        score = 2.0 + ratio
    if score == 0.0 and data is not None and spec.headings:
        try:
            heads = set(_headings(nbformat.from_dict(data)))
        except Exception:
            heads = set()
        mine = set(spec.headings)
        overlap = len(heads & mine) / max(1, len(heads | mine))
        if overlap >= 0.5:
            score = 1.0 + overlap
    return score


def match_submissions(paths: list[Path], specs: list[ExerciseSpec]) -> tuple[dict[str, Path], list[str]]:
    """Assign notebooks to exercises. Returns ({exercise: path}, notes about the rest)."""
    notes: list[str] = []
    candidates: list[tuple[float, str, str]] = []  # (score, path, exercise)
    for path in paths:
        data, _ = _read_json(path)
        for spec in specs:
            s = match_score(path, data, spec)
            if s > 0:
                candidates.append((s, str(path), spec.exercise))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    chosen: dict[str, Path] = {}
    used: set[str] = set()
    for score, path, ex in candidates:
        if ex in chosen or path in used:
            continue
        chosen[ex] = Path(path)
        used.add(path)
    for path in paths:
        if str(path) not in used:
            others = [c for c in candidates if c[1] == str(path)]
            if others:
                notes.append(f"{path.name}: also looks like {others[0][2]}, which is graded from {chosen[others[0][2]].name}; ignored")
            else:
                notes.append(f"{path.name}: could not be matched to any exercise; ignored")
    return chosen, notes


def learner_notebooks(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


# ---------------------------------------------------------------- execution -------

@dataclass
class CellResult:
    status: str  # "ok", "error", "timeout", "dead", "not run"
    ename: str = ""
    evalue: str = ""


@dataclass
class _Run:
    results: dict[int, CellResult] = field(default_factory=dict)
    stopped: str = ""  # why the run stopped early


def _kill_kernel(client) -> None:
    try:
        proc = client.km.provisioner.process  # LocalProvisioner's Popen
        os.killpg(proc.pid, signal.SIGKILL)  # the kernel runs in its own session
    except Exception:
        try:
            client.km.provisioner.process.kill()
        except Exception:
            pass


def execute_cells(nb, cwd: Path, cell_timeout: float, notebook_timeout: float) -> _Run:
    """Run every code cell of ``nb`` in a fresh kernel, continuing after errors."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from dat_edu.course.execute import CurrentEnvKernelManager, kernel_env

    run = _Run()
    replies: dict[int, dict] = {}
    client = NotebookClient(
        nb,
        kernel_manager_class=CurrentEnvKernelManager,
        timeout=int(max(1, cell_timeout)),
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "timeout", "traceback": []},
        record_timing=False,
        store_widget_state=False,
        shutdown_kernel="immediate",
        skip_cells_with_tag="dat-edu-grader-never-skips",
        iopub_timeout=4,
        on_cell_executed=lambda **kw: replies.__setitem__(kw["cell_index"], kw["execute_reply"]),
    )
    deadline = time.monotonic() + notebook_timeout
    watchdog = threading.Timer(notebook_timeout + 30, _kill_kernel, args=(client,))
    watchdog.daemon = True
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    try:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # learners' C-level prints
        with client.setup_kernel(cwd=str(cwd), env=kernel_env({"DAT_EDU_GRADING": "1"}), **quiet):
            watchdog.start()
            for pos, index in enumerate(code_cells):
                cell = nb.cells[index]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    run.stopped = f"the notebook time limit of {_num(notebook_timeout)} s was reached"
                    break
                limit = min(cell_timeout, remaining)
                client.timeout = max(1, int(limit + 0.999))
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    if time.monotonic() >= deadline:
                        run.results[index] = CellResult("timeout", "notebook", "")
                        run.stopped = f"the notebook time limit of {_num(notebook_timeout)} s was reached"
                    else:
                        run.results[index] = CellResult("dead")
                        run.stopped = f"the Python kernel died while running {_cell_label(cell.source)} (a crash, out of memory, or exit)"
                    break
                except CellTimeoutError:
                    run.results[index] = CellResult("timeout", "cell", _num(client.timeout))
                    continue
                reply = replies.get(index, {}).get("content", {})
                if reply.get("status", "ok") == "ok":
                    run.results[index] = CellResult("ok")
                elif reply.get("ename") == "CellTimeoutError":
                    why = "notebook" if limit < cell_timeout else "cell"
                    run.results[index] = CellResult("timeout", why, _num(client.timeout))
                else:
                    run.results[index] = CellResult("error", str(reply.get("ename", "Error")), _clean(str(reply.get("evalue", ""))))
                cell.outputs = []  # keep memory small; replies carry what we need
                if run.results[index].status == "timeout" and run.results[index].ename == "notebook":
                    run.stopped = f"the notebook time limit of {_num(notebook_timeout)} s was reached"
                    break
    except Exception as exc:  # kernel failed to start, zmq trouble, ...
        if not run.stopped:
            run.stopped = f"the notebook could not be run: {type(exc).__name__}: {_short(exc, 150)}"
    finally:
        watchdog.cancel()
    for index in code_cells:
        run.results.setdefault(index, CellResult("not run"))
    return run


# ---------------------------------------------------------------- grading ---------

def _find_check_cells(nb, spec: ExerciseSpec) -> dict[int, int]:
    """part number -> index of the learner's check cell (by tag, else by identical source)."""
    found: dict[int, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for n in check_tags(cell):
            if n in spec.parts and n not in found:
                found[n] = index
    taken = set(found.values())
    for n, p in spec.parts.items():
        if n in found:
            continue
        for index, cell in enumerate(nb.cells):
            if index not in taken and cell.cell_type == "code" and _source(cell).strip() == p.exercise_source.strip():
                found[n] = index
                taken.add(index)
                break
    return found


def _copy_folder(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.ipynb"), copy_function=shutil.copyfile, symlinks=True)
    for root, dirs, files in os.walk(dst):
        for name in dirs + files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR | stat.S_IRUSR | (stat.S_IXUSR if name in dirs else 0))


def grade_notebook(
    learner: str,
    path: Path,
    spec: ExerciseSpec,
    root: Path,
    cell_timeout: float = 60,
    notebook_timeout: float = 600,
) -> list[Row]:
    """Grade one submitted notebook against ``spec``; never raises, never writes ``path``."""
    parts = sorted(spec.parts.values(), key=lambda p: p.number)

    def all_parts(message: str) -> list[Row]:
        return [Row(learner, spec.exercise, p.number, 0, p.points, f"Part {p.number} ({p.name}): {message}") for p in parts]

    data, error = _read_json(path)
    if error:
        return all_parts(f"{path.name}: {error}")
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as exc:
        return all_parts(f"{path.name}: not a readable notebook ({type(exc).__name__}: {_short(exc, 120)})")
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            if isinstance(cell.get("source"), list):
                cell.source = "".join(cell.source)
            cell.outputs = []
            tags = [t for t in cell.get("metadata", {}).get("tags", []) or [] if t not in _DROP_TAGS]
            cell.metadata["tags"] = tags
    found = _find_check_cells(nb, spec)
    for n, index in found.items():
        nb.cells[index].source = spec.parts[n].full_source
    cwd_rel = path.parent.relative_to(root) if path.is_relative_to(root) else Path(".")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dat_edu_grade_") as tmp:
        work = Path(tmp) / "work"
        try:
            _copy_folder(root, work)
        except Exception:
            work.mkdir(exist_ok=True)
        cwd = work / cwd_rel
        cwd.mkdir(parents=True, exist_ok=True)
        run = execute_cells(nb, cwd, cell_timeout, notebook_timeout) if found else _Run()
    code_order = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for p in parts:
        label = f"Part {p.number} ({p.name})"
        if p.number not in found:
            rows.append(Row(learner, spec.exercise, p.number, 0, p.points, f"check cell for part {p.number} is missing"))
            continue
        index = found[p.number]
        res = run.results.get(index, CellResult("not run"))
        if res.status == "ok":
            rows.append(Row(learner, spec.exercise, p.number, p.points, p.points, PASSED))
            continue
        if res.status == "error":
            if res.ename == "ExerciseCheckFailed" and res.evalue.startswith(("Part ", "part ")):
                msg = res.evalue.replace(" (see the traceback above this message)", "")
            else:
                msg = f"{label}: the check raised {res.ename}: {res.evalue}"
        elif res.status == "timeout":
            if res.ename == "notebook":
                msg = f"{label}: not finished: {run.stopped or 'the notebook time limit was reached'}"
            else:
                msg = f"{label}: the check did not finish within {res.evalue} s and was interrupted"
        elif res.status == "dead":
            msg = f"{label}: the Python kernel died while running the check (a crash, out of memory, or exit)"
        else:
            msg = f"{label}: not graded because {run.stopped or 'the notebook did not run'}"
        # point at the first earlier learner cell that failed: usually the real cause
        for i in code_order:
            if i >= index:
                break
            r = run.results.get(i)
            if r and r.status in ("error", "timeout") and i not in found.values():
                what = (
                    f"did not finish within {r.evalue} s (an endless loop?)"
                    if r.status == "timeout"
                    else f"raised {r.ename}: {_short(r.evalue, 100)}"
                )
                msg += f" [first problem: earlier cell {_cell_label(nb.cells[i].source)} {what}]"
                break
        rows.append(Row(learner, spec.exercise, p.number, 0, p.points, _short(msg, 400)))
    return rows


def grade(
    submissions: Path,
    solutions: Path,
    cell_timeout: float = 60,
    notebook_timeout: float = 600,
    log=None,
    jobs: int = 1,
) -> tuple[list[Row], list[str]]:
    """Grade every learner folder in ``submissions``. Returns (rows, notes).

    ``jobs`` > 1 grades that many notebooks at once (one kernel each).
    """
    specs = [load_spec(p) for p in solution_notebooks(solutions)]
    specs = [s for s in specs if s.parts]
    notes: list[str] = []
    slots: list[list[Row] | tuple] = []  # rows, or a task to run: (learner, path, spec, folder)
    for entry in sorted(Path(submissions).iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            if entry.suffix == ".ipynb":
                notes.append(f"{entry.name}: not inside a learner folder; ignored (use SUBMISSIONS/<learner>/{entry.name})")
            continue
        learner = entry.name
        chosen, more = match_submissions(learner_notebooks(entry), specs)
        notes += [f"{learner}: {n}" for n in more]
        for n in more:
            if "could not be matched" in n:
                slots.append([Row(learner, "?", "", 0, 0, n)])
        for spec in specs:
            if spec.exercise in chosen:
                slots.append((learner, chosen[spec.exercise], spec, entry))
            else:
                slots.append([
                    Row(learner, spec.exercise, p.number, 0, p.points, "no notebook submitted for this exercise")
                    for p in sorted(spec.parts.values(), key=lambda p: p.number)
                ])

    def run_task(task: tuple) -> list[Row]:
        learner, path, spec, entry = task
        if log:
            log(f"grading {learner}/{path.relative_to(entry)} as {spec.exercise}")
        try:
            return grade_notebook(learner, path, spec, entry, cell_timeout, notebook_timeout)
        except Exception as exc:  # last line of defence: one bad notebook never stops the run
            return [
                Row(learner, spec.exercise, p.number, 0, p.points, f"grader error: {type(exc).__name__}: {_short(exc, 150)}")
                for p in sorted(spec.parts.values(), key=lambda p: p.number)
            ]

    tasks = [s for s in slots if isinstance(s, tuple)]
    if jobs > 1 and len(tasks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            done = dict(zip(map(id, tasks), pool.map(run_task, tasks)))
    else:
        done = {id(t): run_task(t) for t in tasks}
    rows: list[Row] = []
    for s in slots:
        rows += done[id(s)] if isinstance(s, tuple) else s
    return rows, notes


def write_csv(rows: list[Row], out: Path) -> None:
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow(r.as_csv())


def summary_markdown(rows: list[Row], notes: list[str]) -> str:
    exercises = sorted({r.exercise for r in rows if r.exercise != "?"})
    learners = sorted({r.learner for r in rows})
    got: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r.exercise == "?":
            continue
        acc = got.setdefault((r.learner, r.exercise), [0.0, 0.0])
        acc[0] += r.points
        acc[1] += r.max_points
    lines = ["# Gradebook summary", "", f"{len(learners)} learners, {len(exercises)} exercises.", ""]
    lines.append("| learner | " + " | ".join(exercises) + " | total |")
    lines.append("|---" * (len(exercises) + 2) + "|")
    for learner in learners:
        cells, tot, mx = [], 0.0, 0.0
        for ex in exercises:
            a, b = got.get((learner, ex), [0.0, 0.0])
            cells.append(f"{_num(a)}/{_num(b)}")
            tot, mx = tot + a, mx + b
        pct = f" ({100 * tot / mx:.0f}%)" if mx else ""
        lines.append(f"| {learner} | " + " | ".join(cells) + f" | {_num(tot)}/{_num(mx)}{pct} |")
    problems = [r for r in rows if r.message != PASSED]
    if problems:
        lines += ["", "## Parts not passed", ""]
        lines += [f"- {r.learner}, {r.exercise}, part {r.part}: {r.message.replace('|', '/')}" for r in problems]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dat_edu.course.grade", description=__doc__.split("\n\n")[0])
    ap.add_argument("submissions", type=Path, help="folder with one sub-folder per learner")
    ap.add_argument("--solutions", type=Path, default=Path("solutions"), help="solution notebooks (default: solutions)")
    ap.add_argument("--out", type=Path, default=Path("gradebook.csv"), help="CSV gradebook to write (default: gradebook.csv)")
    ap.add_argument("--summary", type=Path, default=None, help="also write a markdown summary here")
    ap.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default 60)")
    ap.add_argument("--notebook-timeout", type=float, default=600, help="seconds per notebook (default 600)")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (default 1)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    if not args.submissions.is_dir():
        ap.error(f"submissions folder {args.submissions} does not exist")
    if not args.solutions.is_dir() or not solution_notebooks(args.solutions):
        ap.error(f"no solution notebooks in {args.solutions}")
    if args.cell_timeout <= 0 or args.notebook_timeout <= 0:
        ap.error("timeouts must be positive")
    out = args.out.resolve()
    if out.is_relative_to(args.submissions.resolve()):
        ap.error("--out must not be inside the submissions folder (submissions are never written)")
    try:
        rows, notes = grade(
            args.submissions,
            args.solutions,
            args.cell_timeout,
            args.notebook_timeout,
            log=None if args.quiet else (lambda m: print(m, file=sys.stderr)),
            jobs=max(1, args.jobs),
        )
    except MarkupError as exc:
        print(f"error in the solutions: {exc}", file=sys.stderr)
        return 2
    write_csv(rows, args.out)
    if args.summary:
        args.summary.write_text(summary_markdown(rows, notes), encoding="utf-8")
    total = sum(r.points for r in rows)
    print(f"wrote {args.out}: {len(rows)} rows, {_num(total)} points awarded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
