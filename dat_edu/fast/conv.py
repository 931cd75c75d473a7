"""A depthwise convolution whose backward runs as two forward convolutions.

The offset network's first layer is a depthwise k x k convolution (stride 1 at DAT-T's settings;
k = 9, 7, 5, 3 in stages 1-4). On a CPU, PyTorch's backward of a depthwise convolution has a fast
kernel for 3 x 3 only; for larger kernels it takes a slow path. Its two halves are themselves
depthwise convolutions, which take the fast forward kernel:

* the input's gradient is the output's gradient convolved with the kernel turned by 180 degrees
  (same padding, stride 1);
* the kernel's gradient, ``gw[c, a, b] = sum over images and pixels of x_pad[n, c, y+a, x+b] * gy[n, c, y, x]``,
  is a convolution of the padded input with the output's gradient used as the kernel: with the
  images moved into the channel axis, one depthwise convolution of B*C channels with an H x W
  kernel, summed over the images.

Same numbers to float rounding (tests/test_fast.py holds them equal in float64 with gradcheck).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd import Function

from dat_edu.fast.linear import watched

__all__ = ["depthwise_conv2d"]


class _DepthwiseConv2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        return F.conv2d(x, weight, bias, padding=padding, groups=x.shape[1])

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        p = ctx.padding
        B, C, H, W = x.shape
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = F.conv2d(gy, weight.flip(-1, -2), padding=p, groups=C)
        if ctx.needs_input_grad[1]:
            xp = F.pad(x, (p, p, p, p)).transpose(0, 1).reshape(1, C * B, H + 2 * p, W + 2 * p)
            kernel = gy.transpose(0, 1).reshape(C * B, 1, gy.shape[2], gy.shape[3])
            gw = F.conv2d(xp, kernel, groups=C * B).view(C, B, *weight.shape[2:]).sum(1, keepdim=True)
        if ctx.needs_input_grad[2]:
            gb = gy.sum((0, 2, 3))
        return gx, gw, gb, None


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                     padding: int, stride: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, groups=C)`` for x (B, C, H, W), weight (C, 1, k, k).

    With a gradient wanted, on a CPU, at stride 1 with 'same' padding (odd k >= 5, padding k // 2),
    the backward is computed as forward convolutions (module docstring); elsewhere (3 x 3 kernels
    included, which PyTorch's own backward does fast) it is ``F.conv2d``.
    """
    k = weight.shape[-1]
    special = (stride == 1 and weight.shape[-2] == k and k % 2 == 1 and k >= 5 and padding == k // 2
               and bias is not None and x.device.type == "cpu" and torch.is_grad_enabled()
               and (x.requires_grad or weight.requires_grad or bias.requires_grad)
               and not torch.is_autocast_enabled("cpu") and not watched())
    if not special:
        return F.conv2d(x, weight, bias, stride=stride, padding=padding, groups=x.shape[1])
    return _DepthwiseConv2d.apply(x, weight, bias, padding)
