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

__all__ = ["ACTIVATIONS", "smooth_leaky_relu", "activation", "activation_with_slope"]


def smooth_leaky_relu(u: Tensor, slope: float) -> Tensor:
    """s u + (1 - s)(softplus(u) - log 2): C-infinity, slopes s and 1 far from 0, value 0 at 0."""
    return slope * u + (1 - slope) * (F.softplus(u) - math.log(2.0))


def _elu(u: Tensor, slope: float) -> Tensor:
    return F.elu(u)


def _silu(u: Tensor, slope: float) -> Tensor:
    return F.silu(u)


def _tanh(u: Tensor, slope: float) -> Tensor:
    return torch.tanh(u)


# module-level functions, not lambdas: a model holding one pickles (to and from worker processes)
ACTIVATIONS: dict[str, Callable[[Tensor, float], Tensor]] = {
    "leaky_relu": F.leaky_relu,  # the paper's (Section 3)
    "smooth_leaky_relu": smooth_leaky_relu,
    "elu": _elu,
    "silu": _silu,
    "tanh": _tanh,
}


def activation(name: str) -> Callable[[Tensor, float], Tensor]:
    """``act(u, slope)`` for ``name`` in ``ACTIVATIONS`` (``slope`` is used by the leaky ones only)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _leaky_with_slope(u: Tensor, slope: float) -> tuple[Tensor, Tensor]:
    return F.leaky_relu(u, slope), torch.where(u > 0, torch.ones_like(u), torch.full_like(u, slope))


def _elu_with_slope(u: Tensor, slope: float) -> tuple[Tensor, Tensor]:
    a = F.elu(u)
    return a, torch.where(u > 0, torch.ones_like(u), a + 1)  # elu'(u) = exp(u) = elu(u) + 1 for u <= 0


def _tanh_with_slope(u: Tensor, slope: float) -> tuple[Tensor, Tensor]:
    a = torch.tanh(u)
    return a, 1 - a * a


def _smooth_with_slope(u: Tensor, slope: float) -> tuple[Tensor, Tensor]:
    return smooth_leaky_relu(u, slope), slope + (1 - slope) * torch.sigmoid(u)


def _silu_with_slope(u: Tensor, slope: float) -> tuple[Tensor, Tensor]:
    s = torch.sigmoid(u)
    return u * s, s * (1 + u * (1 - s))


_WITH_SLOPE: dict[str, Callable[[Tensor, float], tuple[Tensor, Tensor]]] = {
    "leaky_relu": _leaky_with_slope, "smooth_leaky_relu": _smooth_with_slope, "elu": _elu_with_slope,
    "silu": _silu_with_slope, "tanh": _tanh_with_slope,
}


def activation_with_slope(name: str) -> Callable[[Tensor, float], tuple[Tensor, Tensor]]:
    """``f(u, slope) -> (act(u), act'(u))`` for ``name`` in ``ACTIVATIONS``: the value and its elementwise
    derivative in one pass (forward-mode Jacobians of the 2-D models; LeakyReLU's derivative at 0 is ``slope``)."""
    activation(name)  # validates
    return _WITH_SLOPE[name]
