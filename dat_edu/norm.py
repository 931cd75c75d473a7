"""Layer normalisation over the channels of an NCHW feature map.

``nn.LayerNorm(C)`` normalises the *last* dimension, but DAT keeps feature maps as (B, C, H, W).
The official code (``LayerNormProxy``) therefore moves channels last, normalises, and moves them
back. Each pixel is normalised on its own across its C channels: mean 0, variance 1, then scaled
by ``weight`` and shifted by ``bias`` (both of shape (C,)).

The inner module is called ``norm`` so that official checkpoint keys such as
``patch_proj.1.norm.weight`` load without renaming.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from dat_edu.validate import check_nchw

__all__ = ["LayerNorm2d"]


class LayerNorm2d(nn.Module):
    """LayerNorm over C of an NCHW map: (B, C, H, W) -> (B, C, H, W).

    Args:
        channels: C, the size of dimension 1 of the input.
        eps: added to the variance for numerical stability (PyTorch default 1e-5, as official).
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be positive, got {channels}")
        self.channels = channels
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nchw(x, "LayerNorm2d", self.channels, hint="for (B, N, C) tokens use nn.LayerNorm directly")
        x = rearrange(x, "b c h w -> b h w c")  # channels last for nn.LayerNorm
        x = self.norm(x)
        return rearrange(x, "b h w c -> b c h w")

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
