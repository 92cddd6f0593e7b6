"""Gauss quadrature of v^T log(G) v from Krylov recurrences (beyond the paper's Algorithm 1).

- ``lanczos_quadrature``: stochastic Lanczos quadrature (SLQ, Ubaru, Chen & Saad 2017).
  k Lanczos steps on G from v/|v| give a tridiagonal T_k with
  v^T log(G) v ~ |v|^2 e1^T log(T_k) e1 (exact when k = d). No spectral interval needed.
- ``bidiag_quadrature``: Golub-Kahan bidiagonalization of J itself (one J v and one J^T u
  per step): J V_k = U_k B_k with B_k upper bidiagonal, so T_k = B_k^T B_k and
  v^T log(J^T J) v ~ |v|^2 sum_i q_i^2 log sigma_i(B_k)^2. The singular values of B_k
  are computed directly, never from the squared matrix.

Both run batched over a block of probes (P, B, d) with full reorthogonalization, and are
differentiable: gradients flow through the recurrence, and e1^T log(T) e1 has a custom
backward by the Daleckii-Krein formula, which stays finite for (near-)repeated Ritz
values where ``torch.linalg.eigh``'s backward divides by their gaps.

Both can also return w ~ G^{-1} v from the same basis (the CG/LSQR iterate), used by the
low-memory gradient d log det G = E_v[w^T dG v] in ``sbp.logdet``.
This module knows nothing of networks: it takes products.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.trace import rademacher

__all__ = ["Quadrature", "lanczos_quadrature", "bidiag_quadrature", "quad_log", "quad_log_gram"]

Product = Callable[[Tensor], Tensor]


def _divided_log(theta: Tensor) -> Tensor:
    """F_ij = (log th_i - log th_j) / (th_i - th_j), and 1/th_i on the diagonal (Loewner matrix)."""
    ti, tj = theta[..., :, None], theta[..., None, :]
    diff = ti - tj
    close = diff.abs() <= 1e-10 * torch.maximum(ti, tj)
    safe = torch.where(close, torch.ones_like(diff), diff)
    return torch.where(close, 2 / (ti + tj), torch.log1p(safe / tj) / safe)


def _check_spd(theta: Tensor) -> None:
    if not bool((theta > 0).all()):
        raise ValueError("the metric is numerically singular (a Ritz value <= 0): use damping > 0 "
                         "(log det(J^T J + damping I)) or float64")


class _QuadLog(torch.autograd.Function):
    """e1^T log(T) e1 for SPD T (..., k, k)."""

    @staticmethod
    def forward(ctx, T: Tensor) -> Tensor:
        theta, S = torch.linalg.eigh(T)
        _check_spd(theta)
        q = S[..., 0, :]
        ctx.save_for_backward(theta, S)
        return (q * q * torch.log(theta)).sum(-1)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        theta, S = ctx.saved_tensors
        q = S[..., 0, :]
        inner = _divided_log(theta) * q[..., :, None] * q[..., None, :]
        return g[..., None, None] * (S @ inner @ S.mT)


class _QuadLogGram(torch.autograd.Function):
    """e1^T log(B^T B) e1 for square nonsingular B (..., k, k), from the SVD of B."""

    @staticmethod
    def forward(ctx, Bm: Tensor) -> Tensor:
        _, sigma, Vh = torch.linalg.svd(Bm)
        theta = sigma * sigma
        _check_spd(theta)
        S = Vh.mT  # right singular vectors = eigenvectors of B^T B
        q = S[..., 0, :]
        ctx.save_for_backward(Bm, theta, S)
        return (q * q * 2 * torch.log(sigma)).sum(-1)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        Bm, theta, S = ctx.saved_tensors
        q = S[..., 0, :]
        W = S @ (_divided_log(theta) * q[..., :, None] * q[..., None, :]) @ S.mT  # d/dT, symmetric
        return g[..., None, None] * (2 * Bm @ W)  # dT = dB^T B + B^T dB


def quad_log(T: Tensor) -> Tensor:
    """e1^T log(T) e1 for batched SPD ``T`` (..., k, k); differentiable (Daleckii-Krein backward)."""
    return _QuadLog.apply(T)


def quad_log_gram(Bm: Tensor) -> Tensor:
    """e1^T log(B^T B) e1 for batched square ``Bm`` (..., k, k), from its singular values."""
    return _QuadLogGram.apply(Bm)


@dataclass(frozen=True)
class Quadrature:
    """Per-probe results, shapes (P, B) unless noted."""

    values: Tensor  # |v|^2 e1^T log(T_k) e1 ~ v^T log(G) v
    ritz: Tensor  # (P, B, k) Ritz values of G (detached)
    top_vectors: Tensor  # (P, B, d) unit top Ritz vectors (detached)
    solve: Tensor | None  # (P, B, d) ~ G^{-1} v (detached), if asked for
    steps: int


def _reorth(w: Tensor, basis: list[Tensor]) -> Tensor:
    """Remove from w (P, B, n) its components along ``basis`` (list of (P, B, n)), twice."""
    Q = torch.stack(basis)
    for _ in range(2):
        w = w - torch.einsum("jpb,jpbn->pbn", torch.einsum("jpbn,pbn->jpb", Q, w), Q)
    return w


def _normalize_or_restart(w: Tensor, basis: list[Tensor], scale: Tensor, generator) -> tuple[Tensor, Tensor]:
    """w / |w|, or (where |w| ~ 0: an invariant subspace was found) a fresh random unit vector
    orthogonal to ``basis`` with coefficient 0: the quadrature of e1 is unaffected."""
    beta = w.norm(dim=-1)
    broke = beta.detach() <= 1e3 * torch.finfo(w.dtype).eps * scale
    safe = torch.where(broke, torch.ones_like(beta), beta)
    q = w / safe[..., None]
    if bool(broke.any()):
        r = rademacher(tuple(w.shape), generator=generator, dtype=w.dtype, device=w.device)
        r = _reorth(r, basis)
        r = r / r.norm(dim=-1, keepdim=True)
        q = torch.where(broke[..., None], r, q)
        beta = torch.where(broke, torch.zeros_like(beta), beta)
    return q, beta


def _finish(values: Tensor, T: Tensor, basis: list[Tensor], norm: Tensor, need_solve: bool, k: int) -> Quadrature:
    with torch.no_grad():
        Td = T.detach()
        theta, S = torch.linalg.eigh(Td)
        Q = torch.stack([b.detach() for b in basis])  # (k, P, B, d)
        top = torch.einsum("jpbd,pbj->pbd", Q, S[..., :, -1])
        top = top / top.norm(dim=-1, keepdim=True)
        solve = None
        if need_solve:
            e1 = torch.zeros(Td.shape[:-1], dtype=Td.dtype, device=Td.device)
            e1[..., 0] = 1
            y = torch.linalg.solve(Td, e1)  # (P, B, k)
            solve = norm.detach()[..., None] * torch.einsum("jpbd,pbj->pbd", Q, y)
    return Quadrature(values=values, ritz=theta, top_vectors=top, solve=solve, steps=k)


def lanczos_quadrature(matvec: Product, V: Tensor, steps: int, *, generator: torch.Generator | None = None,
                       need_solve: bool = False) -> Quadrature:
    """SLQ: ``min(steps, d)`` Lanczos steps on G from each probe of ``V`` (P, B, d), one product each."""
    P, B, d = V.shape
    k = min(int(steps), d)
    norm = V.norm(dim=-1)
    q = V / norm[..., None]
    Q, alphas, betas = [q], [], []
    w = matvec(q)
    for j in range(k):
        a = (w * q).sum(-1)
        alphas.append(a)
        if j == k - 1:
            break
        w = _reorth(w - a[..., None] * q, Q)
        scale = torch.stack(alphas).detach().abs().amax(0).clamp_min(torch.finfo(w.dtype).tiny)
        q, beta = _normalize_or_restart(w, Q, scale, generator)
        betas.append(beta)
        Q.append(q)
        w = matvec(q) - beta[..., None] * Q[-2]
    T = torch.diag_embed(torch.stack(alphas, -1))
    if betas:
        off = torch.stack(betas, -1)
        T = T + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    values = norm * norm * quad_log(T)
    return _finish(values, T, Q, norm, need_solve, k)


def bidiag_quadrature(jvp: Product, vjp: Product, V: Tensor, steps: int, *,
                      generator: torch.Generator | None = None, need_solve: bool = False) -> Quadrature:
    """Golub-Kahan bidiagonalization of J from each probe of ``V`` (P, B, d): ``min(steps, d)`` steps,
    each one ``jvp`` (P, B, d) -> (P, B, D) and one ``vjp`` (P, B, D) -> (P, B, d)."""
    P, B, d = V.shape
    k = min(int(steps), d)
    norm = V.norm(dim=-1)
    v = V / norm[..., None]
    Vs, Us, alphas, betas = [v], [], [], []
    p = jvp(v)
    for j in range(k):
        if Us:
            p = _reorth(p, Us)
        alpha = p.norm(dim=-1)
        u = p / torch.where(alpha.detach() > 0, alpha, torch.ones_like(alpha))[..., None]
        alphas.append(alpha)
        Us.append(u)
        if j == k - 1:
            break
        r = _reorth(vjp(u) - alpha[..., None] * v, Vs)
        scale = torch.stack(alphas).detach().amax(0).clamp_min(torch.finfo(r.dtype).tiny)
        v, beta = _normalize_or_restart(r, Vs, scale, generator)
        betas.append(beta)
        Vs.append(v)
        p = jvp(v) - beta[..., None] * u
    Bm = torch.diag_embed(torch.stack(alphas, -1))
    if betas:
        Bm = Bm + torch.diag_embed(torch.stack(betas, -1), 1)
    values = norm * norm * quad_log_gram(Bm)
    return _finish(values, Bm.mT @ Bm, Vs, norm, need_solve, k)
