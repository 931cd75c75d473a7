"""The executed notebook kept for the instructor's review: the learner's cells with what they printed
(text and small PNGs only, capped), and under each check the part's outcome."""
from __future__ import annotations

from typing import Any

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

MAX_TOTAL = 2 << 20  # characters of output in one review notebook


def _outputs(result: dict | None, budget: list[int]) -> list:
    if not result:
        return [new_output("stream", name="stderr", text="(not run: the notebook stopped before this cell)\n")]
    out = []
    for name in ("stdout", "stderr"):
        text = (result.get("outputs") or {}).get(name) or ""
        if text and budget[0] > 0:
            out.append(new_output("stream", name=name, text=str(text)[: budget[0]]))
            budget[0] -= len(text)
    for data in result.get("displays") or []:
        if isinstance(data, dict) and budget[0] > 0:
            keep = {k: str(v) for k, v in data.items() if k in ("text/plain", "image/png")}
            if keep:
                out.append(new_output("display_data", data=keep))
                budget[0] -= sum(len(v) for v in keep.values())
    if result.get("status") == "timeout":
        out.append(new_output("error", ename="TimeoutError", evalue="the cell was interrupted at the time limit", traceback=[]))
    elif result.get("status") == "error":
        out.append(new_output("error", ename=str(result.get("ename"))[:100], evalue=str(result.get("evalue"))[:1000], traceback=[]))
    return out


def review_notebook(judge: Any) -> dict:
    """A notebook (as a dict) of what the learner's notebook did when graded."""
    budget = [MAX_TOTAL]
    positions = {id(c): i for i, c in enumerate(judge.code)}
    cells = []
    for c in judge.plan.cells:
        if c.kind == "markdown":
            cells.append(new_markdown_cell(c.source))
        elif c.kind == "code":
            cell = new_code_cell(c.source, execution_count=c.number)
            cell.outputs = _outputs(judge.results.get(positions[id(c)]), budget)
            cells.append(cell)
        else:
            row = judge.rows.get(c.part, {})
            text = f"[graded] {row.get('message', 'not graded')} ({row.get('points', 0):g}/{row.get('max_points', 0):g})\n"
            for flag in row.get("flags", []):
                text += f"[note] {flag}\n"
            cell = new_code_cell(judge.spec.parts[c.part].exercise_source, metadata={"tags": [f"check:part{c.part}"]})
            cell.outputs = []
            printed = judge.printed.get(c.part, "")
            if printed and budget[0] > 0:
                cell.outputs.append(new_output("stream", name="stdout", text=printed[: budget[0]]))
                budget[0] -= len(printed)
            cell.outputs.append(new_output("stream", name="stdout", text=text))
            cells.append(cell)
    meta = {"dat_edu": {"exercise": judge.spec.exercise, "graded": [judge.rows[n] for n in sorted(judge.rows)]},
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nb = new_notebook(cells=cells, metadata=meta)
    return dict(nb)
