"""Implicit densities of non-invertible maps (Eq. 1-2 of the paper)."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.logdet import LogdetEstimate, logdet_metric

__all__ = ["log_normal", "log_density_pushforward", "log_density_pullback"]


def log_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I) for each row of z (B, d)."""
    d = z.shape[-1]
    return -0.5 * (z * z).sum(-1) - 0.5 * d * math.log(2 * math.pi)


def log_density_pushforward(f: Callable[[Tensor], Tensor], z: Tensor, **kw) -> tuple[Tensor, LogdetEstimate]:
    """log p(f(z)) = log p_Z(z) - 1/2 log det(J_f^T J_f) (Eq. 1, f: latent -> data).

    Keyword arguments go to ``logdet_metric``. Returns (log density (B,), estimate).
    """
    est = logdet_metric(f, z, **kw)
    return log_normal(z) - 0.5 * est.logdet, est


def log_density_pullback(g: Callable[[Tensor], Tensor], x: Tensor, **kw) -> tuple[Tensor, LogdetEstimate]:
    """log p(x) = log p_Z(g(x)) + 1/2 log det(J_g^T J_g) (g: data -> latent, Figure 2)."""
    est = logdet_metric(g, x, **kw)
    zx = g(x).reshape(x.shape[0], -1)
    return log_normal(zx) + 0.5 * est.logdet, est
