"""The judge: the trusted process that grades one notebook. It never runs the learner's code.

1. It plans the learner's notebook (:mod:`~dat_edu.course.submission`) and reads its source
   (:mod:`~dat_edu.course.scan`): where names are defined, what may need an instructor's review.
2. It starts the sandbox (:mod:`~dat_edu.course.sandbox`) with the harness, and meanwhile replays
   the *solution* notebook in its own IPython shell, forking a snapshot process just before each
   check cell. So every check runs in the state the solution has at that point (parts are graded
   independently of each other and of what the learner's notebook did to the judge: nothing).
3. It sends the learner's code cells to the harness (never the solutions or hidden tests) and
   follows them; when part N is reached, snapshot N binds the part's ``uses`` names to the
   learner's (:mod:`~dat_edu.course.remote`) and runs the solution's full check cell. Its random
   inputs are those of the solution notebook at that point (the replay is deterministic): the same
   for every learner, and ones the solution is known to pass with. The part scores iff that check
   block finishes without failing.
4. Each row is emitted as soon as its part is decided; then the review notebook.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Callable

from dat_edu.course import forbid, remote, sandbox, scan, submission, wire
from dat_edu.course.checks import ExerciseCheckFailed, one_line
from dat_edu.course.exercises import check_tags, load_spec, read_notebook

STARTUP_S = 120.0  # for the sandbox's Python to start on a busy machine
TRACEBACK_NOTE = " (see the traceback above this message)"


def cell_label(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return "`" + one_line(line.strip(), 40) + "`"
    return "`" + one_line(source.strip(), 40) + "`" if source.strip() else "(empty cell)"


def part_seed(exercise: str, n: int) -> int:
    return zlib.crc32(f"{exercise}:part{n}".encode())


def _shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    return InteractiveShell.instance(config=config)


class Judge:
    def __init__(self, task: dict, emit: Callable[[dict], None]):
        self.t, self.emit = task, emit
        self.spec = load_spec(Path(task["solution"]))
        self.rows: dict[int, dict] = {}
        self.results: dict[int, dict] = {}  # position in the code cells -> what the harness reported
        self.stopped = ""
        self.deadline = time.monotonic() + float(task["notebook_timeout"])
        self.snapshots: dict[int, tuple[int, int, int]] = {}
        self.proc = None
        self.replay_errors: dict[Any, str] = {}
        self.log: list[dict] = []
        self.code: list[submission.Cell] = []
        self.plan = submission.Plan()
        self.flags: list[str] = []
        self.r = self.w = -1
        self.sandbox_cpu = 0.0
        self.printed: dict[int, str] = {}  # part -> what the learner's code printed while its check ran

    def label(self, n: int) -> str:
        return f"Part {n} ({self.spec.parts[n].name})"

    def row(self, n: int, points: float, message: str, flags: list[str] = ()) -> None:
        notes = self.plan.notes.get(n, []) + list(flags)
        if n in {e["part"] for e in self.log}:
            notes += self.flags
        r = {"part": n, "points": points, "max_points": self.spec.parts[n].points,
             "message": one_line(message, 600), "flags": [one_line(f, 300) for f in dict.fromkeys(notes)][:20]}
        self.rows[n] = r
        self.emit({"row": r})

    # -- the whole run
    def run(self) -> None:
        path = Path(self.t["path"])
        data, error = submission.read(path)
        if error:
            for n in sorted(self.spec.parts):
                self.row(n, 0, f"{self.label(n)}: {path.name}: {error}")
            return
        self.plan = submission.plan(data, self.spec)
        for n, why in self.plan.errors.items():
            self.row(n, 0, f"{self.label(n)}: {why}")
        self.code = self.plan.code_cells()
        sources = [c.source if c.kind == "code" else "" for c in self.code]
        self.definitions = scan.definitions(sources)
        self.flags = ["flagged for review: " + f for f in scan.flags([(c.number, c.source) for c in self.code if c.kind == "code"])]
        if len(self.rows) < len(self.spec.parts):
            to_sandbox, from_judge = os.pipe()
            to_judge, from_sandbox = os.pipe()
            self.proc = sandbox.start(to_sandbox, from_sandbox, sandbox.Limits(**self.t["limits"]), self.t["sandboxed"])
            os.close(to_sandbox)
            os.close(from_sandbox)
            self.r, self.w = to_judge, from_judge
            try:
                self.replay()
                self.follow()
            finally:
                self.cleanup(graceful=not self.stopped)
        for n in sorted(set(self.spec.parts) - set(self.rows)):
            why = self.stopped or "the notebook did not run to this check"
            self.row(n, 0, f"{self.label(n)}: not graded because {why}" + self.first_problem(len(self.code)))
        if self.t.get("review"):
            from dat_edu.course.review import review_notebook

            self.emit({"review": review_notebook(self)})

    # -- the solution, replayed with a snapshot before each check
    def replay(self) -> None:
        shell = _shell()
        forbid.REPLAY_LOG = self.log
        try:
            for cell in read_notebook(self.spec.path).cells:
                if cell.cell_type != "code":
                    continue
                tags = check_tags(cell)
                n = tags[0] if tags else None
                if n in self.spec.parts and n not in self.rows:
                    self.snapshots[n] = self._fork(n, shell)
                result = shell.run_cell(cell.source, store_history=False)
                err = result.error_before_exec or result.error_in_exec
                expected = "raises-exception" in (cell.metadata.get("tags") or [])  # nbval: an error on purpose
                if err is not None and not expected:
                    self.replay_errors[n or "setup"] = f"{type(err).__name__}: {one_line(err, 150)}"
        finally:
            forbid.REPLAY_LOG = None

    def _fork(self, n: int, shell: Any) -> tuple[int, int, int]:
        go_r, go_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the snapshot: wait for "go", grade part n, report, exit
            try:
                os.close(go_w)
                os.close(out_r)
                for _, other_go, other_out in self.snapshots.values():
                    _close(other_go)
                    _close(other_out)
                go = _read_line(go_r)
                if go:
                    outcome = self.run_part(n, shell, json.loads(go))
                    os.write(out_w, json.dumps(outcome).encode())
            except BaseException as exc:  # a judge bug must not look like a result
                try:
                    os.write(out_w, json.dumps({"error": f"{type(exc).__name__}: {one_line(exc, 200)}"}).encode())
                except BaseException:
                    pass
            finally:
                os._exit(0)
        os.close(go_r)
        os.close(out_w)
        return pid, go_w, out_r

    def run_part(self, n: int, shell: Any, go: dict) -> dict:
        p = self.spec.parts[n]
        session = remote.Session(self.r, self.w, float(self.t["cell_timeout"]), time.monotonic() + float(go["left"]))
        session.source_names = {u: self.source_names(u) for u in p.uses}
        err: BaseException | None = None
        try:
            for name, (kind, value) in session.names(list(p.uses)).items():
                if kind == "missing":
                    shell.user_ns.pop(name, None)
                elif kind == "unsendable":
                    session.send({"op": "continue"})
                    return {"points": 0, "message": f"{self.label(n)}: `{name}` in your notebook is {value}, which the "
                            "grader cannot read", "flags": session.flags}
                else:
                    shell.user_ns[name] = value
            result = shell.run_cell(p.full_source, store_history=False)
            err = result.error_before_exec or result.error_in_exec
        except (remote.GraderInterference, remote.SandboxGone) as exc:
            err = exc
        printed = "".join(session.printed)
        if isinstance(err, (remote.GraderInterference, remote.SandboxGone)):
            return {"points": 0, "message": f"{self.label(n)}: not graded because {err}", "stop": str(err),
                    "flags": session.flags, "printed": printed}
        session.send({"op": "continue"})
        return {"points": p.points if err is None else 0, "message": self.message(n, err), "flags": session.flags,
                "printed": printed}

    def message(self, n: int, err: BaseException | None) -> str:
        if err is None:
            return "passed"
        if isinstance(err, ExerciseCheckFailed):
            return str(err).replace(TRACEBACK_NOTE, "")
        if isinstance(err, remote.CallTimeout):
            return f"{self.label(n)}: the check did not finish within {float(self.t['cell_timeout']):g} s and was interrupted"
        return f"{self.label(n)}: the check raised {type(err).__name__}: {one_line(err, 300)}"

    def source_names(self, name: str) -> frozenset | None:
        """Names the learner's definition of ``name`` refers to, as ``forbid_calls`` reads them from
        its code object in the learner's kernel; None when the definition is not in the source."""
        found = self.definitions.get(name)
        if found is None:
            return None
        return scan.code_names(found[1])

    # -- following the learner's notebook in the sandbox
    def _frame(self, limit: float) -> dict:
        header, _ = wire.read_frame(self.r, min(time.monotonic() + limit, self.deadline), max_frame=8 << 20)
        return header

    def follow(self) -> None:
        timeout = float(self.t["cell_timeout"])
        try:
            hello = self._frame(STARTUP_S)
        except (TimeoutError, EOFError, wire.WireError) as exc:
            self.stopped = f"the sandbox did not start ({type(exc).__name__}: {one_line(exc, 100)})"
            return
        if hello.get("op") != "hello":
            self.stopped = "the sandbox did not start (no greeting)"
            return
        resolve = sorted({d for e in self.log for d in e["python"]})
        cells = [{"kind": "code", "index": i, "source": c.source} if c.kind == "code" else
                 {"kind": "check", "index": i, "part": c.part, "seed": part_seed(self.spec.exercise, c.part)}
                 for i, c in enumerate(self.code)]
        wire.write_frame(self.w, {"op": "run", "cells": cells, "cell_timeout": timeout, "resolve": resolve,
                                  "output_cap": 20_000}, deadline=time.monotonic() + 30)
        for i, c in enumerate(self.code):
            try:
                frame = self._frame(timeout + remote.GRACE_S)
            except TimeoutError:
                self.stopped = (f"the notebook time limit of {float(self.t['notebook_timeout']):g} s was reached"
                                if time.monotonic() >= self.deadline else
                                f"cell {c.number} {cell_label(c.source)} did not finish within {timeout:g} s, even after being interrupted")
                return
            except EOFError:
                self.stopped = (f"the notebook's Python process ended while running cell {c.number} {cell_label(c.source)} "
                                "(a crash, running out of memory, os._exit or a signal)")
                return
            except wire.WireError as exc:
                self.stopped = f"the notebook interfered with the grader ({exc})"
                return
            expected = "cell" if c.kind == "code" else "reached"
            if frame.get("op") != expected or frame.get("index" if c.kind == "code" else "part") != (i if c.kind == "code" else c.part):
                self.stopped = "the notebook interfered with the grader (an unexpected message)"
                return
            if c.kind == "code":
                self.results[i] = frame
            elif not self.grade_part(c.part, i):
                return
        try:  # the harness's own CPU time (the notebook could lie about it: it only feeds benchmarks)
            done = self._frame(10)
            self.sandbox_cpu = float(done.get("cpu", 0.0)) if done.get("op") == "done" else 0.0
        except (TimeoutError, EOFError, wire.WireError, TypeError, ValueError):
            pass

    def grade_part(self, n: int, position: int) -> bool:
        """Run part n's check in its snapshot; False when the notebook cannot go on."""
        snap = self.snapshots.pop(n, None)
        if snap is None or n in self.rows or n in self.replay_errors or "setup" in self.replay_errors:
            why = self.replay_errors.get(n) or self.replay_errors.get("setup")
            if n not in self.rows:
                self.row(n, 0, f"{self.label(n)}: grader error: the solution's own check fails when replayed ({why})")
            wire.write_frame(self.w, {"op": "continue"}, deadline=time.monotonic() + 30)
            return True
        pid, go_w, out_r = snap
        os.write(go_w, json.dumps({"left": max(0.0, self.deadline - time.monotonic())}).encode() + b"\n")
        os.close(go_w)
        limit = min(self.deadline + remote.GRACE_S, time.monotonic() + 2 * float(self.t["cell_timeout"]) + 30)
        raw = _read_all(out_r, limit)
        _reap(pid)
        try:
            outcome = json.loads(raw) if raw else {"error": "the check's process ended without an answer"}
        except ValueError:
            outcome = {"error": "the check's process gave a malformed answer"}
        if "error" in outcome:
            self.stopped = f"of a grader error ({outcome['error']})"
            self.row(n, 0, f"{self.label(n)}: grader error: {outcome['error']}")
            return False
        message = outcome["message"]
        if outcome["points"] == 0:
            message += self.first_problem(position)
        self.row(n, outcome["points"], message, outcome.get("flags", []))
        self.printed[n] = str(outcome.get("printed", ""))[:50_000]
        if outcome.get("stop"):
            self.stopped = outcome["stop"]
            return False
        return True

    def first_problem(self, position: int) -> str:
        """Point at the first earlier learner cell that failed: usually the real cause."""
        for i, c in enumerate(self.code[:position]):
            r = self.results.get(i)
            if c.kind == "code" and r and r.get("status") in ("error", "timeout"):
                if r["status"] == "timeout":
                    what = f"did not finish within {float(self.t['cell_timeout']):g} s (an endless loop?)"
                else:
                    what = f"raised {one_line(r.get('ename'), 60)}: {one_line(r.get('evalue'), 100)}"
                return f" [first problem: earlier cell {cell_label(c.source)} {what}]"
        return ""

    def cleanup(self, graceful: bool = False) -> None:
        for pid, go_w, out_r in self.snapshots.values():
            _kill(pid)
            for fd in (go_w, out_r):
                _close(fd)
        self.snapshots.clear()
        if self.proc is not None:
            if graceful:  # the harness exits after "done"; waiting lets its CPU time be counted
                try:
                    self.proc.wait(5)
                except Exception:
                    pass
            try:
                if self.t["sandboxed"]:
                    self.proc.kill()
                else:
                    os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            if getattr(self.proc, "scratch", None):
                import shutil

                shutil.rmtree(self.proc.scratch, ignore_errors=True)
        for fd in (self.r, self.w):
            _close(fd)


def _read_all(fd: int, deadline: float | None = None, cap: int = 4 << 20) -> bytes:
    import select

    chunks, size = [], 0
    while size < cap:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    _close(fd)
    return b"".join(chunks)


def _read_line(fd: int) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        line += chunk
    _close(fd)
    return line.strip()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def main(task: dict, fd: int) -> None:
    """Entry point of a judge process (forked by the fork server); writes JSON lines to ``fd``."""
    os.setpgid(0, 0)  # the grader can end this judge, its snapshots and its sandbox together
    sys.stdout = open(os.devnull, "w")  # the checks' "passed" lines and the solution's prints
    os.environ.update({"MPLBACKEND": "Agg", "DAT_EDU_GRADING": "1", "DAT_EDU_MODE": "pinned"})
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg", force=True)
    import torch

    torch.set_num_threads(1)

    def emit(msg: dict) -> None:
        view = memoryview(json.dumps(msg).encode() + b"\n")
        while view.nbytes:
            view = view[os.write(fd, view):]

    judge = None
    try:
        judge = Judge(task, emit)
        judge.run()
    except BaseException as exc:
        emit({"error": f"{type(exc).__name__}: {one_line(exc, 300)}"})
    finally:
        import resource

        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        emit({"cpu": {"judge": own.ru_utime + own.ru_stime, "checks": kids.ru_utime + kids.ru_stime,
                      "sandbox": judge.sandbox_cpu if judge else 0.0}})
        emit({"done": True})
        os.close(fd)
