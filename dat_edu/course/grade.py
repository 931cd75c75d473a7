"""Grade a folder of exercise submissions into a gradebook; learners' code never decides a grade.

Usage::

    python -m dat_edu.course.grade SUBMISSIONS_DIR --solutions solutions --out gradebook.csv \\
        [--summary gradebook.md] [--review DIR | --no-review] [--jobs 2] [--cell-timeout 60] \\
        [--notebook-timeout 600] [--memory-limit 4096] [--no-sandbox]

Layout: ``SUBMISSIONS_DIR/<learner>/<any name>.ipynb`` (sub-folders allowed, hidden folders and
``.ipynb_checkpoints`` ignored, symbolic links refused). Notebooks are matched to exercises as
:mod:`dat_edu.course.match` says; learners may rename files and add, split or reorder cells.

Each notebook is graded by its own judge process (:mod:`dat_edu.course.judge`), which runs the
learner's code in a bubblewrap sandbox (:mod:`dat_edu.course.sandbox`) and the solution's checks,
hidden tests included, in its own process. A part scores its points iff its check passes; the
message is the check's own ("Part 2 (offsets): ...") or says what went wrong, and ``flags`` lists
what an instructor should look at (a re-inserted check cell, code that could evade a "do not use"
rule). Without bubblewrap the grader refuses to run, unless ``--no-sandbox`` (then the
gradebook says so in its first row).

Output: CSV with columns ``learner, exercise, part, points, max_points, message, flags,
notebook``, written atomically; the first row (empty learner) describes the run: the sandbox, and
whether ``solutions/`` or the ``dat_edu`` package changed while grading (they are hashed before and
after). Optional markdown summary; the executed notebooks with per-part outcomes go to a review
folder next to the gradebook. Exit status 0 when grading ran (whatever the learners scored); 2 for
bad usage, broken solutions or a missing sandbox; 3 if the solutions or the library changed.

How to mark up a solution notebook: see :mod:`dat_edu.course.exercises`.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import select
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dat_edu.course import match, sandbox
from dat_edu.course.forkserver import ForkServer
from dat_edu.course.checks import one_line
from dat_edu.course.exercises import ExerciseSpec, MarkupError, load_spec, notebook_bytes, read_notebook, solution_notebooks, write_atomic
from dat_edu.course.gradebook import Row, num, write

_PRELOAD = ["torch", "numpy", "einops", "IPython.core.interactiveshell", "nbformat", "dat_edu.course.judge",
            "dat_edu.course.review"]
# PyTorch's own dispatch modes (FlopCounterMode...) import Dynamo on first use: load it once, not per judge.
_NEEDS_DYNAMO = ("torch.utils.flop_counter", "torch.utils._python_dispatch")


@dataclass
class Options:
    cell_timeout: float = 60
    notebook_timeout: float = 600
    jobs: int = 1
    sandboxed: bool = True
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    review_dir: Path | None = None
    log: object = None


@dataclass
class Result:
    rows: list[Row]
    notes: list[str]
    sandbox: str
    changed: list[str]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of the judges and their children


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (caches and checkpoints left out)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".ipynb_checkpoints")]
        for name in files:
            if not name.endswith((".pyc", ".pyo")):
                p = Path(dirpath) / name
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _changes(before: dict[str, str], after: dict[str, str], where: str) -> list[str]:
    return [f"{where}/{k}" for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]


def _solution_imports(specs: list[ExerciseSpec]) -> list[str]:
    mods = set()
    for spec in specs:
        for cell in read_notebook(spec.path).cells:
            try:
                tree = ast.parse(cell.source) if cell.cell_type == "code" else None
            except SyntaxError:
                continue
            for node in ast.walk(tree) if tree else []:
                if isinstance(node, ast.Import):
                    mods |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    mods.add(node.module)
    if mods & set(_NEEDS_DYNAMO):
        mods.add("torch._dynamo")
    return sorted(mods)


def _judge(server: ForkServer, task: dict, spec: ExerciseSpec, cpu: dict) -> tuple[dict[int, dict], dict | None, str]:
    """Run one judge process; (rows by part, review notebook, error). Adds its CPU seconds to ``cpu``."""
    from dat_edu.course.judge import STARTUP_S

    pid, fd = server.start(task)
    rows, review, error, buf, total = {}, None, "", b"", 0
    deadline = time.monotonic() + task["notebook_timeout"] + STARTUP_S + 60
    finished = False
    try:
        while not finished:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                error = "the judge did not finish in time"
                break
            chunk = os.read(fd, 1 << 20)
            total += len(chunk)
            if not chunk or total > 256 << 20:
                error = error or "the judge process ended unexpectedly"
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if "row" in msg and msg["row"].get("part") in spec.parts:
                    rows[msg["row"]["part"]] = msg["row"]
                elif "review" in msg:
                    review = msg["review"]
                elif "error" in msg:
                    error = str(msg["error"])
                elif isinstance(msg.get("cpu"), dict):
                    for k, v in msg["cpu"].items():
                        cpu[k] = cpu.get(k, 0.0) + float(v)
                elif msg.get("done"):
                    finished = True
    finally:
        os.close(fd)
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                target()  # a finished judge is gone already; a stuck one ends here with its sandbox
            except (ProcessLookupError, PermissionError):
                pass
    return rows, review, error


def _grade_one(server: ForkServer, task: dict, spec: ExerciseSpec, options: Options, cpu: dict) -> list[Row]:
    rows, review, error = _judge(server, task, spec, cpu)
    out = []
    for n in sorted(spec.parts):
        p, r = spec.parts[n], rows.get(n)
        if r is None:
            r = {"points": 0, "message": f"Part {n} ({p.name}): grader error: {error or 'no result'}", "flags": []}
        out.append(Row(task["learner"], spec.exercise, n, float(r["points"]), p.points, r["message"], r.get("flags", []), task["notebook"]))
    if review is not None and options.review_dir is not None:
        folder = options.review_dir / task["learner"]
        folder.mkdir(parents=True, exist_ok=True)
        try:
            import nbformat

            write_atomic(folder / f"{spec.exercise}.ipynb", notebook_bytes(nbformat.from_dict(review)))
        except Exception as exc:  # a review copy must never cost a grade
            out[0].flags.append(f"the review notebook could not be written ({one_line(exc, 100)})")
    return out


def grade(submissions: Path, solutions: Path, options: Options = Options()) -> Result:
    """Grade every learner folder in ``submissions``."""
    submissions, solutions = Path(submissions).resolve(), Path(solutions).resolve()
    specs = [s for s in (load_spec(p) for p in solution_notebooks(solutions)) if s.parts]
    if options.sandboxed:
        desc = sandbox.self_test(options.limits)
    else:
        desc = "NO SANDBOX (--no-sandbox): the notebooks ran with the grader's permissions"
    import dat_edu

    library = Path(dat_edu.__file__).resolve().parent
    before = (tree_digest(solutions), tree_digest(library))
    notes: list[str] = []
    slots: list = []  # rows, or (task, spec)
    for entry in sorted(Path(submissions).iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            slots.append([Row(entry.name, "?", "", 0, 0, "the learner's folder is a symbolic link; refused")])
            continue
        if not entry.is_dir():
            if entry.suffix == ".ipynb":
                notes.append(f"{entry.name}: not inside a learner folder; ignored (use SUBMISSIONS/<learner>/{entry.name})")
            continue
        learner = entry.name
        notebooks, links = match.learner_notebooks(entry)
        found = match.match_submissions(notebooks, specs)
        rel = lambda p: str(p.relative_to(entry))  # noqa: E731
        for link in links:
            slots.append([Row(learner, "?", "", 0, 0, f"{rel(link)} is a symbolic link; refused (submit the file itself)", notebook=rel(link))])
        for path in found.unmatched:
            slots.append([Row(learner, "?", "", 0, 0, f"{rel(path)}: could not be matched to any exercise; ignored", notebook=rel(path))])
        for path, ex in found.duplicates:
            slots.append([Row(learner, ex, "", 0, 0, f"{rel(path)} also looks like {ex}, which is graded from "
                              f"{rel(found.chosen[ex])} ({match.RULE}); ignored", notebook=rel(path))])
        for spec in specs:
            if spec.exercise not in found.chosen:
                slots.append([Row(learner, spec.exercise, n, 0, spec.parts[n].points, "no notebook submitted for this exercise")
                              for n in sorted(spec.parts)])
                continue
            path = found.chosen[spec.exercise]
            slots.append(({"learner": learner, "path": str(path), "notebook": rel(path), "solution": str(spec.path),
                           "cell_timeout": options.cell_timeout, "notebook_timeout": options.notebook_timeout,
                           "limits": asdict(options.limits), "sandboxed": options.sandboxed,
                           "review": options.review_dir is not None}, spec))
    cpu: dict[str, float] = {}
    server = ForkServer(_PRELOAD + _solution_imports(specs)) if any(isinstance(s, tuple) for s in slots) else None

    def run(slot: tuple) -> list[Row]:
        task, spec = slot
        if options.log:
            options.log(f"grading {task['learner']}/{task['notebook']} as {spec.exercise}")
        try:
            return _grade_one(server, task, spec, options, cpu)
        except Exception as exc:  # last line of defence: one notebook never stops the run
            return [Row(task["learner"], spec.exercise, n, 0, spec.parts[n].points, f"grader error: {type(exc).__name__}: "
                        f"{one_line(exc, 150)}", notebook=task["notebook"]) for n in sorted(spec.parts)]

    tasks = [s for s in slots if isinstance(s, tuple)]
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            done = dict(zip(map(id, tasks), pool.map(run, tasks)))
    finally:
        if server is not None:
            server.close()
    rows: list[Row] = []
    for s in slots:
        rows += done[id(s)] if isinstance(s, tuple) else s
    changed = _changes(before[0], tree_digest(solutions), str(solutions)) + _changes(before[1], tree_digest(library), "dat_edu")
    state = ("WARNING: changed while grading: " + ", ".join(changed[:20])) if changed else "solutions and the dat_edu package unchanged"
    n_graded = len(tasks)
    rows.insert(0, Row("", "", "", 0, 0, f"{n_graded} notebooks graded in {desc}; {state}"))
    return Result(rows, notes, desc, changed, cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dat_edu.course.grade", description=__doc__.split("\n\n")[0])
    ap.add_argument("submissions", type=Path, help="folder with one sub-folder per learner")
    ap.add_argument("--solutions", type=Path, default=Path("solutions"), help="solution notebooks (default: solutions)")
    ap.add_argument("--out", type=Path, default=Path("gradebook.csv"), help="CSV gradebook to write (default: gradebook.csv)")
    ap.add_argument("--summary", type=Path, default=None, help="also write a markdown summary here")
    ap.add_argument("--review", type=Path, default=None, help="folder for the executed notebooks (default: OUT's name + -review)")
    ap.add_argument("--no-review", action="store_true", help="keep no executed notebooks")
    ap.add_argument("--cell-timeout", type=float, default=60, help="seconds per cell (default 60)")
    ap.add_argument("--notebook-timeout", type=float, default=600, help="seconds per notebook (default 600)")
    ap.add_argument("--memory-limit", type=int, default=4096, help="MiB of address space per notebook (default 4096)")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (default 1)")
    ap.add_argument("--no-sandbox", action="store_true", help="run learners' code WITHOUT isolation (trusted notebooks only)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    if not args.submissions.is_dir():
        ap.error(f"submissions folder {args.submissions} does not exist")
    if not args.solutions.is_dir() or not solution_notebooks(args.solutions):
        ap.error(f"no solution notebooks in {args.solutions}")
    if args.cell_timeout <= 0 or args.notebook_timeout <= 0 or args.memory_limit < 256:
        ap.error("timeouts must be positive and --memory-limit at least 256")
    out = args.out.resolve()
    review = None if args.no_review else (args.review or out.with_name(out.stem + "-review")).resolve()
    for what, path in (("--out", out), ("--summary", args.summary and args.summary.resolve()), ("--review", review)):
        if path is None:
            continue
        if path.is_relative_to(args.submissions.resolve()) or path.is_relative_to(args.solutions.resolve()):
            ap.error(f"{what} must be outside the submissions and solutions folders")
        if any(path.is_relative_to(p) for p in sandbox.python_paths()):
            ap.error(f"{what} {path} is inside a folder every sandbox can read; write it elsewhere")
    limits = sandbox.Limits(memory_mb=args.memory_limit, cpu_s=int(args.notebook_timeout) + 60)
    options = Options(args.cell_timeout, args.notebook_timeout, max(1, args.jobs), not args.no_sandbox, limits, review,
                      None if args.quiet else (lambda m: print(m, file=sys.stderr)))
    try:
        result = grade(args.submissions, args.solutions, options)
    except MarkupError as exc:
        print(f"error in the solutions: {exc}", file=sys.stderr)
        return 2
    except sandbox.SandboxUnavailable as exc:
        print(f"error: cannot grade safely: {exc}", file=sys.stderr)
        return 2
    write(result.rows, result.notes, args.out, args.summary)
    total = sum(r.points for r in result.rows)
    print(f"wrote {args.out}: {len(result.rows)} rows, {num(total)} points awarded ({result.sandbox})")
    if result.changed:
        print(f"WARNING: changed while grading: {', '.join(result.changed[:20])}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
