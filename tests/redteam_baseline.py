"""The old in-kernel scoring, kept only to show that each red-team attack works without the sandbox.

What the grader did before it had a sandbox: copy the learner's folder to a temporary folder, run the
notebook there in a Jupyter kernel with the learner's check cells replaced by the solution's full
check cells (hidden tests included); a part passes iff its check cell ran without an error.

    python -m tests.redteam_baseline SUBMISSIONS --solutions SOLUTIONS --out OUT.csv [--jobs 2]

The kernels import ``dat_edu`` from the folder given in ``DAT_EDU_BASELINE_LIBRARY`` if set (a
throw-away copy: some attacks write to the installed library), and get the old ``forbid_calls``
(:data:`OLD_FORBID`: a static look at the function's bytecode, then the forbidden names patched on
their modules and in the function's globals during the call).
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from dat_edu.course import exercises as gen


OLD_FORBID = '''
import importlib as _importlib, types as _types

def forbid_calls(fn, *names, args=(), kwargs=None, part=None):
    p = resolve_part(part)
    aliases = {"F": "torch.nn.functional", "nn": "torch.nn", "np": "numpy"}
    equivalents = {"torch.nn.functional.grid_sample": ["torch.grid_sampler", "torch.grid_sampler_2d"],
                   "torch.nn.functional.conv2d": ["torch.conv2d"]}

    def lookup(dotted):
        parts = dotted.split(".")
        for i in range(len(parts) - 1, 0, -1):
            try:
                owner = _importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for attr in parts[i:-1]:
                    owner = getattr(owner, attr)
                return owner, parts[-1], getattr(owner, parts[-1])
            except AttributeError:
                return None

    def code_names(code):
        out = set(code.co_names)
        for c in code.co_consts:
            if isinstance(c, _types.CodeType):
                out |= code_names(c)
        return out

    targets = {}
    for name in names:
        head, _, rest = name.partition(".")
        full = f"{aliases[head]}.{rest}" if head in aliases and rest else name
        for dotted in [full, *equivalents.get(full, [])]:
            found = lookup(dotted)
            if found is not None:
                targets[dotted] = found
    funcs = [getattr(fn, "__func__", fn)] if isinstance(fn, (_types.FunctionType, _types.MethodType)) else []
    leaves = {d.rsplit(".", 1)[1] for d in targets}
    for f in funcs:
        used = code_names(f.__code__) & leaves
        if used:
            raise p.fail(f"`{f.__name__}` refers to `{sorted(used)[0]}`, which this part asks you not to use")
    if not args and not kwargs:
        return None
    calls, patches, originals = [], [], {id(o): d for d, (_, _, o) in targets.items()}

    def recorder(dotted):
        def forbidden(*a, **k):
            calls.append(dotted)
            raise p.fail(f"your code called `{dotted}`, which this part asks you not to use")
        return forbidden

    try:
        for dotted, (owner, attr, obj) in targets.items():
            patches.append((owner, attr, obj))
            setattr(owner, attr, recorder(dotted))
        for f in funcs:
            for key, value in list(f.__globals__.items()):
                if id(value) in originals and not isinstance(value, _types.ModuleType):
                    patches.append((f.__globals__, key, value))
                    f.__globals__[key] = recorder(originals[id(value)])
        result = fn(*args, **(kwargs or {}))
    finally:
        for owner, attr, obj in reversed(patches):
            if isinstance(owner, dict):
                owner[attr] = obj
            else:
                setattr(owner, attr, obj)
    if calls:
        raise p.fail(f"your code called `{calls[0]}`, which this part asks you not to use")
    return result
'''
INSTALL_OLD_FORBID = f"import dat_edu.course.checks as _checks\nexec({OLD_FORBID!r}, _checks.__dict__)"


def score_notebook(path: Path, folder: Path, spec, env: dict) -> dict[int, float]:
    nb = nbformat.read(path, as_version=4)  # follows symbolic links, as the old grader did
    checks: dict[int, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            for n in gen.check_tags(cell):
                if n in spec.parts:
                    checks.setdefault(n, index)
                    cell.source = spec.parts[n].full_source
    with tempfile.TemporaryDirectory(prefix="baseline_") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(folder, work, symlinks=True)
        nb.cells.insert(0, nbformat.v4.new_code_cell(INSTALL_OLD_FORBID))
        checks = {n: i + 1 for n, i in checks.items()}
        client = NotebookClient(nb, timeout=30, kernel_name="python3", allow_errors=True, shutdown_kernel="immediate")
        try:
            client.execute(cwd=str(work), env=env)
        except Exception:
            pass
    points = {}
    for n, index in checks.items():
        cell = nb.cells[index]
        ok = cell.get("execution_count") is not None and not any(o.get("output_type") == "error" for o in cell.outputs)
        points[n] = spec.parts[n].points if ok else 0.0
    return points


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("submissions", type=Path)
    ap.add_argument("--solutions", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    specs = [gen.load_spec(p) for p in gen.solution_notebooks(args.solutions)]
    env = dict(os.environ)
    library = os.environ.get("DAT_EDU_BASELINE_LIBRARY")
    if library:
        env["PYTHONPATH"] = library
    tasks = []
    for folder in sorted(p for p in args.submissions.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.ipynb")):
            spec = next((s for s in specs if s.exercise == path.stem.split(" ")[0]), specs[0])
            tasks.append((folder.name, path, folder, spec))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda t: (t[0], score_notebook(t[1], t[2], t[3], env)), tasks))
    with open(args.out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["learner", "part", "points"])
        for learner, points in results:
            for n, p in sorted(points.items()):
                w.writerow([learner, n, p])
    return 0


if __name__ == "__main__":
    sys.exit(main())
