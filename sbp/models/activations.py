"""Pointwise activations shared by the models: the paper's LeakyReLU and the smooth ones we add.

A piecewise-linear network has a Jacobian that jumps across the kinks of its units, so
log det(J^T J) is discontinuous in z. The reparameterized (pathwise) gradient of
E_z[log det(J^T J)] (Eq. 1-3) differentiates at fixed z and misses the terms from the
kinks moving with the parameters: it is biased (``benchmarks/fig1_gradient_bias.py``
measures it). With a C^1 activation the Jacobian is continuous and the pathwise gradient
is that of the expectation.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["ACTIVATIONS", "smooth_leaky_relu", "activation"]


def smooth_leaky_relu(u: Tensor, slope: float) -> Tensor:
    """s u + (1 - s)(softplus(u) - log 2): C-infinity, slopes s and 1 far from 0, value 0 at 0."""
    return slope * u + (1 - slope) * (F.softplus(u) - math.log(2.0))


ACTIVATIONS: dict[str, Callable[[Tensor, float], Tensor]] = {
    "leaky_relu": F.leaky_relu,  # the paper's (Section 3)
    "smooth_leaky_relu": smooth_leaky_relu,
    "elu": lambda u, slope: F.elu(u),
    "silu": lambda u, slope: F.silu(u),
    "tanh": lambda u, slope: torch.tanh(u),
}


def activation(name: str) -> Callable[[Tensor, float], Tensor]:
    """``act(u, slope)`` for ``name`` in ``ACTIVATIONS`` (``slope`` is used by the leaky ones only)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]
