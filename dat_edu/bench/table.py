"""Plain-text tables for the benchmarks: right-aligned numbers, a dashed rule under the header."""

from __future__ import annotations

import argparse
from typing import Sequence

__all__ = ["text_table", "cell", "add_official_argument"]


def cell(value, fmt: str) -> str:
    """``format(value, fmt)``, or "-" for a missing value."""
    return "-" if value is None else format(value, fmt)


def text_table(head: Sequence[str], lines: Sequence[Sequence[str]], left: Sequence[int] = (0,),
               header: bool = True) -> str:
    """Columns sized to their widest cell; the columns in ``left`` are left-aligned, the rest right."""
    widths = [max([len(h)] + [len(c[i]) for c in lines]) for i, h in enumerate(head)]

    def row(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [row(head), row(["-" * w for w in widths])] if header else []
    return "\n".join(out + [row(c) for c in lines])


def add_official_argument(parser: argparse.ArgumentParser) -> None:
    """``--official PATH``: where the user's clone of the official code is (never part of dat_edu)."""
    parser.add_argument("--official", metavar="PATH", default=None,
                        help="a clone of LeapLabTHU/DAT at the v1 commit 566a593 (or its models/ folder)")
