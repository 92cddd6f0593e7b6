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

from sbp.numerics.jacobian import MetricOperator, column_mode, jacobian, metric_operator

__all__ = ["metric_dense", "metric_dense_completing", "gram", "metric_of", "metric_completing", "logdet_dense"]


def metric_dense(f: Callable[[Tensor], Tensor], z: Tensor, *, jvp_mode: str = "auto",
                 op: MetricOperator | None = None) -> Tensor:
    """G = J^T J (B, d, d) at each row of ``z``, in float64 and exactly symmetric; differentiable.

    J (B, D, d) comes from ``sbp.numerics.jacobian.jacobian`` (d JVP columns per row, on ``op`` if given).
    """
    return gram(jacobian(f, z, jvp_mode=jvp_mode, op=op))


def metric_of(op: MetricOperator) -> Tensor:
    """G = J^T J (B, d, d) of an operator, from its d dense columns (``MetricOperator.dense``), float64."""
    return gram(op.dense())


def gram(J: Tensor) -> Tensor:
    """J^T J (B, k, k) of J (B, D, k), in float64 and exactly symmetric."""
    J = J.to(torch.float64)
    G = J.mT @ J
    return (G + G.mT) / 2


def _complete_basis(V: Tensor) -> tuple[Tensor, Tensor, bool]:
    """For V (B, d, P): (Q_rest, R, ok), Q_rest (B, d, d - P) the last d - P columns of an orthogonal Q with
    V = Q[..., :P] R, R (B, P, P) upper triangular; ok is False where V is (numerically) rank deficient.
    Q = I - Y T Y^T, the compact WY form of the Householder QR: Y unit lower trapezoidal, T^{-1} =
    diag(1/tau) + the strict upper triangle of Y^T Y. O(d^2 P), where forming all of Q
    (``torch.linalg.qr(mode="complete")``) costs ~10x more at d = 256-512."""
    B, d, P = V.shape
    a, tau = torch.geqrf(V)
    R = a[:, :P].triu()
    ok = bool((tau != 0).all()) and bool((torch.diagonal(R, dim1=-2, dim2=-1).abs() > 1e-8 * V.abs().amax()).all())
    if not ok:
        return V.new_empty(B, d, d - P), R, False
    Y = a.tril(-1) + torch.eye(d, P, dtype=V.dtype, device=V.device)
    eye = torch.eye(P, dtype=V.dtype, device=V.device).expand(B, P, P)
    T = torch.linalg.solve_triangular((Y.mT @ Y).triu(1) + torch.diag_embed(1 / tau), eye, upper=True)
    rest = -(Y @ T) @ Y[:, P:].mT  # (I - Y T Y^T) restricted to the columns P..d-1
    rest.diagonal(offset=-P, dim1=-2, dim2=-1).add_(1)
    return rest, R, True


def metric_dense_completing(f: Callable[[Tensor], Tensor], z: Tensor, V: Tensor, JV: Tensor, *,
                            op: MetricOperator | None = None) -> Tensor:
    """``metric_completing`` on ``op``, or on a new operator of ``f`` at ``z`` (the column route)."""
    return metric_completing(op if op is not None else metric_operator(f, z, jvp_mode=column_mode("auto", z.device)),
                             V, JV)


def metric_completing(op: MetricOperator, V: Tensor, JV: Tensor) -> Tensor:
    """Q^T G Q (B, d, d), float64: the metric in an orthonormal basis Q of each row's R^d whose first P
    vectors span the P given vectors ``V`` (P, B, d), whose products ``JV`` = J V (P, B, D) are known.

    Same eigenvalues and log det as ``metric_of`` (to the rounding of J's dtype), from d - P column
    products instead of d: ``method="auto"`` completes its gate's products to the exact value. With
    V = Q_P R (QR per row), J Q_P = (J V) R^{-1}; the other d - P columns are J applied to the rest of Q.
    Rank-deficient ``V``: ``metric_of`` (d columns).
    """
    B, d = op.batch, op.dim
    P = V.shape[0]
    if not 0 < P < d or V.shape != (P, B, d) or JV.shape[:2] != (P, B):
        raise ValueError(f"V must be (P, B, d) with 0 < P < d = {d} and JV (P, B, D), got {tuple(V.shape)} and "
                         f"{tuple(JV.shape)} for z of shape {(B, d)}")
    rest, R, ok = _complete_basis(V.detach().permute(1, 2, 0).to(torch.float64))
    if not ok:
        return metric_of(op)
    first = torch.linalg.solve_triangular(R, JV.permute(1, 2, 0).to(torch.float64), upper=True,
                                          left=False)  # J Q_P = J V R^{-1}, (B, D, P)
    basis = rest.permute(2, 0, 1).to(V.dtype)  # (d - P, B, d)
    return gram(op.columns(basis, known=first.permute(2, 0, 1).to(JV.dtype)))


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
