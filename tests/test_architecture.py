"""The layers of ARCHITECTURE.md hold: every module imports only from its own layer or the layers below.

    foundation  validate
    blocks      conv, norm, mlp, sampling, offsets, attention, windows, position_bias, deformable, fast/
    model       model, weights
    analysis    data/, modes, train/, bench/, receptive_field, plots/, widgets/ (photo, grids, keys, probes)
    course      widgets.panels (ipywidgets), course/

Every import statement counts, also those inside functions. A module that is in no layer fails the
test: place it in ARCHITECTURE.md and in LAYERS below.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "foundation": ["validate"],
    "blocks": ["conv", "norm", "mlp", "sampling", "offsets", "attention", "windows", "position_bias", "deformable",
               "fast"],
    "model": ["model", "weights"],
    "analysis": ["data", "modes", "train", "bench", "receptive_field", "plots", "widgets"],
    "course": ["widgets.panels", "course"],
}
RANK = {name: i for i, names in enumerate(LAYERS.values()) for name in names}
LAYER_NAMES = list(LAYERS)


def layer_of(module: str) -> int | None:
    """Layer index of ``dat_edu.x.y``: the longest listed prefix wins (widgets.panels before widgets)."""
    parts = module.split(".")[1:]
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANK:
            return RANK[".".join(parts[:n])]
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    where = ROOT.joinpath(*name.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def imports(path: Path) -> list[tuple[str, int]]:
    """(imported dat_edu module, line) for every import in the file, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("dat_edu")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("dat_edu"):
                # `from dat_edu.widgets import panels` imports the module panels, not a name of widgets
                found += [(f"{target}.{a.name}" if _is_module(f"{target}.{a.name}") else target, node.lineno)
                          for a in node.names]
    return found


def test_every_module_has_a_layer():
    missing = [module_name(p) for p in sorted((ROOT / "dat_edu").rglob("*.py"))
               if module_name(p) != "dat_edu" and layer_of(module_name(p)) is None]
    assert not missing, f"modules in no layer (add them to ARCHITECTURE.md and LAYERS): {missing}"


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for path in sorted((ROOT / "dat_edu").rglob("*.py")):
        me = module_name(path)
        if me == "dat_edu":
            continue  # the package's lazy exports name modules of every layer
        for target, line in imports(path):
            mine, theirs = layer_of(me), layer_of(target)
            if theirs is not None and mine is not None and theirs > mine:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({LAYER_NAMES[mine]}) imports {target} "
                              f"({LAYER_NAMES[theirs]})")
    assert not upward, "imports against the layers of ARCHITECTURE.md:\n" + "\n".join(upward)


def test_the_layer_check_sees_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "dat_edu"
    (fake / "plots").mkdir(parents=True)
    (fake / "sampling.py").write_text("def f():\n    from .plots import figure\n")  # a block importing a figure
    (fake / "plots" / "__init__.py").write_text("from ..sampling import f\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert [t for t, _ in imports(fake / "sampling.py")] == ["dat_edu.plots"]
    assert [t for t, _ in imports(fake / "plots" / "__init__.py")] == ["dat_edu.sampling"]
    try:
        test_no_module_imports_from_a_higher_layer()
    except AssertionError as err:
        assert "sampling.py:2 (blocks) imports dat_edu.plots (analysis)" in str(err)
    else:
        raise AssertionError("the upward import was not reported")
