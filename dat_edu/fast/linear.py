"""Linear layers through oneDNN on the CPU at inference time (same numbers, fewer passes).

PyTorch's ``F.linear`` on the CPU calls the BLAS (MKL): it first writes the bias into the output,
then lets the matrix product add to it, and an activation after it is one more pass. oneDNN's
inner-product primitive (``torch.ops.mkldnn._linear_pointwise``, what ``torch.compile`` uses for
frozen CPU models) applies the bias and an optional GELU while it writes the output, and its
kernels are faster than MKL's for the narrow layers of the first stages.

It has no backward, so :func:`linear` uses it only when no gradient is needed (``torch.no_grad``,
``torch.inference_mode`` or ``requires_grad=False`` everywhere) on a CPU built with oneDNN, and
no dispatch mode is watching (``FlopCounterMode`` counts ``F.linear``, not oneDNN's kernel);
otherwise it is ``F.linear`` (+ ``F.gelu``). Either way the result is the same to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["linear", "onednn_available"]

_STATE = {"ok": None}  # None: not tried yet; False: this build cannot


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


def _watched() -> bool:
    """True inside a TorchDispatchMode (FlopCounterMode, a tracer): it should see the plain ops."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return _get_current_dispatch_mode() is not None


def _use_onednn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.bfloat16) or weight.dtype != x.dtype:
        return False
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return False
    return onednn_available() and not _watched()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           gelu: bool = False) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, then ``F.gelu`` if ``gelu``; through oneDNN when it can.

    x: (..., in), weight: (out, in), bias: (out,) or None. Returns (..., out).
    """
    if _use_onednn(x, weight, bias):
        shape = x.shape
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, shape[-1]), weight, bias,
                                                "gelu" if gelu else "none", [], "none" if gelu else "")
        return y.view(*shape[:-1], weight.shape[0])
    y = F.linear(x, weight, bias)
    return F.gelu(y) if gelu else y
