"""dat_edu.course.execute: re-running notebooks in place, and nbval on the result.

Two kernels for the executor plus one nbval run in a subprocess (a few seconds each).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from dat_edu.course import execute

ROOT = Path(__file__).resolve().parents[1]
KS = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def demo_nb():
    stale = new_output("stream", name="stdout", text="stale\n")
    cells = [
        new_markdown_cell("# Demo"),
        new_code_cell("import os\nprint(os.path.basename(os.getcwd()))", execution_count=7, outputs=[stale],
                      metadata={"execution": {"iopub.execute_input": "2026-01-01T00:00:00Z"}, "ExecuteTime": {"x": 1}}),
        new_code_cell("print(os.environ.get('DAT_EDU_FAST'), os.environ['MPLBACKEND'])", execution_count=3),
        new_code_cell("", execution_count=9, outputs=[stale]),
        new_code_cell("class Thing:\n    pass\nThing()", metadata={"tags": ["keep-me"]}),
        new_code_cell("x = 41"),
        new_code_cell("print('a')\nprint('b')\nx + 1"),
        new_markdown_cell("The end."),
    ]
    for i, c in enumerate(cells):
        c.id = f"id{i}"
    return new_notebook(cells=cells, metadata={"kernelspec": KS, "widgets": {"application/vnd.jupyter.widget-state+json": {}}})


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lesson_dir")
    good, bad = folder / "good.ipynb", folder / "bad.ipynb"
    nbformat.write(demo_nb(), good)
    broken = demo_nb()
    broken.cells[5].source = "raise ValueError('broken on purpose')"
    nbformat.write(broken, bad)
    bad_bytes = bad.read_bytes()
    old = os.environ.get("DAT_EDU_FAST")
    os.environ["DAT_EDU_FAST"] = "1"
    try:
        code = execute.main([str(good), str(bad), "--timeout", "60"])
    finally:
        if old is None:
            os.environ.pop("DAT_EDU_FAST")
        else:
            os.environ["DAT_EDU_FAST"] = old
    return {"code": code, "good": good, "bad": bad, "bad_bytes": bad_bytes, "folder": folder}


def test_counts_outputs_and_cwd(executed):
    nb = nbformat.read(executed["good"], as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert nb.cells[1].outputs[0]["text"] == f"{executed['folder'].name}\n"  # cwd = the notebook's folder
    assert nb.cells[2].outputs[0]["text"] == "1 module://matplotlib_inline.backend_inline\n"
    assert nb.cells[5].outputs == []  # assignment: executed, no output
    assert nb.cells[6].outputs[0]["text"] == "a\nb\n"  # streams coalesced
    assert nb.cells[6].outputs[1]["data"]["text/plain"] == "42"


def test_volatile_metadata_stripped(executed):
    nb = nbformat.read(executed["good"], as_version=4)
    assert "widgets" not in nb.metadata and nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[1].metadata == {}
    assert nb.cells[3].outputs == [] and nb.cells[3].execution_count is None  # empty cell cleared
    assert nb.cells[4].metadata == {"tags": ["keep-me"]}
    assert [c.id for c in nb.cells] == [f"id{i}" for i in range(8)]


def test_failure_leaves_file_untouched_and_exits_1(executed):
    assert executed["code"] == 1
    assert executed["bad"].read_bytes() == executed["bad_bytes"]
    assert not [p for p in executed["folder"].iterdir() if p.name.startswith(".")]  # no temp files left


def test_executed_notebook_passes_nbval_with_injected_options(executed, tmp_path):
    """The root conftest injects --nbval-current-env and the sanitize file (absolute path),
    so nbval passes from another working directory although `<Thing at 0x...>` differs."""
    nb = nbformat.read(executed["good"], as_version=4)
    assert " at 0x" in nb.cells[4].outputs[0]["data"]["text/plain"]
    target = executed["good"]  # nbval runs it in its own folder; pytest runs from elsewhere
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env["DAT_EDU_FAST"] = "1"  # the value the notebook was executed with
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", "--nbval", str(target)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "6 passed" in proc.stdout, proc.stdout + proc.stderr


def test_usage_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        execute.main(["--all"])
    assert info.value.code == 2 and "no notebooks/ or solutions/" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        execute.main([str(tmp_path / "missing.ipynb")])


def _tiny_nb(*sources: str):
    cells = [new_markdown_cell("# Tiny", id="t0"), *(new_code_cell(s, id=f"t{i + 1}") for i, s in enumerate(sources)),
             new_markdown_cell("The end.", id="tz")]
    return new_notebook(cells=cells, metadata={"kernelspec": KS})


def test_outputs_changed_since_execution_are_kept_in_a_backup(tmp_path, capsys):
    """A lesson run in JupyterLab and saved (other outputs) is copied to backups/ before it is re-run."""
    lesson = tmp_path / "notebooks" / "01_tiny.ipynb"
    lesson.parent.mkdir()
    nbformat.write(_tiny_nb("print(6 * 7)"), lesson)
    assert execute.main([str(lesson)]) == 0
    assert not (tmp_path / "backups").exists()  # nothing of anyone's was replaced
    nb = nbformat.read(lesson, as_version=4)
    nb.cells[1].outputs[0]["text"] = "42, and my notes from a long run\n"  # the learner's run, saved
    nbformat.write(nb, lesson)
    mine = lesson.read_bytes()
    capsys.readouterr()
    assert execute.main([str(lesson)]) == 0
    backups = list((tmp_path / "backups" / "notebooks").glob("01_tiny-*.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == mine
    assert f"kept your version of {lesson} as {backups[0]}" in capsys.readouterr().out
    assert nbformat.read(lesson, as_version=4).cells[1].outputs[0]["text"] == "42\n"
    assert execute.main([str(lesson)]) == 0  # its own outputs: no second backup
    assert len(list((tmp_path / "backups" / "notebooks").iterdir())) == 1


def test_widget_state_is_saved_with_stable_ids(tmp_path):
    lesson = tmp_path / "w.ipynb"
    nbformat.write(_tiny_nb("import ipywidgets as w\nslider = w.IntSlider(value=3, description='k')\ndisplay(slider)"), lesson)
    assert execute.main([str(lesson)]) == 0
    first = lesson.read_bytes()
    nb = nbformat.read(lesson, as_version=4)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    view = nb.cells[1].outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert view in state and state[view]["state"]["value"] == 3 and state[view]["model_name"] == "IntSliderModel"
    assert execute.main([str(lesson)]) == 0
    assert lesson.read_bytes() == first  # same ids, same bytes: re-running gives no diff
