"""Which of a learner's notebooks is which exercise.

A notebook matches an exercise by its metadata ``dat_edu.exercise`` (written by the generator),
else by its file name (``03 bilinear (1).ipynb`` -> ``03_bilinear``), else by its markdown
headings. When several notebooks match one exercise, the grader takes the best match; among equal
matches the most recently modified file, then the first by path. The others get a row saying which
notebook was graded instead. Symbolic links are never followed or graded.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dat_edu.course import submission
from dat_edu.course.exercises import ExerciseSpec, headings

RULE = "the best match (metadata, then file name, then headings), then the most recently modified, then the first by name"


def _norm_stem(stem: str) -> str:
    s = stem.lower()
    s = re.sub(r"[-_ ]*copy\d*$", "", s)
    s = re.sub(r"\s*\(\d+\)$", "", s)
    s = re.sub(r"[^a-z0-9]+", " ", s)
    return s.strip()


def _leading_number(stem: str) -> int | None:
    m = re.match(r"\s*(\d+)", stem)
    return int(m.group(1)) if m else None


def match_score(path: Path, data: dict | None, spec: ExerciseSpec) -> float:
    """How well a submitted notebook matches an exercise (0 = not at all)."""
    if data is not None:
        meta = (data.get("metadata") or {}).get("dat_edu") if isinstance(data.get("metadata"), dict) else None
        if isinstance(meta, dict) and meta.get("exercise") == spec.exercise:
            return 10.0
    stem, target = _norm_stem(path.stem), _norm_stem(spec.exercise)
    if stem == target:
        return 5.0
    score = 0.0
    n, m = _leading_number(stem), _leading_number(target)
    ratio = difflib.SequenceMatcher(None, stem, target).ratio()
    if n is not None and n == m:
        score = 3.0 + ratio
    elif ratio >= 0.6 and (n is None or m is None):
        score = 2.0 + ratio
    if score == 0.0 and data is not None and spec.headings:
        try:
            heads = set(headings(nbformat.from_dict(data)))
        except Exception:
            heads = set()
        mine = set(spec.headings)
        overlap = len(heads & mine) / max(1, len(heads | mine))
        if overlap >= 0.5:
            score = 1.0 + overlap
    return score


@dataclass
class Matched:
    chosen: dict[str, Path] = field(default_factory=dict)  # exercise -> notebook graded
    duplicates: list[tuple[Path, str]] = field(default_factory=list)  # (notebook, exercise it also matches)
    unmatched: list[Path] = field(default_factory=list)
    unreadable: dict[Path, str] = field(default_factory=dict)


def match_submissions(paths: list[Path], specs: list[ExerciseSpec]) -> Matched:
    result = Matched()
    candidates: list[tuple[float, float, str, str]] = []  # (score, -mtime, path, exercise)
    for path in paths:
        data, _ = submission.read(path)
        try:
            mtime = os.lstat(path).st_mtime
        except OSError:
            mtime = 0.0
        for spec in specs:
            s = match_score(path, data, spec)
            if s > 0:
                candidates.append((-s, -mtime, str(path), spec.exercise))
    candidates.sort()
    used: set[str] = set()
    for _, _, path, ex in candidates:
        if ex not in result.chosen and path not in used:
            result.chosen[ex] = Path(path)
            used.add(path)
    for path in paths:
        if str(path) in used:
            continue
        also = [c[3] for c in candidates if c[2] == str(path)]
        if also:
            result.duplicates.append((path, also[0]))
        else:
            result.unmatched.append(path)
    return result


def learner_notebooks(folder: Path) -> tuple[list[Path], list[Path]]:
    """(notebooks, symbolic links) under a learner's folder: links to notebooks or folders are
    reported, never followed; hidden and checkpoint folders are skipped."""
    notebooks, links = [], []
    for root, dirs, files in os.walk(folder, followlinks=False):
        links += [Path(root) / d for d in dirs if not d.startswith(".") and os.path.islink(os.path.join(root, d))]
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(root, d)))
        for name in sorted(files):
            if name.endswith(".ipynb") and not name.startswith("."):
                p = Path(root) / name
                (links if p.is_symlink() else notebooks).append(p)
    return notebooks, links
