"""The transformer MLP on channels-last memory, with the GELU fused into the first layer."""

from __future__ import annotations

import torch

from dat_edu.fast.linear import linear
from dat_edu.mlp import Mlp

__all__ = ["FastMlp"]


class FastMlp(Mlp):
    """:class:`dat_edu.mlp.Mlp` (same parameters) whose ``forward`` reads (B, C, H, W) as
    (B, H, W, C) tokens: no transposes on channels-last memory, and at inference fc1 and the GELU
    are one oneDNN call. Returns a channels-last view (B, C, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.dim:
            return super().forward(x)  # the readable forward raises the clear error
        t = x.permute(0, 2, 3, 1)  # (B, H, W, C), a view on channels-last memory
        t = self.drop1(linear(t, self.fc1.weight, self.fc1.bias, gelu=True))  # (B, H, W, hidden)
        t = self.drop2(linear(t, self.fc2.weight, self.fc2.bias))  # (B, H, W, C)
        return t.permute(0, 3, 1, 2)
