"""A learner's work is never overwritten: know what the course's tools last wrote, keep the rest.

The exercise generator and the notebook executor write a fingerprint of what they wrote into the
notebook's metadata (``metadata.dat_edu.generated`` for exercises: cell types, sources and
outputs; ``metadata.dat_edu.executed`` for lessons and solutions: outputs only, since
re-executing keeps every source line). Before replacing a notebook they compare: a notebook whose
fingerprint no longer matches was changed since (a learner worked in it, or ran it in JupyterLab
and saved), so

* the generator refuses to replace an exercise that holds changes (``--backup`` first moves the
  learner's version to ``backups/``), and
* the executor keeps a timestamped copy in ``backups/`` of a notebook whose outputs it did not
  write, and says so, before it writes the new outputs.

Backups go to ``<repository>/backups/<folder>/<name>-<YYYYmmdd-HHMMSS>.ipynb`` (``backups/`` sits
next to the notebook's folder and is ignored by git and by the tests).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

GENERATED = "generated"  # key in metadata.dat_edu: fingerprint of an exercise as generated
EXECUTED = "executed"  # key in metadata.dat_edu: fingerprint of the outputs as executed
BACKUPS = "backups"


def fingerprint(nb, outputs_only: bool = False) -> str:
    """A short hash of the cells (type, source, outputs), or of the outputs only."""
    cells = []
    for cell in nb.get("cells", []):
        outputs = cell.get("outputs", []) if cell.get("cell_type") == "code" else []
        if outputs_only:
            cells.append(outputs)
            continue
        source = cell.get("source", "")
        cells.append([cell.get("cell_type"), "".join(source) if isinstance(source, list) else source, outputs])
    blob = json.dumps(cells, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _outputs_only(key: str) -> bool:
    return key == EXECUTED


def stamp(nb, key: str) -> None:
    """Record the notebook's current fingerprint under ``metadata.dat_edu[key]``."""
    meta = dict(nb.metadata.get("dat_edu") or {})
    meta[key] = fingerprint(nb, outputs_only=_outputs_only(key))
    nb.metadata["dat_edu"] = meta


def stamp_generated(exercise) -> None:
    """Stamp a freshly generated exercise (without the solution's execution stamp, so that
    re-executing a solution does not change its exercise)."""
    meta = dict(exercise.metadata.get("dat_edu") or {})
    meta.pop(EXECUTED, None)
    exercise.metadata["dat_edu"] = meta
    stamp(exercise, GENERATED)


def recorded(nb, key: str) -> str | None:
    return (nb.get("metadata", {}).get("dat_edu") or {}).get(key)


def untouched(nb, key: str) -> bool:
    """True if the notebook is exactly what the tool that stamped it wrote (no stamp: False)."""
    return recorded(nb, key) == fingerprint(nb, outputs_only=_outputs_only(key))


def has_outputs(nb) -> bool:
    return any(cell.get("outputs") for cell in nb.get("cells", []) if cell.get("cell_type") == "code")


def backup_path(path: Path, now: float | None = None) -> Path:
    """A new, unused name for a copy of ``path`` under ``backups/<folder>/``."""
    path = Path(path).resolve()
    folder = path.parent.parent / BACKUPS / path.parent.name
    stamp_text = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    candidate = folder / f"{path.stem}-{stamp_text}{path.suffix}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{path.stem}-{stamp_text}-{n}{path.suffix}"
        n += 1
    return candidate


def keep_backup(path: Path) -> Path:
    """Copy ``path`` to a new file under ``backups/`` and return where it went."""
    target = backup_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, target)
    return target
