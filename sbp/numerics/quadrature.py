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

from sbp.numerics.krylov import Krylov, eigh_tridiagonal, golub_kahan, lanczos

__all__ = ["ritz_vector", "Quadrature", "lanczos_quadrature", "bidiag_quadrature", "quadrature", "quad_log", "quad_log_gram",
           "gauss_log", "gauss_radau_log", "ritz_values"]

Product = Callable[[Tensor], Tensor]


def _divided_log(theta: Tensor) -> Tensor:
    """F_ij = (log th_i - log th_j) / (th_i - th_j), and 1/th_i on the diagonal (Loewner matrix).

    log1p(r) / (th_i - th_j), r = th_i / th_j - 1, where th_i is not far below th_j (no cancellation for
    close values); log(th_i / th_j) where th_i < th_j / 2, since there r rounds towards -1 (in float32 a
    ratio of 1e-7 lost most of its digits, and log1p(-1) = -inf made the gradient NaN)."""
    ti, tj = theta[..., :, None], theta[..., None, :]
    diff = ti - tj
    close = diff.abs() <= 1e-10 * torch.maximum(ti, tj)
    safe = torch.where(close, torch.ones_like(diff), diff)
    r = safe / tj
    far_below = r < -0.5
    ratio = torch.where(far_below, ti / tj, torch.ones_like(r))
    log_far = torch.where(ratio > 0, torch.log(ratio), torch.log(ti) - torch.log(tj))  # 0: the ratio underflowed
    log_ratio = torch.where(far_below, log_far, torch.log1p(torch.where(far_below, 0.0, r)))
    return torch.where(close, 2 / (ti + tj), log_ratio / safe)


def _check_spd(theta: Tensor) -> None:
    if not bool((theta > 0).all()):
        raise ValueError("the metric is numerically singular (a Ritz value <= 0): use damping > 0 "
                         "(log det(J^T J + damping I)) or float64")


class _QuadLog(torch.autograd.Function):
    """e1^T log(T) e1 for SPD T (..., k, k); Ritz values clamped below at ``floor`` (...,) if given."""

    @staticmethod
    def forward(ctx, T: Tensor, floor: Tensor | None = None) -> Tensor:
        theta, S = eigh_tridiagonal(T)
        if floor is not None:
            theta = torch.maximum(theta, floor.to(theta)[..., None])
        _check_spd(theta)
        q = S[..., 0, :]
        ctx.save_for_backward(theta, S)
        return (q * q * torch.log(theta)).sum(-1)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        theta, S = ctx.saved_tensors
        q = S[..., 0, :]
        inner = _divided_log(theta) * q[..., :, None] * q[..., None, :]
        return g[..., None, None] * (S @ inner @ S.mT), None


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


def quad_log(T: Tensor, floor: Tensor | None = None) -> Tensor:
    """e1^T log(T) e1 for batched SPD ``T`` (..., k, k); differentiable (Daleckii-Krein backward). ``floor``
    (...,): a lower clamp of the Ritz values (rows whose bottom G products cannot resolve)."""
    return _QuadLog.apply(T, floor)


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


def ritz_values(kr: Krylov) -> tuple[Tensor, Tensor]:
    """Ritz values (P, B, k), increasing, and eigenvectors of T_k, without a graph; computed once per
    recurrence (the interval, the singular rule and the quadrature all read them)."""
    cached = kr.__dict__.get("_ritz")
    if cached is None:
        with torch.no_grad():
            cached = eigh_tridiagonal(kr.tridiag().detach())
        object.__setattr__(kr, "_ritz", cached)  # Krylov is frozen; the cache is not one of its fields
    return cached


def ritz_vector(kr: Krylov, which: int = -1) -> Tensor:
    """Unit Ritz vectors (P, B, d) of the ``which``-th Ritz value (-1: the top, 0: the bottom), no graph;
    the top one is computed once per recurrence."""
    key = f"_ritz_vector{which}"
    cached = kr.__dict__.get(key)
    if cached is None:
        _, S = ritz_values(kr)
        with torch.no_grad():
            y = torch.einsum("jpbd,pbj->pbd", torch.stack([q.detach() for q in kr.basis]), S[..., :, which])
            cached = y / y.norm(dim=-1, keepdim=True)
        object.__setattr__(kr, key, cached)
    return cached


def gauss_log(kr: Krylov) -> Tensor:
    """Gauss quadrature |v|^2 e1^T log(T_k) e1 per probe (P, B) without a graph (non-positive Ritz
    values clamped to the smallest normal number): the value of an SLQ probe, an upper bound of v^T log(G) v."""
    theta, S = ritz_values(kr)
    log_theta = torch.log(theta.clamp_min(torch.finfo(theta.dtype).tiny))
    return kr.norm.detach() ** 2 * (S[..., 0, :] ** 2 * log_theta).sum(-1)


def gauss_radau_log(kr: Krylov, node: Tensor) -> Tensor:
    """Gauss-Radau quadrature of v^T log(G) v with a node fixed at ``node`` (B,) or (P, B), no graph.

    With node <= lambda_min(G) it is a lower bound, and the Gauss value |v|^2 e1^T log(T_k) e1 an
    upper bound (every even derivative of log is negative; Golub & Meurant 2010, ch. 6): the
    pair brackets the probe's value. T_{k+1} gets the last diagonal entry
    node + delta_k, (T_k - node I) delta = beta_k^2 e_k, so that ``node`` is one of its eigenvalues.
    """
    with torch.no_grad():
        T = kr.tridiag().detach()
        P, B, k = kr.alphas.shape
        node = node.detach().to(T).expand(P, B)
        beta = kr.next_beta.detach()
        ek = torch.zeros(P, B, k, dtype=T.dtype, device=T.device)
        ek[..., -1] = beta * beta
        eye = torch.eye(k, dtype=T.dtype, device=T.device)
        delta = torch.linalg.solve(T - node[..., None, None] * eye, ek[..., None])[..., -1, 0]
        ext = torch.zeros(P, B, k + 1, k + 1, dtype=T.dtype, device=T.device)
        ext[..., :k, :k] = T
        ext[..., k, k - 1] = ext[..., k - 1, k] = beta
        ext[..., k, k] = node + delta
        theta, S = eigh_tridiagonal(ext)
        q2 = S[..., 0, :] ** 2
        value = (q2 * torch.log(theta.clamp_min(torch.finfo(T.dtype).tiny))).sum(-1)
        norm2 = kr.norm.detach() ** 2
        return torch.where(beta > 0, norm2 * value, norm2 * quad_log(T))


def quadrature(kr: Krylov, *, need_solve: bool = False, floor: Tensor | None = None) -> Quadrature:
    """Gauss quadrature of every probe's v^T log(G) v from its recurrence (differentiable), its Ritz
    values and top Ritz vector, and w ~ G^{-1} v from the same basis (the CG/LSQR iterate) if asked.
    ``floor`` (B,): Lanczos Ritz values below it are raised to it (see ``quad_log``)."""
    if kr.bidiag is None:
        fl = None if floor is None else floor.expand(kr.alphas.shape[:2])
        values = kr.norm * kr.norm * quad_log(kr.tridiag(), fl)
    else:
        diag, sup = kr.bidiag
        Bm = torch.diag_embed(diag) + (torch.diag_embed(sup, 1) if sup.shape[-1] else 0)
        values = kr.norm * kr.norm * quad_log_gram(Bm)
    theta, _ = ritz_values(kr)
    top = ritz_vector(kr, -1)
    with torch.no_grad():
        solve = None
        if need_solve:
            Q = torch.stack([b.detach() for b in kr.basis])  # (k, P, B, d)
            Td = kr.tridiag().detach()
            e1 = torch.zeros(Td.shape[:-1], dtype=Td.dtype, device=Td.device)
            e1[..., 0] = 1
            y = torch.linalg.solve(Td, e1)  # (P, B, k)
            solve = kr.norm.detach()[..., None] * torch.einsum("jpbd,pbj->pbd", Q, y)
    return Quadrature(values=values, ritz=theta, top_vectors=top, solve=solve, steps=kr.steps)


def lanczos_quadrature(matvec: Product, V: Tensor, steps: int, *, generator: torch.Generator | None = None,
                       need_solve: bool = False) -> Quadrature:
    """SLQ (Ubaru, Chen & Saad 2017): ``min(steps, d)`` Lanczos steps on G from each probe of ``V`` (P, B, d)."""
    return quadrature(lanczos(matvec, V, steps, generator=generator), need_solve=need_solve)


def bidiag_quadrature(jvp: Product, vjp: Product, V: Tensor, steps: int, *,
                      generator: torch.Generator | None = None, need_solve: bool = False) -> Quadrature:
    """Golub-Kahan quadrature: ``min(steps, d)`` bidiagonalization steps of J from each probe of ``V``,
    each one ``jvp`` (P, B, d) -> (P, B, D) and one ``vjp``; log sigma_i(B_k)^2 from the singular values."""
    return quadrature(golub_kahan(jvp, vjp, V, steps, generator=generator), need_solve=need_solve)
