"""The core install (torch, einops, numpy; no course extra) runs the model and trains: a real venv proves it.

The venv is built in seconds and offline: ``venv`` without pip, and into its site-packages
symlinks to the distributions of the core dependencies (and what they require) already installed
in this environment. So it sees torch, einops and numpy, and not JupyterLab, ipywidgets,
matplotlib or tqdm, exactly like ``pip install dat_edu`` without ``[course]``.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE_ONLY = ("matplotlib", "ipywidgets", "jupyterlab", "IPython", "ipykernel", "nbformat", "nbclient", "tqdm")


def _closure(names: list[str]) -> set[str]:
    """The installed distributions ``names`` need, following their (non-extra) requirements."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.split(r"[\s<>=!~;\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:  # e.g. CUDA-only requirements of torch on a CPU wheel
            continue
        seen.add(name)
        todo += [r for r in dist.requires or [] if "extra ==" not in r]
    return seen


def _top_level(dist: md.Distribution, site: Path) -> set[str]:
    """The entries of site-packages a distribution owns (packages, modules, its .dist-info)."""
    tops = set()
    for f in dist.files or []:
        first = Path(f).parts[0]
        if first not in ("..", "__pycache__") and (site / first).exists():
            tops.add(first)
    return tops


@pytest.fixture(scope="module")
def core_python(tmp_path_factory) -> Path:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = tmp_path_factory.mktemp("core-venv")
    venv.create(env, with_pip=False, symlinks=True)
    python = env / "bin" / "python"
    target = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                 check=True, capture_output=True, text=True).stdout.strip())
    site = Path(sysconfig.get_path("purelib"))
    for name in _closure(project["dependencies"]):
        for top in _top_level(md.distribution(name), site):
            (target / top).symlink_to(site / top)
    (target / "dat_edu_checkout.pth").write_text(str(ROOT) + "\n")  # this checkout's dat_edu, like pip -e
    return python


def _run(python: Path, code: str, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(OMP_NUM_THREADS="1", DAT_EDU_FAST="")
    return subprocess.run([python, *code], capture_output=True, text=True, env=env, cwd=ROOT.parent, timeout=300, **kw)


def test_the_core_venv_lacks_the_course_extra(core_python):
    # without this, the tests below would prove nothing
    code = ("import importlib.util as u, dat_edu\n"
            f"print([n for n in {COURSE_ONLY!r} if u.find_spec(n) is not None], dat_edu.__file__)")
    r = _run(core_python, ["-c", code])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["[]", str(ROOT / "dat_edu" / "__init__.py")], r.stdout
    r = _run(core_python, ["-c", "import torch, einops, numpy"])
    assert r.returncode == 0, r.stderr


def test_model_blocks_and_weights_import_and_run_without_the_course_extra(core_python):
    code = (
        "import sys, torch\n"
        "import dat_edu.deformable, dat_edu.model, dat_edu.weights, dat_edu.data, dat_edu.train, dat_edu.widgets.probes\n"
        "from dat_edu.model import dat_cifar\n"
        "m = dat_cifar(); y = m(torch.randn(2, 3, 32, 32)); assert y.shape == (2, 10)\n"
        "from dat_edu import DeformableAttention, load_official_state_dict\n"
        f"assert not set({COURSE_ONLY!r}) & set(sys.modules), sorted(sys.modules)\n"
        "print('ok')\n"
    )
    r = _run(core_python, ["-c", code])
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_training_without_tqdm_prints_plain_progress(core_python, tmp_path):
    r = _run(core_python, ["-m", "dat_edu.train", "--preset", "tiny", "--progress", "--out-dir", str(tmp_path),
                           "--run-name", "core", "--model-kw", "dims=(16, 32, 64)", "--model-kw", "heads=(1, 2, 4)",
                           "--model-kw", "groups=(None, 1, 2)"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "epoch 1/1  train loss" in r.stdout and "done: 1 epoch(s)" in r.stdout, r.stdout
    assert (tmp_path / "core" / "last.pt").is_file()


def test_figures_say_which_extra_they_need(core_python):
    for module in ("dat_edu.plots", "dat_edu.widgets.panels"):
        r = _run(core_python, ["-c", f"import {module}"])
        assert r.returncode != 0 and "dat_edu[course]" in r.stderr, (module, r.stderr[-1500:])
