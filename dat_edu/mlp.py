"""The transformer MLP (feed-forward) branch and stochastic depth (DropPath).

Mlp: Linear(C, 4C) -> GELU -> Dropout -> Linear(4C, C) -> Dropout, applied to every pixel of an
NCHW map independently (a 1x1 conv would compute the same thing; Linear layers keep the official
weight shapes (out, in)).

DropPath ("stochastic depth", Huang et al. 2016): during training, the whole residual branch of a
sample is dropped with probability p, and kept samples are scaled by 1 / (1 - p) so the expected
output is unchanged. In eval mode (or p = 0) it is the identity. DAT uses one rate per block,
growing linearly with depth.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from dat_edu.validate import check_nchw

__all__ = ["Mlp", "DropPath", "drop_path"]


class Mlp(nn.Module):
    """Pointwise feed-forward network on an NCHW map: (B, C, H, W) -> (B, C, H, W).

    Args:
        dim: C, input and output channels.
        hidden_dim: width of the hidden layer (default 4 * dim, as in DAT).
        drop: dropout probability after the GELU and after ``fc2``.

    Submodules: ``fc1`` (Linear dim -> hidden), ``act`` (GELU), ``drop1``, ``fc2``
    (Linear hidden -> dim), ``drop2``.
    """

    def __init__(self, dim: int, hidden_dim: int | None = None, drop: float = 0.0) -> None:
        super().__init__()
        hidden_dim = 4 * dim if hidden_dim is None else hidden_dim
        if dim < 1 or hidden_dim < 1:
            raise ValueError(f"dim and hidden_dim must be positive, got {dim} and {hidden_dim}")
        if not 0.0 <= drop < 1.0:
            raise ValueError(f"drop must be in [0, 1), got {drop}")
        self.dim = dim
        self.hidden_dim = hidden_dim
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nchw(x, "Mlp", self.dim)
        h, w = x.shape[2], x.shape[3]
        x = rearrange(x, "b c h w -> b (h w) c")  # tokens, channels last for nn.Linear
        x = self.drop1(self.act(self.fc1(x)))  # (B, HW, hidden)
        x = self.drop2(self.fc2(x))  # (B, HW, C)
        return rearrange(x, "b (h w) c -> b c h w", h=h, w=w)


def drop_path(x: torch.Tensor, p: float = 0.0, training: bool = False) -> torch.Tensor:
    """Functional stochastic depth: zero whole samples (dim 0) with probability p, scale the rest.

    Works for any shape (B, ...). Identity when ``p == 0`` or not ``training``.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"drop-path probability must be in [0, 1), got {p}")
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    # One Bernoulli draw per sample, broadcast over all other dimensions.
    mask_shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    mask = torch.empty(mask_shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """Stochastic depth as a module: (B, ...) -> (B, ...), see :func:`drop_path`."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
