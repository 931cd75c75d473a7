"""Re-execute notebooks in place from a fresh kernel, so committed outputs pass nbval.

Usage::

    python -m dat_edu.course.execute notebooks/03_bilinear.ipynb [more.ipynb | folder ...]
    python -m dat_edu.course.execute --all          # notebooks/ and solutions/ (run from the repo root)
    python -m dat_edu.course.execute --timeout 300 PATH

Each notebook runs top to bottom in a fresh ``python3`` kernel of the *current*
Python environment (like ``pytest --nbval --nbval-current-env``), with the
notebook's folder as working directory and a per-cell timeout. The result is
written atomically (a failed run leaves the file untouched), so execution
counts are 1..N and outputs are those of a clean run. Volatile metadata
(execution timestamps, ``ExecuteTime``) is dropped and outputs of empty cells
cleared, so re-running an unchanged notebook gives a small diff. The state of
the widgets a notebook displays is saved (with ids numbered in order, not
random), so that JupyterLab and nbviewer show them before the kernel runs.

Nothing of a learner's is lost: the outputs written get a fingerprint
(:mod:`dat_edu.course.provenance`); a notebook whose outputs are not the ones
this command last wrote (run in JupyterLab and saved, say) is first copied to
``backups/`` next to its folder, and the command says so.

Kernel environment: ``MPLBACKEND=module://matplotlib_inline.backend_inline``,
``PYDEVD_DISABLE_FILE_VALIDATION=1`` (silences a debugger warning on stderr), and the pinned
run mode of :func:`dat_edu.modes.pinned_env` (``DAT_EDU_MODE=pinned``, one thread), so that the
committed outputs are those the test command reproduces on any machine; everything else
(``DAT_EDU_FAST`` included) is passed through unchanged.

How to mark up a solution notebook: see :mod:`dat_edu.course.exercises`.

Authors: a cell whose output is not reproducible (versions, timings) starts
with ``# NBVAL_IGNORE_OUTPUT``; keep those few (tests allow at most 3 per
notebook). Anything written to stderr (warnings) is reported here and fails
the hygiene tests. For exercise solutions see :mod:`dat_edu.course.exercises`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import nbformat

from dat_edu.course import provenance
from dat_edu.course.exercises import notebook_bytes, write_atomic

VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "papermill", "execution_time")
VOLATILE_NB_METADATA = ("papermill",)


def kernel_env(extra: dict | None = None) -> dict:
    """Environment for notebook kernels: the current one, the pinned run mode, deterministic plotting."""
    from dat_edu.modes import pinned_env

    env = dict(os.environ)
    env.update(pinned_env())
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.pop("JPY_PARENT_PID", None)
    if extra:
        env.update(extra)
    return env


def _current_env_spec_manager():
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager

    class _CurrentEnvSpecs(KernelSpecManager):
        """Every kernel name resolves to ipykernel in *this* interpreter (like nbval --nbval-current-env)."""

        def get_kernel_spec(self, kernel_name):  # noqa: D401 - jupyter API
            return self.kernel_spec_class(
                resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
            )

    return _CurrentEnvSpecs()


try:
    from jupyter_client.manager import AsyncKernelManager as _AsyncKernelManager
    from traitlets import default as _default

    class CurrentEnvKernelManager(_AsyncKernelManager):
        """AsyncKernelManager whose ``python3`` kernel runs in the current Python environment."""

        @_default("kernel_spec_manager")
        def _default_spec_manager(self):
            return _current_env_spec_manager()

except ImportError:  # pragma: no cover - jupyter_client is a dependency of nbclient
    CurrentEnvKernelManager = None


def strip_volatile(nb) -> None:
    """Drop metadata that changes on every run; clear outputs of empty code cells."""
    for key in VOLATILE_NB_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code" and not cell.source.strip():
            cell.outputs = []
            cell.execution_count = None


def stderr_cells(nb) -> list[int]:
    return [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in cell.outputs)
    ]


def execute_notebook(path: Path, timeout: int = 300, env: dict | None = None) -> nbformat.NotebookNode:
    """Execute ``path`` in a fresh kernel and return the executed notebook (file not written).

    Raises nbclient's ``CellExecutionError`` (with the failing cell) on an error.
    """
    from nbclient import NotebookClient

    path = Path(path).resolve()
    with open(path, encoding="utf-8") as fh:
        nb = nbformat.read(fh, as_version=4)
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"})
    nb.metadata.pop("widgets", None)  # the state of the widgets of this run replaces it
    client = NotebookClient(
        nb,
        kernel_manager_class=CurrentEnvKernelManager,
        kernel_name="python3",
        timeout=timeout,
        record_timing=False,
        store_widget_state=True,
        shutdown_kernel="immediate",
        coalesce_streams=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(cwd=str(path.parent), env=kernel_env(env))
    strip_volatile(nb)
    number_widget_ids(nb, path.stem)
    return nb


def number_widget_ids(nb, name: str) -> None:
    """Replace the random widget model ids (state and views) by ids numbered in creation order."""
    state = (nb.metadata.get("widgets") or {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    if not state:
        return
    text = json.dumps({"cells": nb.cells, "widgets": nb.metadata["widgets"]})
    for i, old in enumerate(list(state)):
        text = text.replace(old, hashlib.sha1(f"{name}:{i}".encode()).hexdigest()[:32])
    new = json.loads(text)
    nb.cells = nbformat.from_dict(new["cells"])
    nb.metadata["widgets"] = new["widgets"]


def run(path: Path, timeout: int = 300) -> bool:
    """Execute one notebook and write it back atomically; print a one-line report."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    start = time.monotonic()
    try:
        nb = execute_notebook(path, timeout=timeout)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        print(f"FAILED {path}: not written\n{exc}", file=sys.stderr)
        return False
    provenance.stamp(nb, provenance.EXECUTED)
    kept = keep_changed_outputs(Path(path))
    if kept is not None:
        print(f"kept your version of {path} as {kept} (its outputs were not the ones this command last wrote)")
    write_atomic(Path(path), notebook_bytes(nb))
    took = time.monotonic() - start
    print(f"executed {path} ({took:.1f} s)")
    bad = stderr_cells(nb)
    if bad:
        print(
            f"WARNING {path}: cells {bad} wrote to stderr (a warning?); nbval compares stderr, "
            "so fix the cause (e.g. pass align_corners=) and re-run",
            file=sys.stderr,
        )
    return True


def keep_changed_outputs(path: Path) -> Path | None:
    """Copy ``path`` to ``backups/`` if its outputs are not those this command last wrote.

    A notebook without a fingerprint (written before fingerprints existed) or without outputs
    has nothing to keep. Returns the copy's path, or None.
    """
    with open(path, encoding="utf-8") as fh:
        nb = nbformat.read(fh, as_version=4)
    if provenance.recorded(nb, provenance.EXECUTED) is None or provenance.untouched(nb, provenance.EXECUTED):
        return None
    return provenance.keep_backup(path) if provenance.has_outputs(nb) else None


def expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.glob("*.ipynb") if not q.name.startswith("."))
        elif p.suffix == ".ipynb" and p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p} is not a notebook or a folder")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dat_edu.course.execute", description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="notebooks or folders of notebooks")
    ap.add_argument("--all", action="store_true", help="run notebooks/ and solutions/ (relative to the current folder)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    args = ap.parse_args(argv)
    paths = list(args.paths)
    if args.all:
        paths += [d for d in ("notebooks", "solutions") if Path(d).is_dir()]
        if not paths:
            ap.error("--all: no notebooks/ or solutions/ folder here; run from the repository root")
    if not paths:
        ap.error("give notebooks or folders, or --all")
    try:
        notebooks = expand(paths)
    except FileNotFoundError as exc:
        ap.error(str(exc))
    failed = [p for p in notebooks if not run(p, timeout=args.timeout)]
    if failed:
        print(f"{len(failed)} of {len(notebooks)} notebooks failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
