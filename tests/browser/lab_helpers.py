"""Helpers for the browser tests: JupyterLab's REST API and its app object (``expose_app_in_browser``)."""
from __future__ import annotations

import json
import urllib.request

TOKEN = "dat-edu-browser-test"


def api(base: str, path: str) -> dict:
    with urllib.request.urlopen(f"{base}/api/contents/{path}?token={TOKEN}", timeout=10) as r:
        return json.load(r)


def token_url(base: str, path: str = "") -> str:
    sep = "&" if "?" in path else "?"
    return f"{base}/{path}{sep}token={TOKEN}"


NOTEBOOK_JS = "() => window.jupyterapp && jupyterapp.shell.currentWidget && jupyterapp.shell.currentWidget.content"


def open_notebook(page, base: str, path: str) -> None:
    """Open ``path`` in JupyterLab and wait until its kernel is ready."""
    page.goto(token_url(base, f"lab/tree/{path}"))
    page.wait_for_function(
        """(path) => {
            const w = window.jupyterapp && jupyterapp.shell.currentWidget;
            return w && w.context && w.context.path === path && w.sessionContext.session
                && w.sessionContext.session.kernel && w.sessionContext.session.kernel.connectionStatus === 'connected'
                && w.sessionContext.session.kernel.status === 'idle';
        }""", arg=path, timeout=120_000)


def run_all(page, timeout_ms: int = 180_000) -> None:
    """Run all cells (JupyterLab's own command) and wait until the kernel is idle again."""
    page.evaluate("() => jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const w = jupyterapp.shell.currentWidget;
            const cells = w.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.source.trim());
            const started = cells.some(c => c.model.executionCount !== null);
            const busy = cells.some(c => c.promptNode && /\\*/.test(c.promptNode.textContent));
            return started && !busy && w.sessionContext.session.kernel.status === 'idle';
        }""", timeout=timeout_ms, polling=500)

