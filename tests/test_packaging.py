"""The project's dependency lists agree, and the CI script runs the README's test command."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# conda-forge spells a few packages differently from PyPI.
CONDA_TO_PYPI = {"pytorch": "torch"}


def pyproject_requirements(*groups: str) -> dict[str, str]:
    """Name -> version range of the core dependencies and the given extras (default: all of them)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    lines = list(project["dependencies"])
    for group in groups or extras:
        lines += extras[group]
    return dict(_split(line) for line in lines)


def conda_requirements(text: str) -> dict[str, str]:
    found = {}
    dependencies = text.split("\ndependencies:\n", 1)[1]
    for line in dependencies.splitlines():
        match = re.match(r"^  - ([A-Za-z0-9_.\-]+)\s*([<>=!~].*)?$", line)
        if match and match.group(1) not in {"python", "pip"}:
            name = CONDA_TO_PYPI.get(match.group(1), match.group(1))
            found[name] = (match.group(2) or "").strip()
    return found


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    return match.group(1).lower(), match.group(2).strip()


def test_environment_yml_matches_pyproject():
    # the learner's environment: core, course and dev (the browser extra is for `make test-browser`)
    expected = pyproject_requirements("course", "dev")
    got = conda_requirements((ROOT / "environment.yml").read_text())
    assert got == expected, (
        "environment.yml and pyproject.toml list different packages or versions: "
        f"only in pyproject {sorted(set(expected) - set(got))}, only in environment.yml "
        f"{sorted(set(got) - set(expected))}, different versions "
        f"{sorted(k for k in expected.keys() & got.keys() if expected[k] != got[k])}"
    )


def test_comparison_catches_a_drifted_version():
    drifted = (ROOT / "environment.yml").read_text().replace("einops>=0.7", "einops>=0.6")
    assert conda_requirements(drifted) != pyproject_requirements("course", "dev")


def test_no_timm_or_torchvision():
    names = set(pyproject_requirements())
    assert not names & {"timm", "torchvision"}, "timm/torchvision pull CUDA builds; dat_edu must not depend on them"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme.split("\n## ")[0], "README must open with the test command"
    assert "make test" in ci and "torch==2.13.0" in ci
    assert ci.index("torch==2.13.0") < ci.index("make test"), "CI installs the CPU torch wheel first"


def test_package_exports_load_lazily():
    import subprocess
    import sys

    code = (
        "import sys, dat_edu.course.checks; assert 'torch' not in sys.modules, 'checks pulled in torch';"
        "import dat_edu; from dat_edu import dat_cifar, DeformableAttention, load_official_state_dict;"
        "assert callable(dat_cifar)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_core_dependencies_are_what_the_model_needs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {_split(r)[0] for r in project["dependencies"]} == {"torch", "einops", "numpy"}
    course = {_split(r)[0] for r in project["optional-dependencies"]["course"]}
    assert {"jupyterlab", "ipywidgets", "matplotlib", "tqdm", "nbformat", "nbclient", "ipykernel"} <= course
    assert '".[course,dev]"' in (ROOT / "Makefile").read_text(), "make setup installs the course extra"
