"""The Krylov recurrences of sbp, batched over blocks of probes (P, B, d): one Lanczos, one Golub-Kahan.

- ``lanczos``: k steps of Lanczos on a symmetric G (one product G v per step) with full
  reorthogonalization give G Q_k = Q_k T_k + beta_k q_{k+1} e_k^T, T_k tridiagonal. The spectral
  bounds (Algorithm 1, step 1), stochastic Lanczos quadrature and the tolerance-driven estimators
  all read T_k from this one recurrence.
- ``golub_kahan``: bidiagonalization of J itself (one J v and one J^T u per step),
  J V_k = U_k B_k with B_k upper bidiagonal, so that B_k^T B_k is the Lanczos T_k of J^T J
  (its next off-diagonal entry is alpha_k beta_k) without ever forming the squared matrix.

Both stop early on request: ``stop`` is called after every step with the partial recurrence
and returns a (P, B) mask of probes that are done. A done probe is decoupled (its next
coupling coefficient is set to 0, as after a breakdown), so every later quantity of the probe's
e1 block stays frozen; the loop ends when every probe of every row is done. Breakdown (an
invariant subspace found, e.g. repeated eigenvalues or a null direction) restarts the probe
from a fresh Rademacher vector orthogonal to its basis with coefficient 0: the quadrature of
e1 is unaffected and every Ritz value stays inside the spectrum.

This module knows nothing of networks or of log: it takes products.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.trace import rademacher

__all__ = ["Krylov", "lanczos", "golub_kahan", "tridiagonal", "eigh_tridiagonal"]

Product = Callable[[Tensor], Tensor]
StopRule = Callable[["Krylov"], Tensor]


@dataclass(frozen=True)
class Krylov:
    """A (partial) Lanczos recurrence of G on a probe block V (P, B, d), k steps.

    ``alphas`` (P, B, k) and ``betas`` (P, B, k - 1) define T_k; ``next_beta`` (P, B) is the
    coupling to the next basis vector (0 at breakdown, for a done probe, or when k = d);
    ``basis`` holds the k unit vectors (P, B, d); ``norm`` is |v| per probe. For Golub-Kahan,
    ``bidiag`` = (diag (P, B, k), superdiag (P, B, k - 1)) of B_k, with T_k = B_k^T B_k.
    """

    alphas: Tensor
    betas: Tensor
    next_beta: Tensor
    basis: list[Tensor]
    norm: Tensor
    steps: int
    done: Tensor  # (P, B) bool: probes stopped by the stop rule
    bidiag: tuple[Tensor, Tensor] | None = None

    def tridiag(self) -> Tensor:
        """T_k (P, B, k, k)."""
        return tridiagonal(self.alphas, self.betas)


def tridiagonal(alphas: Tensor, betas: Tensor) -> Tensor:
    """The symmetric tridiagonal matrix (..., k, k) with diagonal ``alphas`` and off-diagonal ``betas``."""
    T = torch.diag_embed(alphas)
    if betas.shape[-1]:
        T = T + torch.diag_embed(betas, 1) + torch.diag_embed(betas, -1)
    return T


def eigh_tridiagonal(T: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.linalg.eigh`` of symmetric T, robust to LAPACK's rare failures on (nearly) repeated
    eigenvalues (after a breakdown restart): on failure, retry with distinct shifts of 1e-14 |T|."""
    try:
        return torch.linalg.eigh(T)
    except torch.linalg.LinAlgError:
        k = T.shape[-1]
        scale = T.abs().amax((-2, -1), keepdim=True).clamp_min(torch.finfo(T.dtype).tiny)
        ramp = torch.linspace(-1, 1, k, dtype=T.dtype, device=T.device)
        jitter = 1e3 * torch.finfo(T.dtype).eps if T.dtype == torch.float32 else 1e-14
        return torch.linalg.eigh(T + torch.diag_embed(jitter * scale[..., 0] * ramp))


def _reorth(w: Tensor, basis: list[Tensor]) -> Tensor:
    """Remove from w (P, B, n) its components along ``basis`` (list of (P, B, n)), twice."""
    Q = torch.stack(basis)
    for _ in range(2):
        w = w - torch.einsum("jpb,jpbn->pbn", torch.einsum("jpbn,pbn->jpb", Q, w), Q)
    return w


def _restart_vector(shape, basis: list[Tensor], generator, dtype, device) -> Tensor:
    """A unit Rademacher vector orthogonal to ``basis``, redrawn (up to 8 times) where the draw lay in its
    span (e.g. the generator that drew the probes drew it again)."""
    r = torch.zeros(shape, dtype=dtype, device=device)
    for _ in range(8):
        need = r.norm(dim=-1) < 0.5
        if not bool(need.any()):
            break
        x = _reorth(rademacher(shape, generator=generator, dtype=dtype, device=device), basis)
        n = x.norm(dim=-1, keepdim=True)
        ok = n[..., 0] > 1e-6 * shape[-1] ** 0.5
        r = torch.where((need & ok)[..., None], x / n.clamp_min(torch.finfo(dtype).tiny), r)
    return r


def _normalize_or_restart(w: Tensor, basis: list[Tensor], scale: Tensor, generator,
                          force: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """w / |w|, or (where |w| ~ 0, or ``force``) a fresh random unit vector orthogonal to ``basis``
    with coefficient 0."""
    beta = w.norm(dim=-1)
    broke = beta.detach() <= 1e3 * torch.finfo(w.dtype).eps * scale
    if force is not None:
        broke = broke | force
    safe = torch.where(broke, torch.ones_like(beta), beta)
    q = w / safe[..., None]
    if bool(broke.any()):
        r = _restart_vector(tuple(w.shape), basis, generator, w.dtype, w.device)
        q = torch.where(broke[..., None], r, q)
        beta = torch.where(broke, torch.zeros_like(beta), beta)
    return q, beta


def _state(alphas, betas, w_next, basis, norm, done, bidiag=None) -> Krylov:
    a = torch.stack(alphas, -1)
    b = torch.stack(betas, -1) if betas else a[..., :0]
    return Krylov(alphas=a, betas=b, next_beta=w_next, basis=basis, norm=norm, steps=len(alphas), done=done,
                  bidiag=bidiag)


def lanczos(matvec: Product, V: Tensor, steps: int, *, generator: torch.Generator | None = None,
            stop: StopRule | None = None) -> Krylov:
    """``min(steps, d)`` Lanczos steps on G from each probe of ``V`` (P, B, d), one block product each.

    Differentiable (run it under ``torch.no_grad`` when no gradient is wanted). ``stop``: see the
    module docstring; without it all steps run.
    """
    P, B, d = V.shape
    k = min(int(steps), d)
    norm = V.norm(dim=-1)
    q = V / norm[..., None]
    Q, alphas, betas = [q], [], []
    done = torch.zeros(P, B, dtype=torch.bool, device=V.device)
    w = matvec(q)
    for j in range(k):
        a = (w * q).sum(-1)
        alphas.append(a)
        w = _reorth(w - a[..., None] * q, Q)
        residual = w.norm(dim=-1) if j < d - 1 else torch.zeros_like(a)
        if stop is not None:
            done = done | stop(_state(alphas, betas, torch.where(done, 0, residual), Q, norm, done)).to(done.device)
        if j == k - 1 or bool(done.all()):
            return _state(alphas, betas, torch.where(done, torch.zeros_like(residual), residual), Q, norm, done)
        scale = torch.stack(alphas).detach().abs().amax(0).clamp_min(torch.finfo(w.dtype).tiny)
        q, beta = _normalize_or_restart(w, Q, scale, generator, force=done if stop is not None else None)
        betas.append(beta)
        Q.append(q)
        w = matvec(q) - beta[..., None] * Q[-2]
    raise AssertionError("unreachable")


def golub_kahan(jvp: Product, vjp: Product, V: Tensor, steps: int, *, generator: torch.Generator | None = None,
                stop: StopRule | None = None) -> Krylov:
    """Golub-Kahan bidiagonalization of J from each probe of ``V`` (P, B, d): ``min(steps, d)`` steps,
    each one ``jvp`` (P, B, d) -> (P, B, D) and one ``vjp`` (P, B, D) -> (P, B, d) (the last step's
    ``vjp`` is skipped unless ``stop`` needs the coupling to the next step). Returns the Lanczos
    recurrence of J^T J it implies, with ``bidiag`` = (diag, superdiag) of B_k.
    """
    P, B, d = V.shape
    k = min(int(steps), d)
    norm = V.norm(dim=-1)
    v = V / norm[..., None]
    Vs, Us, alphas, sup = [v], [], [], []
    done = torch.zeros(P, B, dtype=torch.bool, device=V.device)
    p = jvp(v)
    for j in range(k):
        if Us:
            p = _reorth(p, Us)
        alpha = p.norm(dim=-1)
        u = p / torch.where(alpha.detach() > 0, alpha, torch.ones_like(alpha))[..., None]
        alphas.append(alpha)
        Us.append(u)
        last = j == k - 1
        if last and stop is None:
            return _gk_state(alphas, sup, torch.zeros_like(alpha), Vs, norm, done)
        r = _reorth(vjp(u) - alpha[..., None] * v, Vs) if j < d - 1 else torch.zeros_like(v)
        residual = r.norm(dim=-1)
        if stop is not None:
            done = done | stop(_gk_state(alphas, sup, torch.where(done, 0, residual), Vs, norm, done)).to(done.device)
        if last or bool(done.all()):
            return _gk_state(alphas, sup, torch.where(done, torch.zeros_like(residual), residual), Vs, norm, done)
        scale = torch.stack(alphas).detach().amax(0).clamp_min(torch.finfo(r.dtype).tiny)
        v, beta = _normalize_or_restart(r, Vs, scale, generator, force=done if stop is not None else None)
        sup.append(beta)
        Vs.append(v)
        p = jvp(v) - beta[..., None] * u
    raise AssertionError("unreachable")


def _gk_state(alphas, sup, next_sup, basis, norm, done) -> Krylov:
    """The Lanczos recurrence of J^T J implied by B_k: T = B^T B, next coupling alpha_k beta_k."""
    a = torch.stack(alphas, -1)
    s = torch.stack(sup, -1) if sup else a[..., :0]
    Bm = torch.diag_embed(a) + (torch.diag_embed(s, 1) if sup else 0)
    T = Bm.mT @ Bm
    diag, off = torch.diagonal(T, dim1=-2, dim2=-1), torch.diagonal(T, offset=1, dim1=-2, dim2=-1)
    return Krylov(alphas=diag, betas=off, next_beta=a[..., -1] * next_sup, basis=basis, norm=norm,
                  steps=len(alphas), done=done, bidiag=(a, s))
