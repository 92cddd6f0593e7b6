"""The Wide ResNet of Section 3: R^2 -> R^2, not invertible by construction.

Four residual blocks x <- x + W3 s(W2 s(W1 x + b1) + b2) + b3, each a three-layer
bottleneck R^2 -> 32 -> 32 -> R^2 with LeakyReLU s (the paper's; ``activation`` picks a smooth
one, ours: ``sbp.models.activations`` says why it matters for Eq. 1-3). Nothing constrains the
residual branch's Lipschitz constant, so a block can fold the plane (its Jacobian
I + dR/dx can become singular): the density is then that of Eq. 1-2 (J^T J), not
of a change of variables.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sbp.models.activations import activation as _activation

__all__ = ["ResNet2d", "check_sizes"]


def check_sizes(dim: int, width: int, blocks: int, slope: float, seed: int | torch.Generator) -> torch.Generator:
    """The checks every 2-D residual model makes of its sizes and slope; the seeded generator of its weights."""
    for name, v in (("dim", dim), ("width", width), ("blocks", blocks)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not 0 <= slope < 1:
        raise ValueError(f"slope must be in [0, 1), got {slope}")
    gen = torch.Generator().manual_seed(seed) if isinstance(seed, int) else seed
    if not isinstance(gen, torch.Generator):
        raise TypeError("seed must be an int or a torch.Generator")
    return gen


class ResNet2d(nn.Module):
    """``blocks`` residual bottleneck blocks on R^dim (paper: 4 blocks, width 32, dim 2).

    Parameters are drawn from ``generator`` (or the int ``seed``): PyTorch's default
    Linear initialization U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with the last layer of
    each branch scaled by ``last_scale`` so that the network starts near the identity.
    ``activation``: a name in ``sbp.models.activations.ACTIVATIONS`` (``slope``: the leaky ones').
    """

    def __init__(self, dim: int = 2, width: int = 32, blocks: int = 4, slope: float = 0.2, *,
                 seed: int | torch.Generator = 0, last_scale: float = 0.1, activation: str = "leaky_relu",
                 dtype=torch.float64):
        super().__init__()
        gen = check_sizes(dim, width, blocks, slope, seed)
        self.dim, self.slope, self.activation = dim, slope, activation
        self._act = _activation(activation)
        self.branches = nn.ModuleList()
        for _ in range(blocks):
            layers = [nn.Linear(dim, width, dtype=dtype), nn.Linear(width, width, dtype=dtype),
                      nn.Linear(width, dim, dtype=dtype)]
            with torch.no_grad():
                for i, lin in enumerate(layers):
                    s = 1 / math.sqrt(lin.in_features) * (last_scale if i == 2 else 1.0)
                    lin.weight.copy_((2 * torch.rand(lin.weight.shape, generator=gen, dtype=dtype) - 1) * s)
                    lin.bias.copy_((2 * torch.rand(lin.bias.shape, generator=gen, dtype=dtype) - 1) * s)
            self.branches.append(nn.ModuleList(layers))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected input of shape (B, {self.dim}), got {tuple(x.shape)}")
        for l1, l2, l3 in self.branches:
            h = self._act(l1(x), self.slope)
            h = self._act(l2(h), self.slope)
            x = x + l3(h)
        return x
