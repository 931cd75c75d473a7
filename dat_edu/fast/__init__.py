"""The DAT blocks again, reorganised for speed: same parameters, same state dicts, same numbers.

The readable classes (dat_edu.deformable, dat_edu.windows, dat_edu.mlp) are the lessons' code.
Each class here subclasses one of them, keeps its constructor and parameters, and replaces only
``forward`` by a formulation with fewer passes over memory; :class:`dat_edu.model.DAT` builds
these by default (``fast=True``). tests/test_fast.py holds every one equal to its readable
parent in value and gradient (float64), and the deformable block to the official forward.

    deformable  FastDeformableAttention   tokens, one GEMM per projection, bias grid in (x, y)
    windows     FastWindowAttention       one copy to cut windows, bias + mask + scale in one pass
    mlp         FastMlp                   Linear -> GELU -> Linear on channels-last memory
    linear      linear                    oneDNN's fused Linear(+GELU) when no gradient is needed
    conv        depthwise_conv2d          a depthwise convolution whose backward runs as two forward ones

All of them take and return (B, C, H, W) maps and work best on channels-last memory
(``x.contiguous(memory_format=torch.channels_last)``), which is what the model feeds them.
"""

from dat_edu.fast.conv import depthwise_conv2d
from dat_edu.fast.deformable import FastDeformableAttention, deformable_tokens
from dat_edu.fast.linear import linear
from dat_edu.fast.mlp import FastMlp
from dat_edu.fast.windows import FastWindowAttention

__all__ = ["FastDeformableAttention", "FastWindowAttention", "FastMlp", "deformable_tokens", "linear", "depthwise_conv2d"]
