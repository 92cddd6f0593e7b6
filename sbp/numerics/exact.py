"""``method="exact"``: the log det of a dense metric, with the one singular rule (``singular.singular_rows``).

``logdet_metric`` forms G = J^T J from J's columns (``dense.metric_dense``, float64): it is positive
semi-definite by construction, and a failed Cholesky means a singular J (-inf, warned by the facade).
``sbp.logdet`` forms G from the operator's products with the unit vectors: there a clearly asymmetric or
indefinite G is the caller's error, and is raised.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from sbp.numerics.dense import logdet_dense
from sbp.numerics.result import LogdetEstimate
from sbp.numerics.singular import resolution, singular_rows

__all__ = ["exact_estimate", "check_dense_operator", "ZERO_PRODUCTS"]

ZERO_PRODUCTS = ("the products are 0 for every probe of every row: f's output does not depend on z (a .detach(), "
                 "argmax, rounding or integer cast inside f?), or sbp.logdet's matvec returns zeros, so log det "
                 "would be -inf everywhere; make f a differentiable function of z")


def check_dense_operator(G: Tensor) -> None:
    """``sbp.logdet``'s G (B, d, d) from its matvec: ValueError unless symmetric and positive semi-definite
    to the operator's precision (10 eps of its dtype times its largest entry / eigenvalue)."""
    tau = resolution(G.dtype)
    scale = G.detach().abs().amax((-2, -1))
    asym = (G.detach() - G.detach().mT).abs().amax((-2, -1)) > tau * scale
    if bool(asym.any()):
        raise ValueError(f"matvec is not symmetric (|G - G^T| > 10 eps |G| in rows "
                         f"{asym.nonzero().flatten().tolist()[:8]}): sbp.logdet needs an SPD operator")
    lam = torch.linalg.eigvalsh(((G + G.mT) / 2).detach().to(torch.float64))
    bad = lam[..., 0] < -tau * lam[..., -1].abs()
    if bool(bad.any()):
        raise ValueError(f"matvec is not positive definite: eigenvalue {float(lam[bad][0, 0]):.3g} < 0 in rows "
                         f"{bad.nonzero().flatten().tolist()[:8]}; sbp.logdet needs an SPD operator")


def exact_estimate(G: Tensor, products: int, dtype: torch.dtype, damping: float = 0.0, tol=None,
                   of_operator: bool = False) -> LogdetEstimate:
    """The dense path: log det of G (+ damping I) (B, d, d) in float64; -inf for rows singular to working
    precision (``singular_rows``) of a G formed from J in ``dtype`` (``of="J"``), or (``of_operator``:
    ``sbp.logdet``'s G itself in ``dtype``, ``of="G"``). ``products``: vector products per row (d columns,
    or d products with G)."""
    lam = torch.linalg.eigvalsh(((G + G.mT) / 2).to(torch.float64))
    if bool((lam.detach()[..., -1] == 0).all()):
        raise ValueError(ZERO_PRODUCTS)
    if damping:
        G = G + damping * torch.eye(G.shape[-1], dtype=G.dtype, device=G.device)
        bias = torch.log1p(damping / lam.detach()).sum(-1).to(dtype)
    else:
        bias = torch.zeros(G.shape[:-2], dtype=dtype, device=G.device)
    ld = logdet_dense(G).to(dtype)
    if not damping:
        lam0 = lam.detach()
        singular = singular_rows(lam0, dtype, of="G" if of_operator else "J")
        ld = torch.where(singular, torch.full_like(ld, -math.inf), ld)
    zero = torch.zeros_like(ld).detach()
    return LogdetEstimate(logdet=ld, lambda_max=lam[..., -1].to(dtype), stderr=zero,
                          lower=lam[..., 0].detach().to(dtype) + damping, upper=lam[..., -1].detach().to(dtype) + damping,
                          method="exact", order=None, probes=None, products=products,
                          damping=float(damping), damping_bias=bias, bias_bound=zero.clone(),
                          converged=None if tol is None else torch.ones_like(ld, dtype=torch.bool))
