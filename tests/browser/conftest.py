"""JupyterLab, started with `make lab` on a copy of the course, and headless Chromium.

Chromium is Debian's (``apt-get install chromium``: /usr/bin/chromium), driven by Playwright from
PyPI (``pip install -e ".[browser]"``); nothing is downloaded (never ``playwright install``).
``make test-browser`` sets ``DAT_EDU_BROWSER_TESTS=required``: then a missing browser or
Playwright fails the run instead of skipping it.

The server runs on a copy of the course (lessons, exercises, solutions, Makefile), so that
nothing the browser does can change the repository's notebooks; JupyterLab's settings,
workspaces and runtime files live in a temporary folder (no news pop-up, no autosave).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from lab_helpers import TOKEN

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# the flags that work for headless Chromium on these machines (as root, no GPU, no network)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing(what: str) -> None:
    if os.environ.get("DAT_EDU_BROWSER_TESTS") == "required":
        pytest.fail(f"{what} (make test-browser needs it)")
    pytest.skip(f"{what}: run `make test-browser` (installs Playwright; apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path) -> None:
    """JupyterLab user settings: no news or update check, no autosave."""
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    }
    for name, value in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


@pytest.fixture(scope="session")
def course_copy(tmp_path_factory) -> Path:
    """The course as a learner's clone has it, in a temporary folder (copies keep their times)."""
    root = tmp_path_factory.mktemp("course")
    for folder in ("notebooks", "exercises", "solutions"):
        shutil.copytree(ROOT / folder, root / folder)
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, root / name)
    return root


@pytest.fixture(scope="session")
def lab(course_copy, tmp_path_factory):
    """``make lab`` on the course copy, with the repository's environment; yields the base URL."""
    venv = ROOT / ".venv"
    if not (venv / "bin" / "jupyter").exists():
        _missing(f"no environment at {venv}")
    home = tmp_path_factory.mktemp("home")
    _settings(home / "settings")
    port = _free_port()
    args = f"--no-browser --port={port} --IdentityProvider.token={TOKEN} --LabApp.expose_app_in_browser=True"
    if os.geteuid() == 0:
        args += " --allow-root"  # the documented LAB_ARGS for root (a container)
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    env.pop("DAT_EDU_MODE", None)  # as a learner starts it: the default (auto) mode
    log = open(home / "lab.log", "w")
    stamp = venv / ".dat_edu-installed"  # -o: use the environment as it is (never reinstall from the copy)
    proc = subprocess.Popen(["make", "-s", "-o", str(stamp), "lab", f"VENV={venv}", f"LAB_ARGS={args}"], cwd=course_copy, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(home / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, 15)  # make and the server it started
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[browser]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()
