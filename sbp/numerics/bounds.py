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

from sbp.numerics.trace import rademacher

__all__ = ["power_method", "lanczos_bounds", "SpectralBounds"]

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


def _orthogonalize(w: Tensor, basis: Tensor) -> Tensor:
    """Remove from w (B, d) its components along the rows of ``basis`` (j, B, d), twice."""
    for _ in range(2):
        w = w - torch.einsum("jb,jbd->bd", torch.einsum("jbd,bd->jb", basis, w), basis)
    return w


def lanczos_bounds(matvec: Matvec, v0: Tensor, steps: int, *, generator: torch.Generator | None = None
                   ) -> SpectralBounds:
    """Lanczos with full reorthogonalization from ``v0`` (B, d), ``min(steps, d)`` products.

    Breakdown (an invariant subspace found, e.g. repeated eigenvalues) restarts that
    sample from a fresh Rademacher vector orthogonal to the basis, so every Ritz value
    stays inside the spectrum. Run it without a graph (``torch.no_grad``).
    """
    B, d = v0.shape
    k = min(int(steps), d)
    q = v0 / v0.norm(dim=-1, keepdim=True)
    Q = [q]
    alphas, betas = [], []
    w = matvec(q[None])[0]
    for j in range(k):
        a = (w * q).sum(-1)
        alphas.append(a)
        if j == k - 1:
            break
        w = _orthogonalize(w, torch.stack(Q))
        beta = w.norm(dim=-1)
        scale = torch.stack(alphas).abs().amax(0).clamp_min(torch.finfo(w.dtype).tiny)
        broke = beta <= 1e3 * torch.finfo(w.dtype).eps * scale
        if bool(broke.any()):
            r = rademacher((B, d), generator=generator, dtype=w.dtype, device=w.device)
            r = _orthogonalize(r, torch.stack(Q))
            r = r / r.norm(dim=-1, keepdim=True)
            w = torch.where(broke[:, None], r, w / beta.clamp_min(torch.finfo(w.dtype).tiny)[:, None])
            beta = torch.where(broke, torch.zeros_like(beta), beta)
            q = w
        else:
            q = w / beta[:, None]
        betas.append(beta)
        Q.append(q)
        w = matvec(q[None])[0] - beta[:, None] * Q[-2]
    last_resid = _orthogonalize(w - alphas[-1][:, None] * q, torch.stack(Q)).norm(dim=-1) if k < d else \
        torch.zeros(B, dtype=v0.dtype, device=v0.device)
    T = torch.diag_embed(torch.stack(alphas, -1))
    if betas:
        off = torch.stack(betas, -1)
        T = T + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    theta, S = torch.linalg.eigh(T)
    resid = last_resid[:, None] * S[:, -1, :].abs()
    top = torch.einsum("jbd,bj->bd", torch.stack(Q), S[:, :, -1])
    top = top / top.norm(dim=-1, keepdim=True)
    return SpectralBounds(theta_min=theta[:, 0], theta_max=theta[:, -1], resid_min=resid[:, 0],
                          resid_max=resid[:, -1], top_vector=top, steps=k, tridiag=T)
