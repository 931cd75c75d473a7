"""``python -m dat_edu.train``: one flag per :class:`TrainConfig` field, generated from the fields.

Every field becomes ``--field-name`` (booleans also ``--no-field-name``) with the field's help text,
type and choices; a flag that is not given keeps the preset's (or the default's) value. The test
suite checks that every field has its flag, so a new setting cannot be forgotten here.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import typing

import torch

from .checkpoint import CheckpointError
from .config import TrainConfig, make_config
from .distributed import shutdown
from .loop import summary_line, train
from .presets import PRESETS

__all__ = ["build_parser", "main"]


def _key_value(item: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE a Python literal (``2``, ``(16, 32)``, ``None``) or else a string."""
    if "=" not in item:
        raise argparse.ArgumentTypeError(f"expected key=value, got {item!r}")
    k, v = item.split("=", 1)
    try:
        return k, ast.literal_eval(v)
    except (ValueError, SyntaxError):
        return k, v


def _bool_or_auto(s: str):
    s = s.lower()
    if s == "auto":
        return "auto"
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected auto/true/false, got {s!r}")


def _optional(kind):
    """A parser for ``kind | None``: the word ``none`` gives None."""

    def parse(s: str):
        return None if s.lower() == "none" else kind(s)

    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse


_PARSERS = {"bool_or_auto": _bool_or_auto}


def _add_field(p: argparse.ArgumentParser, f: dataclasses.Field, kind) -> None:
    meta = f.metadata
    flags = [f"--{f.name.replace('_', '-')}", *meta.get("aliases", ())]
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default
    help_text = meta["help"] if default is None or "default" in meta["help"] else f"{meta['help']} (default {default!r})"
    kw: dict = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}  # absent unless given
    args = typing.get_args(kind)
    if "parse" in meta:
        kw["type"] = _PARSERS[meta["parse"]]
    elif kind is bool:
        kw["action"] = argparse.BooleanOptionalAction
    elif kind is dict:
        kw.update(action="append", type=_key_value, metavar=meta.get("metavar"))
    elif args and type(None) in args:  # X | None
        (inner,) = [a for a in args if a is not type(None)]
        kw["type"] = _optional(inner)
    else:
        kw["type"] = kind
    if meta.get("choices"):
        kw["choices"] = meta["choices"]
    p.add_argument(*flags, **kw)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: ``--preset``, ``--print-config`` and one flag per TrainConfig field."""
    p = argparse.ArgumentParser(
        prog="python -m dat_edu.train",
        description="Train a small DAT. Start from a preset; any flag overrides it. The defaults shown are "
                    "TrainConfig's; the preset (cpu, or gpu when a GPU is visible) replaces some of them.",
        epilog="Presets: " + "; ".join(f"{k}: {v}" for k, v in PRESETS.items()),
    )
    p.add_argument("--preset", choices=list(PRESETS),
                   help="starting settings (default: gpu when a CUDA GPU is visible, else cpu)")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    kinds = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        _add_field(p, f, kinds[f.name])
    return p


def main(argv: list[str] | None = None) -> dict | None:
    """Entry point of ``python -m dat_edu.train``; returns the summary (None with --print-config)."""
    args = build_parser().parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k != "print_config" and not (k == "preset" and v is None)}
    if "model_kwargs" in values:
        values["model_kwargs"] = dict(values["model_kwargs"])
    if args.preset is None and "resume" not in values:
        values["preset"] = "cpu" if not torch.cuda.is_available() else "gpu"
    cfg, _ = make_config(values)
    if args.print_config:
        print(json.dumps(dataclasses.asdict(cfg), indent=1))
        return None
    from ..data import DownloadError, IDXError

    try:
        result = train(values)
    except (DownloadError, IDXError, FileNotFoundError, CheckpointError) as err:
        # data or checkpoint problems: the message says what to do, a traceback adds nothing
        raise SystemExit(f"error: {err}") from None
    finally:
        shutdown()
    if not result["config"]["progress"] and int(os.environ.get("RANK", "0")) == 0:
        print(summary_line(result), flush=True)  # the command line always reports the result
    return result
