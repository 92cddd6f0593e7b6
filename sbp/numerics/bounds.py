"""Spectral bounds of a batched SPD operator from matrix-vector products (Algorithm 1, step 1).

``power_method`` is the paper's estimate of the top eigenvalue. ``lanczos_bounds``
explores the same Krylov space that the power method walks through, but keeps all of
it: its top Ritz value is never below the power method's Rayleigh quotient after the
same number of products, and its bottom Ritz value gives the lower end of the
interval that the Chebyshev polynomial needs. Ritz residuals ``beta_k |s_ki|`` turn the
Ritz values into safe ends of the interval.

Operators act on blocks of shape (P, B, d); these functions use P = 1 (``sbp.logdet`` runs
one Lanczos per probe vector by folding the probes into B). The Lanczos matrix T is kept:
for every polynomial p of degree < 2k, v^T p(G) v = |v|^2 e1^T p(T) e1 (Gauss quadrature),
so the polynomial estimators get their value from the same products that gave the interval.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.krylov import Krylov, lanczos
from sbp.numerics.quadrature import ritz_values, ritz_vector

__all__ = ["power_method", "lanczos_bounds", "spectral_bounds", "SpectralBounds"]

Matvec = Callable[[Tensor], Tensor]


def power_method(matvec: Matvec, v0: Tensor, iters: int) -> tuple[Tensor, Tensor]:
    """``iters`` power iterations from ``v0`` (B, d); returns (Rayleigh quotient (B,), unit vector (B, d))."""
    v = v0 / v0.norm(dim=-1, keepdim=True)
    for _ in range(iters):
        w = matvec(v[None])[0]
        v = w / w.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
    lam = (v * matvec(v[None])[0]).sum(-1)
    return lam, v


@dataclass(frozen=True)
class SpectralBounds:
    """Extreme Ritz values and their residual norms, per sample."""

    theta_min: Tensor  # (B,)
    theta_max: Tensor  # (B,)
    resid_min: Tensor  # (B,) ||G y - theta y|| for the bottom Ritz pair
    resid_max: Tensor  # (B,)
    top_vector: Tensor  # (B, d) unit top Ritz vector
    steps: int
    tridiag: Tensor | None = None  # (B, k, k) Lanczos matrix T: e1^T p(T) e1 = v^T p(G) v / |v|^2, deg p < 2k

    def interval(self, shrink: float = 16.0) -> tuple[Tensor, Tensor]:
        """A safe interval [a, b] containing the spectrum (for the Chebyshev map).

        b = theta_max + resid_max. The bottom Ritz value converges slowly for
        ill-conditioned G, so a = max(theta_min - resid_min, theta_min / shrink):
        exact once Lanczos has converged, and a guard of ``shrink`` otherwise
        (measured in benchmarks/bench_core.py: shrink=16 keeps the Chebyshev error at
        condition 1e4 below 3e-4 relative at order 200, where a = theta_min lets the
        polynomial explode outside the interval).
        """
        a = torch.maximum(self.theta_min - self.resid_min, self.theta_min / shrink)
        b = self.theta_max + self.resid_max
        tiny = torch.finfo(a.dtype).tiny
        a = a.clamp_min(tiny) * (1 - 1e-6)
        b = torch.maximum(b * (1 + 1e-6), a * (1 + 1e-3))
        return a, b


def spectral_bounds(kr: Krylov) -> SpectralBounds:
    """Extreme Ritz values of a Lanczos recurrence (P, B) flattened to P * B samples, their residuals
    ``next_beta |s_ki|`` and the top Ritz vector; no graph."""
    theta, S = ritz_values(kr)
    P, B, k = kr.alphas.shape
    top = ritz_vector(kr, -1)
    with torch.no_grad():
        resid = kr.next_beta.detach()[..., None] * S[..., -1, :].abs()
    flat = lambda t: t.reshape(P * B, *t.shape[2:])  # noqa: E731
    return SpectralBounds(theta_min=flat(theta[..., 0]), theta_max=flat(theta[..., -1]),
                          resid_min=flat(resid[..., 0]), resid_max=flat(resid[..., -1]), top_vector=flat(top),
                          steps=k, tridiag=flat(kr.tridiag().detach()))


def lanczos_bounds(matvec: Matvec, v0: Tensor, steps: int, *, generator: torch.Generator | None = None
                   ) -> SpectralBounds:
    """Lanczos (``sbp.numerics.krylov.lanczos``) from ``v0`` (B, d), ``min(steps, d)`` products
    with blocks (1, B, d), and the bounds of its Ritz values. Run it without a graph."""
    with torch.no_grad():
        return spectral_bounds(lanczos(matvec, v0[None], steps, generator=generator))
