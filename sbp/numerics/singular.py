"""Singular to working precision: the one rule of every path, judged with the products' precision in mind.

J in a dtype with unit roundoff eps resolves singular values down to ~eps sigma_max, so a row is
singular when sigma_min <= 10 eps sigma_max, i.e. lambda_min(J^T J) <= (10 eps)^2 lambda_max; a metric
formed in float64 (exact's Gram J^T J) resolves eigenvalues to ~eps_64 lambda_max, hence exact's rule
lambda_min <= max((10 eps)^2, 10 eps_64) lambda_max. ``singular_rtol(dtype, of)`` is that one rule for
whatever the eigenvalues are known from (``of="J"``: J's products; ``of="G"``: G's products, 10 eps), and
``singular_rows`` applies it; exact and the matrix-free methods share it:

- ``bidiag`` judges the singular values of its bidiagonal B_k, never their squares.
- ``slq`` / ``chebyshev`` / ``taylor`` multiply by G = J^T J in the products' dtype, which resolves
  eigenvalues only to ~eps lambda_max (``resolution``: 10 eps, 1.2e-6 in float32). A row whose bottom
  Ritz value falls below it is re-checked without squaring: Golub-Kahan on J from the row's bottom
  Ritz vector (one vector per row, no graph), whose smallest singular value decides. Rows that are not
  singular are *unresolved*: their value is finite but beyond what G products can resolve (flagged).
- ``sbp.logdet`` has G only, in its own dtype: singular when lambda_min <= 10 eps lambda_max; a Ritz
  value below -10 eps lambda_max means G is not positive semi-definite (an error).
In float64 resolution and rule coincide (2.2e-15), so nothing is re-checked there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.krylov import Krylov, golub_kahan, lanczos
from sbp.numerics.quadrature import ritz_values, ritz_vector

__all__ = ["RowJudgement", "singular_rtol", "singular_rows", "resolution", "judge_rows", "extreme_ritz",
           "check_semidefinite"]

Matvec = Callable[[Tensor], Tensor]


def singular_rtol(dtype: torch.dtype, of: str = "J") -> float:
    """The one rule: lambda_min / lambda_max of G at or below which a row is singular to working precision, for
    eigenvalues known from products in ``dtype`` with J (``of="J"``: exact's float64 Gram of J's columns,
    bidiag's singular values of B_k): max((10 eps)^2, 10 eps_64), 1.4e-12 in float32, 2.2e-15 in float64
    (J's rounding perturbs its singular values by ~eps sigma_max, the float64 G by ~eps_64 lambda_max); or with
    G (``of="G"``: Ritz values of G, ``sbp.logdet``'s G): 10 eps, 1.2e-6 in float32, 2.2e-15 in float64."""
    eps = torch.finfo(dtype).eps
    if of == "G":
        return 10 * eps
    if of != "J":
        raise ValueError(f"of must be 'J' or 'G', got {of!r}")
    return max((10 * eps) ** 2, 10 * torch.finfo(torch.float64).eps)


def singular_rows(eigenvalues: Tensor, dtype: torch.dtype, of: str = "J") -> Tensor:
    """Rows (...,) of increasing eigenvalues (..., d) of G that are singular to working precision:
    lambda_min <= ``singular_rtol(dtype, of)`` lambda_max."""
    return eigenvalues[..., 0] <= singular_rtol(dtype, of) * eigenvalues[..., -1]


def resolution(dtype: torch.dtype) -> float:
    """Bottom / top Ritz value of G below which products with G in ``dtype`` cannot resolve an eigenvalue
    from zero: ``singular_rtol(dtype, of="G")``, 10 eps."""
    return singular_rtol(dtype, of="G")


@dataclass(frozen=True)
class RowJudgement:
    """Per row (B,): singular (value -inf), unresolved (finite, flagged), ``floor`` (an estimate of
    lambda_min for unresolved rows, 0 elsewhere) and the vector products the re-check spent."""

    singular: Tensor
    unresolved: Tensor
    floor: Tensor
    products: int


def extreme_ritz(kr: Krylov) -> tuple[Tensor, Tensor]:
    """(bottom, top) Ritz values of G per row (B,) over the probes: from the singular values of B_k for
    Golub-Kahan (squared after taking them, so the bottom is resolved), else from T_k."""
    if kr.bidiag is not None:
        diag, sup = kr.bidiag
        Bm = torch.diag_embed(diag.detach()) + (torch.diag_embed(sup.detach(), 1) if sup.shape[-1] else 0)
        sigma = torch.linalg.svdvals(Bm)  # descending
        return sigma[..., -1].amin(0) ** 2, sigma[..., 0].amax(0) ** 2
    theta, _ = ritz_values(kr)
    return theta[..., 0].amin(0), theta[..., -1].amax(0)


def check_semidefinite(tmin: Tensor, tmax: Tensor, dtype: torch.dtype) -> None:
    """ValueError when a Ritz value is clearly negative (below -10 eps times the top): G is not SPD."""
    bad = tmin < -resolution(dtype) * tmax.abs()
    if bool(bad.any()):
        rows = bad.nonzero().flatten().tolist()
        raise ValueError(f"the operator is not positive definite: Ritz value {float(tmin[bad][0]):.3g} < 0 "
                         f"(top {float(tmax[bad][0]):.3g}) in rows {rows[:8]}; sbp.logdet needs a symmetric "
                         "positive definite matvec (e.g. v @ A with A = M^T M + c I)")


def _bottom_vectors(kr: Krylov) -> tuple[Tensor, Tensor, Tensor]:
    """Per row: the bottom Ritz value over probes (B,), the top (B,), and the bottom Ritz vector (B, d)."""
    theta, _ = ritz_values(kr)
    best = theta[..., 0].argmin(0)  # (B,)
    y = ritz_vector(kr, 0)
    B, d = y.shape[1:]
    return theta[..., 0].amin(0), theta[..., -1].amax(0), y.gather(0, best[None, :, None].expand(1, B, d))[0]


def _extend_float64(G: Matvec, V: Tensor, kr: Krylov, tmin: Tensor, tmax: Tensor, max_steps: int
                    ) -> tuple[Tensor, Tensor, int]:
    """float64 rows below the square root of the rule after fewer than d steps are suspect (an unconverged
    null direction): Lanczos from their first probe continues to ``max_steps`` (no graph, restarts from a
    fixed seed, the caller's generator untouched). Returns the rows' bottom Ritz values, and the products."""
    d = V.shape[-1]
    tau = resolution(V.dtype)
    suspect = (tmin > tau * tmax) & (tmin <= tau ** 0.5 * tmax)
    if V.dtype != torch.float64 or kr.steps >= d or max_steps <= kr.steps or not bool(suspect.any()):
        return tmin, tmax, 0
    ext = lanczos(G, V[:1], min(d, max_steps), generator=torch.Generator(V.device).manual_seed(0))
    theta, _ = ritz_values(ext)
    return torch.where(suspect, torch.minimum(tmin, theta[0, :, 0]), tmin), tmax, ext.steps


def judge_rows(G: Matvec, V: Tensor, kr: Krylov, *, max_steps: int, jvp: Matvec | None = None,
               vjp: Matvec | None = None, damped: bool = False) -> RowJudgement:
    """Singular and unresolved rows of the recurrence ``kr`` on the probe block V (P, B, d), by the module's
    rule. ``jvp``/``vjp`` (J and J^T; None for ``sbp.logdet``, which has G only) enable the Golub-Kahan
    re-check of rows below G's resolution. Damped metrics are never singular. Runs without a graph."""
    B, d = V.shape[1:]
    no = torch.zeros(B, dtype=torch.bool, device=V.device)
    zero = torch.zeros(B, dtype=V.dtype, device=V.device)
    with torch.no_grad():
        if jvp is None:  # sbp.logdet: G itself must be positive semi-definite
            check_semidefinite(*extreme_ritz(kr), V.dtype)
        if damped:
            return RowJudgement(no, no, zero, 0)
        if kr.bidiag is not None:
            tmin, tmax = extreme_ritz(kr)
            return RowJudgement(singular_rows(torch.stack([tmin, tmax], -1), V.dtype), no, zero, 0)
        tmin, tmax, y = _bottom_vectors(kr)
        tmin, tmax, products = _extend_float64(G, V, kr, tmin, tmax, max_steps)
        below = tmin <= resolution(V.dtype) * tmax
        if jvp is None or singular_rtol(V.dtype) >= resolution(V.dtype) or not bool(below.any()):
            return RowJudgement(below, no, zero, products)
        gk = golub_kahan(jvp, vjp, y[None], min(d, max(max_steps, kr.steps)),
                         generator=torch.Generator(V.device).manual_seed(0))
        smin, smax = extreme_ritz(gk)
        singular = below & singular_rows(torch.stack([smin, torch.maximum(smax, tmax)], -1), V.dtype)
        unresolved = below & ~singular
        return RowJudgement(singular, unresolved, torch.where(unresolved, smin, zero), products + gk.steps)
