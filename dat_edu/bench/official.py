"""Load the official DAT v1 code from a checkout the user points to, for side-by-side timing.

The official code (LeapLabTHU/DAT, v1: ``models/dat_blocks.py`` and ``models/dat.py`` at commit
566a593) is never copied into this package: pass ``--official PATH`` with PATH a clone of that
repository (``git clone https://github.com/LeapLabTHU/DAT; git -C DAT checkout 566a593``), its
``models`` folder, or the ``dat_blocks.py`` file itself.

It imports three helpers from timm (``to_2tuple``, ``trunc_normal_``, ``DropPath``). timm is not a
dependency of dat_edu (it pulls a CUDA build of torch), so while the official files load, a
minimal stand-in module provides exactly those three; it is removed again afterwards.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from dat_edu.mlp import DropPath

__all__ = ["OfficialCodeError", "run_against_official", "official_files", "load_official_blocks", "load_official_dat",
           "official_dattention", "official_dat_tiny", "DAT_TINY_CONFIG"]

# configs/dat_tiny.yaml of the official repository (v1)
DAT_TINY_CONFIG = dict(
    img_size=224, patch_size=4, num_classes=1000, expansion=4, dim_stem=96, dims=[96, 192, 384, 768],
    depths=[2, 2, 6, 2], stage_spec=[["L", "S"], ["L", "S"], ["L", "D", "L", "D", "L", "D"], ["L", "D"]],
    heads=[3, 6, 12, 24], window_sizes=[7, 7, 7, 7], groups=[-1, -1, 3, 6],
    use_pes=[False, False, True, True], dwc_pes=[False] * 4, strides=[-1, -1, 1, 1], sr_ratios=[-1] * 4,
    offset_range_factor=[-1, -1, 2, 2], no_offs=[False] * 4, fixed_pes=[False] * 4,
    use_dwc_mlps=[False] * 4, use_conv_patches=False, drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.2,
)

_V1_ARGS = ("q_size", "kv_size", "n_heads", "n_head_channels", "n_groups", "attn_drop", "proj_drop",
            "stride", "offset_range_factor", "use_pe", "dwc_pe", "no_off", "fixed_pe", "stage_idx")


class OfficialCodeError(ValueError):
    """The path does not hold the official DAT v1 code (missing file, or another version)."""


def run_against_official(parser, official: str | None, fn, **kwargs):
    """``fn(official=official, **kwargs)`` for a command line: a missing or wrong checkout becomes a
    usage error that says what to pass. Returns (rows, the reference's name: official or readable)."""
    try:
        rows = fn(official=official, **kwargs)
    except OfficialCodeError as err:
        parser.error(str(err))
    return rows, "official" if official else "readable"


def official_files(path: str | Path) -> tuple[Path, Path | None]:
    """(dat_blocks.py, dat.py or None) under ``path`` (a clone, its models/ folder, or the file)."""
    p = Path(path).expanduser()
    candidates = [p] if p.is_file() else [p / "models" / "dat_blocks.py", p / "dat_blocks.py"]
    for blocks in candidates:
        if blocks.is_file():
            dat = blocks.with_name("dat.py")
            return blocks, dat if dat.is_file() else None
    raise OfficialCodeError(
        f"no official DAT code at {p}: expected models/dat_blocks.py (a clone of "
        "https://github.com/LeapLabTHU/DAT checked out at the v1 commit 566a593), its models folder, "
        "or the dat_blocks.py file")


def _timm_stand_in() -> dict[str, types.ModuleType]:
    """The three timm helpers the official files import, and nothing else."""
    timm, models, layers = (types.ModuleType(n) for n in ("timm", "timm.models", "timm.models.layers"))

    def to_2tuple(x):
        return tuple(x) if isinstance(x, (tuple, list)) else (x, x)

    layers.to_2tuple = to_2tuple
    layers.trunc_normal_ = nn.init.trunc_normal_
    layers.DropPath = DropPath
    timm.models, models.layers = models, layers
    return {"timm": timm, "timm.models": models, "timm.models.layers": layers}


@contextmanager
def _stand_in_timm():
    names = ("timm", "timm.models", "timm.models.layers")
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update(_timm_stand_in())
    try:
        yield
    finally:
        for n, mod in saved.items():
            if mod is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = mod


def _load(file: Path, name: str, package: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"{package}.{name}", file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(spec.name, None)
        raise
    return module


def _package(folder: Path) -> str:
    """A private package name for the official models folder (its files import each other)."""
    name = f"_dat_official_{abs(hash(str(folder.resolve()))):x}"
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(folder)]
        sys.modules[name] = pkg
    return name


def load_official_blocks(path: str | Path) -> types.ModuleType:
    """The official ``dat_blocks`` module (v1), checked to have v1's ``DAttentionBaseline``."""
    blocks_file, _ = official_files(path)
    package = _package(blocks_file.parent)
    with _stand_in_timm():
        module = sys.modules.get(f"{package}.dat_blocks") or _load(blocks_file, "dat_blocks", package)
    cls = getattr(module, "DAttentionBaseline", None)
    if cls is None:
        raise OfficialCodeError(f"{blocks_file} defines no DAttentionBaseline")
    params = tuple(inspect.signature(cls.__init__).parameters)[1:]
    if params != _V1_ARGS:
        raise OfficialCodeError(
            f"{blocks_file}: DAttentionBaseline{params} is not the v1 block (DAT++ replaced stage_idx "
            "by ksize and log_cpb); check out the v1 code: git -C <clone> checkout 566a593")
    return module


def load_official_dat(path: str | Path) -> types.ModuleType:
    """The official ``dat`` module (v1), whose ``DAT`` class builds the whole model."""
    blocks_file, dat_file = official_files(path)
    if dat_file is None:
        raise OfficialCodeError(f"no dat.py next to {blocks_file}: the model benchmark needs models/dat.py")
    load_official_blocks(path)  # dat.py does `from .dat_blocks import *`
    package = _package(blocks_file.parent)
    with _stand_in_timm():
        return sys.modules.get(f"{package}.dat") or _load(dat_file, "dat", package)


def official_dattention(path: str | Path, dim: int, heads: int, groups: int, size: int,
                        stage_idx: int) -> nn.Module:
    """An official DAttentionBaseline with DAT's released settings (stride 1, factor 2, table bias)."""
    blocks = load_official_blocks(path)
    return blocks.DAttentionBaseline((size, size), (size, size), heads, dim // heads, groups, 0.0, 0.0,
                                     1, 2.0, True, False, False, False, stage_idx)


def official_dat_tiny(path: str | Path) -> nn.Module:
    """The official DAT-T (configs/dat_tiny.yaml); its forward returns (logits, positions, references)."""
    return load_official_dat(path).DAT(**DAT_TINY_CONFIG)


def state_dict_for_ours(official: nn.Module, ours: nn.Module) -> dict[str, torch.Tensor]:
    """The official block's tensors under dat_edu's names (one deformable block)."""
    from dat_edu.weights import official_key_map

    names = official_key_map(ours)
    return {names[k]: v for k, v in official.state_dict().items() if k in names}
