"""The dense, exact path: J^T J formed from the full Jacobian, and its log det, in float64.

Everything in sbp that needs the exact metric (``logdet_metric(method="exact")``, the
exact eigenpairs, the benchmark's exact values, the likelihood ascent's monitoring) forms
it here, so that there is one definition of "exact".
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.jacobian import MetricOperator, jacobian

__all__ = ["metric_dense", "logdet_dense", "singular_rows"]


def metric_dense(f: Callable[[Tensor], Tensor], z: Tensor, *, jvp_mode: str = "auto",
                 op: MetricOperator | None = None) -> Tensor:
    """G = J^T J (B, d, d) at each row of ``z``, in float64 and exactly symmetric; differentiable.

    J (B, D, d) comes from ``sbp.numerics.jacobian.jacobian`` (d JVP columns per row, on ``op`` if given).
    """
    J = jacobian(f, z, jvp_mode=jvp_mode, op=op).to(torch.float64)
    G = J.mT @ J
    return (G + G.mT) / 2


def logdet_dense(G: Tensor) -> Tensor:
    """log det of SPD matrices (..., d, d) by Cholesky in float64; -inf where singular."""
    Gd = G.to(torch.float64)
    Gd = (Gd + Gd.mT) / 2
    L, info = torch.linalg.cholesky_ex(Gd)
    ld = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    if bool((info != 0).any()):
        ev = torch.linalg.eigvalsh(Gd)
        ld_ev = torch.where((ev > 0).all(-1), torch.log(ev.clamp_min(1e-300)).sum(-1),
                            torch.full_like(ev[..., 0], -math.inf))
        ld = torch.where(info == 0, ld, ld_ev)
    return ld.to(G.dtype)


def singular_rows(eigenvalues: Tensor, dtype: torch.dtype) -> Tensor:
    """Rows (...,) of increasing eigenvalues (..., d) of G = J^T J, J in ``dtype``, that are numerically
    singular: lambda_min <= max((10 eps)^2, 10 eps_64) lambda_max (J's rounding in ``dtype``
    perturbs its singular values by ~eps sigma_max, the float64 G by ~eps_64 lambda_max)."""
    eps = torch.finfo(dtype).eps
    tau = max((10 * eps) ** 2, 10 * torch.finfo(torch.float64).eps)
    return eigenvalues[..., 0] <= tau * eigenvalues[..., -1]
