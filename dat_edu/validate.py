"""Input checks shared by every module: one wording for each mistake, so every error names the fix.

* :func:`pair` turns ``7`` or ``(7, 5)`` into a ``(y, x)`` / ``(H, W)`` pair (sizes, shifts, queries).
* :func:`check_divisible`: channels split into equal heads or groups (the message says why and
  which values would work).
* :func:`check_nchw` rejects anything that is not an NCHW feature map (B, C, H, W), optionally with a
  given number of channels: the mistake every layer of the course can meet (a token tensor
  (B, N, C), a single image (C, H, W), the wrong ``dim``).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["pair", "check_nchw", "check_divisible"]


def pair(value: Any, name: str) -> tuple[Any, Any]:
    """``(a, b)`` from a pair, or ``(v, v)`` from a single number; a ValueError naming ``name`` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value, value
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a pair (y, x), got {value!r}") from None
    return a, b


def check_nchw(x: Any, who: str, channels: int | None = None, hint: str = "") -> None:
    """Raise a ValueError unless ``x`` is a 4-D tensor (B, C, H, W) (with ``channels`` channels if given).

    ``who`` names the layer or function in the message; ``hint`` (e.g. how to turn tokens into a
    map) is appended to either error.
    """
    tail = f"; {hint}" if hint else ""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else f"a {type(x).__name__}"
        raise ValueError(f"{who} expects an NCHW feature map (B, C, H, W), got {got}{tail}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{who} was built for {channels} channels (dim={channels}) but the input has {x.shape[1]} "
            f"channels (shape {tuple(x.shape)}){tail}"
        )


def check_divisible(value: int, name: str, by: int, by_name: str, why: str) -> None:
    """Raise a ValueError unless ``by`` >= 1 splits ``value`` evenly; ``why`` says why it must.

    E.g. ``check_divisible(dim, "dim", num_heads, "num_heads", "every head needs the same number of
    channels")``.
    """
    if by < 1 or value % by != 0:
        raise ValueError(f"{name} {value} is not divisible by {by_name} {by}: {why}; "
                         f"pick {by_name} among the divisors of {value}")
