"""Convolution building blocks and exact cost counting.

DAT's offset network is a *depthwise* convolution followed by a *pointwise* (1x1) one, so the
course starts by comparing four kinds of 2-D convolution on an NCHW feature map:

* standard:   every output channel sees every input channel           groups = 1
* group:      channels split into ``groups`` independent blocks        groups = g
* depthwise:  one filter per channel (a group conv with groups = C)   groups = C
* depthwise-separable: depthwise k x k, then pointwise 1 x 1 that mixes channels.

Counting rules (kernel k x k, ``C_in`` -> ``C_out``, ``g`` groups, output map ``H_out x W_out``)::

    parameters    = C_out * (C_in / g) * k * k  (+ C_out if bias)
    multiply-adds = H_out * W_out * C_out * (C_in / g) * k * k

Worked example (16 -> 32 channels, 3 x 3, no bias):

* standard:  32 * 16 * 3 * 3          = 4608
* 2 groups:  32 * (16 / 2) * 3 * 3    = 2304
* separable: 16 * 3 * 3 + 32 * 16     = 144 + 512 = 656

Every builder pads with ``kernel_size // 2`` so that an odd kernel with stride 1 keeps H x W.
"""

from __future__ import annotations

from torch import nn

from dat_edu.validate import check_divisible

__all__ = [
    "standard_conv",
    "depthwise_conv",
    "group_conv",
    "depthwise_separable_conv",
    "conv_params",
    "conv_macs",
    "separable_params",
    "separable_macs",
    "conv_output_size",
    "count_parameters",
]


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_groups(in_ch: int, out_ch: int, groups: int) -> None:
    """Both channel counts must split evenly into ``groups`` blocks (a PyTorch requirement)."""
    _check_positive(in_ch=in_ch, out_ch=out_ch, groups=groups)
    check_divisible(in_ch, "in_ch", groups, "groups", "each group needs the same number of input channels")
    check_divisible(out_ch, "out_ch", groups, "groups", "each group needs the same number of output channels")


def group_conv(
    in_ch: int, out_ch: int, kernel_size: int, groups: int, stride: int = 1, bias: bool = False
) -> nn.Conv2d:
    """Grouped k x k convolution: ``groups`` independent convs, each (C_in/g -> C_out/g).

    Input (N, in_ch, H, W) -> output (N, out_ch, H_out, W_out), padding ``kernel_size // 2``.
    Raises ValueError when in_ch or out_ch is not divisible by ``groups``.
    """
    _check_groups(in_ch, out_ch, groups)
    _check_positive(kernel_size=kernel_size, stride=stride)
    return nn.Conv2d(
        in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=bias
    )


def standard_conv(
    in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, bias: bool = False
) -> nn.Conv2d:
    """Ordinary k x k convolution (groups = 1): (N, in_ch, H, W) -> (N, out_ch, H_out, W_out)."""
    return group_conv(in_ch, out_ch, kernel_size, groups=1, stride=stride, bias=bias)


def depthwise_conv(
    channels: int, kernel_size: int, stride: int = 1, bias: bool = False
) -> nn.Conv2d:
    """Depthwise k x k convolution: one filter per channel (groups = channels), no channel mixing.

    (N, C, H, W) -> (N, C, H_out, W_out). This is the first layer of DAT's offset network.
    """
    return group_conv(channels, channels, kernel_size, groups=channels, stride=stride, bias=bias)


def depthwise_separable_conv(
    in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, bias: bool = False
) -> nn.Sequential:
    """Depthwise k x k (spatial filtering) followed by pointwise 1 x 1 (channel mixing).

    Returns ``nn.Sequential(depthwise, pointwise)``; indices 0 and 1 are the two convs.
    ``bias`` applies to both convs. (N, in_ch, H, W) -> (N, out_ch, H_out, W_out).
    """
    _check_positive(in_ch=in_ch, out_ch=out_ch)
    return nn.Sequential(
        depthwise_conv(in_ch, kernel_size, stride=stride, bias=bias),
        standard_conv(in_ch, out_ch, 1, bias=bias),
    )


def conv_params(
    in_ch: int, out_ch: int, kernel_size: int, groups: int = 1, bias: bool = False
) -> int:
    """Exact parameter count of ``nn.Conv2d(in_ch, out_ch, kernel_size, groups=groups, bias=bias)``.

    weight: (out_ch, in_ch / groups, k, k); bias: (out_ch,).
    """
    _check_groups(in_ch, out_ch, groups)
    _check_positive(kernel_size=kernel_size)
    weights = out_ch * (in_ch // groups) * kernel_size * kernel_size
    return weights + (out_ch if bias else 0)


def conv_macs(
    in_ch: int, out_ch: int, kernel_size: int, out_h: int, out_w: int, groups: int = 1
) -> int:
    """Multiply-adds of one forward pass for one image (bias additions not counted).

    Each of the ``out_h * out_w * out_ch`` outputs is a dot product of length
    ``(in_ch / groups) * k * k``. Zero padding is counted as if it were real input, as is usual.
    """
    _check_groups(in_ch, out_ch, groups)
    _check_positive(kernel_size=kernel_size, out_h=out_h, out_w=out_w)
    return out_h * out_w * out_ch * (in_ch // groups) * kernel_size * kernel_size


def separable_params(in_ch: int, out_ch: int, kernel_size: int, bias: bool = False) -> int:
    """Parameters of :func:`depthwise_separable_conv`: depthwise k x k plus pointwise 1 x 1."""
    depthwise = conv_params(in_ch, in_ch, kernel_size, groups=in_ch, bias=bias)
    pointwise = conv_params(in_ch, out_ch, 1, bias=bias)
    return depthwise + pointwise


def separable_macs(in_ch: int, out_ch: int, kernel_size: int, out_h: int, out_w: int) -> int:
    """Multiply-adds of :func:`depthwise_separable_conv` on an output map out_h x out_w."""
    depthwise = conv_macs(in_ch, in_ch, kernel_size, out_h, out_w, groups=in_ch)
    pointwise = conv_macs(in_ch, out_ch, 1, out_h, out_w)
    return depthwise + pointwise


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int | None = None) -> int:
    """Output length of a convolution along one axis: floor((size + 2p - k) / stride) + 1.

    ``padding`` defaults to ``kernel_size // 2`` (the padding every builder here uses).
    """
    _check_positive(size=size, kernel_size=kernel_size, stride=stride)
    if padding is None:
        padding = kernel_size // 2
    out = (size + 2 * padding - kernel_size) // stride + 1
    if out < 1:
        raise ValueError(
            f"input size {size} is too small for kernel {kernel_size} with padding {padding}: "
            "use a larger input or a smaller kernel"
        )
    return out


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``module`` (only those with requires_grad if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
