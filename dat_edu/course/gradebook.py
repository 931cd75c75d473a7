"""The gradebook: rows, the CSV and markdown files (escaped, written atomically)."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from dat_edu.course.exercises import write_atomic

COLUMNS = ["learner", "exercise", "part", "points", "max_points", "message", "flags", "notebook"]
PASSED = "passed"


@dataclass
class Row:
    learner: str
    exercise: str
    part: int | str
    points: float
    max_points: float
    message: str
    flags: list[str] = field(default_factory=list)
    notebook: str = ""

    def as_csv(self) -> list[str]:
        return [csv_text(self.learner), csv_text(self.exercise), str(self.part), num(self.points), num(self.max_points),
                csv_text(self.message), csv_text("; ".join(self.flags)), csv_text(self.notebook)]


def num(x: float) -> str:
    return f"{x:g}"


def csv_text(text: str) -> str:
    """A CSV field that a spreadsheet will not read as a formula (OWASP's advice: prefix a quote)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~])")


def md_text(text: str) -> str:
    """Text for a markdown table cell or list item: one line, every markdown character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def csv_bytes(rows: list[Row]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow(r.as_csv())
    return buf.getvalue().encode("utf-8")


def summary_markdown(rows: list[Row], notes: list[str]) -> str:
    graded = [r for r in rows if r.learner and r.exercise not in ("", "?") and r.part != ""]
    exercises = sorted({r.exercise for r in graded})
    learners = sorted({r.learner for r in rows if r.learner})
    got: dict[tuple[str, str], list[float]] = {}
    for r in graded:
        acc = got.setdefault((r.learner, r.exercise), [0.0, 0.0])
        acc[0] += r.points
        acc[1] += r.max_points
    lines = ["# Gradebook summary", ""]
    lines += [md_text(r.message) for r in rows if not r.learner] + [""]
    lines += [f"{len(learners)} learners, {len(exercises)} exercises.", ""]
    lines.append("| learner | " + " | ".join(md_text(e) for e in exercises) + " | total |")
    lines.append("|---" * (len(exercises) + 2) + "|")
    for learner in learners:
        cells, tot, mx = [], 0.0, 0.0
        for ex in exercises:
            a, b = got.get((learner, ex), [0.0, 0.0])
            cells.append(f"{num(a)}/{num(b)}")
            tot, mx = tot + a, mx + b
        pct = f" ({100 * tot / mx:.0f}%)" if mx else ""
        lines.append(f"| {md_text(learner)} | " + " | ".join(cells) + f" | {num(tot)}/{num(mx)}{pct} |")
    problems = [r for r in rows if r.learner and r.message != PASSED]
    if problems:
        lines += ["", "## Parts not passed and other remarks", ""]
        lines += [f"- {md_text(r.learner)}, {md_text(r.exercise)}, part {md_text(r.part)}: {md_text(r.message)}" for r in problems]
    flagged = [r for r in rows if r.learner and r.flags]
    if flagged:
        lines += ["", "## For review", ""]
        lines += [f"- {md_text(r.learner)}, {md_text(r.exercise)}, part {md_text(r.part)}: {md_text('; '.join(r.flags))}"
                  for r in flagged]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {md_text(n)}" for n in notes]
    return "\n".join(lines) + "\n"


def write(rows: list[Row], notes: list[str], out: Path, summary: Path | None) -> None:
    write_atomic(Path(out), csv_bytes(rows))
    if summary is not None:
        write_atomic(Path(summary), summary_markdown(rows, notes).encode("utf-8"))
