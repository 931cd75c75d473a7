"""The command line of ``python -m dat_edu.bench`` (see the package docstring)."""

from __future__ import annotations

import argparse
import sys

import torch

from dat_edu.bench import attention, blocks, model, parts

__all__ = ["main"]

COMMANDS = {"attention": attention, "blocks": blocks, "model": model, "parts": parts}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (default 1: steady on a shared machine)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")


def build_parser(command: str | None) -> argparse.ArgumentParser:
    prog = "python -m dat_edu.bench" + (f" {command}" if command else "")
    parser = argparse.ArgumentParser(prog=prog, description=(COMMANDS[command].__doc__ or "").split("\n")[0]
                                     if command else "The deformable block paired with the official one, "
                                     "then the attention sweep (see also: blocks, attention, model).")
    _common(parser)
    if command is None:
        blocks.add_arguments(parser)
        attention.add_arguments(parser)
    else:
        COMMANDS[command].add_arguments(parser)
    return parser


def main(argv: list[str] | None = None):
    """Run a benchmark; returns its rows (a dict of row lists without a command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("device 'cuda' requested but torch.cuda.is_available() is False: use --device cpu")
    old = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        if command is not None:
            return COMMANDS[command].run(parser, args)
        out = {"blocks": blocks.run(parser, args)}
        print()
        out["attention"] = attention.run(parser, args)
        return out
    finally:
        torch.set_num_threads(old)  # main() is also called from tests and notebooks
