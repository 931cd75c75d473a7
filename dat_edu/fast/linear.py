"""Linear layers through oneDNN on the CPU at inference time (same numbers, fewer passes).

PyTorch's ``F.linear`` on the CPU calls the BLAS (MKL): it first writes the bias into the output,
then lets the matrix product add to it, and an activation after it is one more pass. oneDNN's
inner-product primitive (``torch.ops.mkldnn._linear_pointwise``, what ``torch.compile`` uses for
frozen CPU models) applies the bias and an optional GELU while it writes the output, and its
kernels are faster than MKL's for the narrow layers of the first stages.

oneDNN multiplies faster when the weight is stored in its own blocked layout; :func:`linear`
reorders each weight once and keeps the copy while the weight lives and is unchanged (its
address, shape and version counter: an optimizer step or ``load_state_dict`` makes a new copy).
That costs one more copy of the weights in memory during inference.

It has no backward, so :func:`linear` uses it only when no gradient is needed (``torch.no_grad``,
``torch.inference_mode`` or ``requires_grad=False`` everywhere) on a CPU built with oneDNN, and
no dispatch mode is watching (``FlopCounterMode`` counts ``F.linear``, not oneDNN's kernel);
otherwise it is ``F.linear`` (+ ``F.gelu``). Either way the result is the same to float rounding.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F

__all__ = ["linear", "onednn_available", "watched"]

_STATE = {"ok": None}  # None: not tried yet; False: this build cannot
_PACKED: dict[int, tuple] = {}  # id(base tensor) -> (weakref to it, key, weight in oneDNN's layout)


def onednn_available() -> bool:
    """True when this PyTorch has oneDNN's pointwise linear (x86 CPU builds)."""
    if _STATE["ok"] is None:
        try:
            x = torch.ones(2, 3)
            torch.ops.mkldnn._linear_pointwise(x, torch.ones(4, 3), None, "none", [], "")
            _STATE["ok"] = torch.backends.mkldnn.is_available()
        except (AttributeError, RuntimeError, NotImplementedError):
            _STATE["ok"] = False
    return bool(_STATE["ok"])


def watched() -> bool:
    """True inside a TorchDispatchMode (FlopCounterMode, a tracer): it should see the plain ops."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return _get_current_dispatch_mode() is not None


def _use_onednn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.bfloat16) or weight.dtype != x.dtype:
        return False
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return False
    return onednn_available() and not watched()


def _packed(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """``weight`` reordered for oneDNN, made once per weight (and again after it changes)."""
    base = weight if weight._base is None else weight._base  # a Parameter, or what it is a view of
    key = (weight.data_ptr(), tuple(weight.shape), weight.stride(), weight.dtype, weight._version)
    entry = _PACKED.get(id(base))
    if entry is not None and entry[0]() is base and entry[1] == key:
        return entry[2]
    packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), rows)
    if entry is None or entry[0]() is not base:  # drop the copy when the weight goes away
        weakref.finalize(base, _PACKED.pop, id(base), None)
    _PACKED[id(base)] = (weakref.ref(base), key, packed)
    return packed


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           gelu: bool = False) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, then ``F.gelu`` if ``gelu``; through oneDNN when it can.

    x: (..., in), weight: (out, in), bias: (out,) or None. Returns (..., out).
    """
    if _use_onednn(x, weight, bias):
        shape = x.shape
        rows = x.reshape(-1, shape[-1])
        y = torch.ops.mkldnn._linear_pointwise(rows, _packed(weight, rows.shape[0]), bias,
                                                "gelu" if gelu else "none", [], "none" if gelu else "")
        return y.view(*shape[:-1], weight.shape[0])
    y = F.linear(x, weight, bias)
    return F.gelu(y) if gelu else y
