"""Repository-wide pytest setup.

With ``--nbval`` / ``--nbval-lax`` (e.g. ``pytest --nbval notebooks/ solutions/``
from any folder), inject the options every notebook run needs:

* ``--nbval-sanitize-with tests/nbval_sanitize.cfg`` as an absolute path
  (nbval opens it relative to the working directory otherwise);
* ``--nbval-current-env`` (the kernel is this environment's Python), unless
  ``--nbval-kernel-name`` was given;
* the pinned run mode (``DAT_EDU_MODE=pinned``, one thread: :func:`dat_edu.modes.pinned_env`) in
  the environment that the kernels inherit, so that every lesson runs the small CPU-sized run
  whose outputs are committed, whatever GPU or data sets the machine has.

exercises/ is never collected by nbval: its notebooks have no outputs and
raise NotImplementedError on purpose (tests/test_notebook_hygiene.py checks
that they equal what ``python -m dat_edu.course.exercises`` generates).
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"


def _nbval_on(config) -> bool:
    opt = config.option
    return bool(getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    opt = config.option
    if not _nbval_on(config):
        return
    if getattr(opt, "nbval_sanitize_with", None) is None and not getattr(opt, "sanitize_with", None):
        opt.nbval_sanitize_with = str(SANITIZE)
    if not getattr(opt, "nbval_kernel_name", None) and not getattr(opt, "current_env", False):
        opt.nbval_current_env = True
    from dat_edu.modes import pinned_env

    os.environ.update(pinned_env())


def pytest_ignore_collect(collection_path, config):
    if _nbval_on(config) and collection_path.suffix == ".ipynb":
        try:
            rel = Path(collection_path).resolve().relative_to(ROOT)
        except ValueError:
            return None
        if rel.parts and rel.parts[0] == "exercises" or ".ipynb_checkpoints" in rel.parts:
            return True
    return None
