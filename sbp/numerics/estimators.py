"""One probe block of each stochastic method (the work of ``sbp.numerics.integrands``), each a short
composition of the named parts.

- ``polynomial_block``: Algorithm 1 of Ramesh & LeCun (2018). Lanczos from every probe
  (``krylov.lanczos``) gives the spectral interval [a, b] (``bounds.spectral_bounds``, step 1);
  p ~ log on [a, b] is Chebyshev or Taylor (``polynomials.log_polynomial``, step 2); each probe's
  v^T p(G) v comes from the one operator recurrence (``polynomials.poly_quadratic``), averaged by
  Hutchinson or Hutch++ (``trace``, step 3). Without a graph and for order < 2 k the Lanczos
  matrices already hold v^T p(G) v = |v|^2 e1^T p(T) e1 (Gauss quadrature): no further products.
- ``krylov_block``: SLQ (Lanczos) or Golub-Kahan quadrature, |v|^2 e1^T log(T_k) e1 per probe.

Each returns per-probe values (P, B) and what the facade reports; the gradient flows through
the recurrences (Eq. 3), or with ``lowmem`` through one surrogate product w^T G v whose
gradient w^T dG v is unbiased for d tr p(G) = tr(p'(G) dG) (w = p'(G) v, or w ~ G^{-1} v).
"""
from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.bounds import spectral_bounds
from sbp.numerics.krylov import Krylov, golub_kahan, lanczos
from sbp.numerics.polynomials import LogPolynomial, log_polynomial, poly_apply, poly_quadratic
from sbp.numerics.quadrature import gauss_log, quadrature, ritz_values, ritz_vector
from sbp.numerics.singular import extreme_ritz, judge_rows, resolution
from sbp.numerics.trace import Sampler, hutchpp

__all__ = ["Block", "polynomial_block", "krylov_block", "polynomial_interval", "singular_threshold"]

Matvec = Callable[[Tensor], Tensor]


def singular_threshold(dtype: torch.dtype) -> float:
    """Bottom Ritz value / top Ritz value of G at or below which products with G in ``dtype`` cannot resolve
    an eigenvalue from zero: 10 eps (``sbp.numerics.singular.resolution``). Whether such a row is singular
    is decided by ``sbp.numerics.singular.judge_rows``."""
    return resolution(dtype)


@dataclass(frozen=True)
class Block:
    """One probe block's results: per-probe values (P, B) (with a graph if wanted), Ritz extremes
    (B,), the interval (B,), the top Ritz vector's Rayleigh quotient, vector products per row (each G v
    of one vector counts 1), rows found singular / unresolved (``sbp.numerics.singular``)."""

    values: Tensor
    theta_min: Tensor
    theta_max: Tensor
    lower: Tensor
    upper: Tensor
    lambda_max: Tensor
    products: int
    singular: Tensor  # (B,) bool
    steps: int
    unresolved: Tensor | None = None  # (B,) bool
    stderr: Tensor | None = None  # set by Hutch++ (its own standard error)
    kr: Krylov | None = None
    order: int | None = None  # the polynomial's degree


def _rayleigh_top(matvec: Matvec, top: Tensor, ritz_top: Tensor, eps: float, graph: bool) -> tuple[Tensor, int]:
    """lambda_max (B,): the Rayleigh quotient y^T G y of the best probe's top Ritz vector y (one
    product, differentiable) with a graph, else the top Ritz value itself (minus the damping)."""
    best = ritz_top.argmax(0)
    if not graph:
        return ritz_top.gather(0, best[None])[0] - eps, 0
    P, B, d = top.shape
    y = top.gather(0, best[None, :, None].expand(1, B, d))[0]
    return (y * matvec(y[None])[0]).sum(-1), 1


def polynomial_interval(kr: Krylov, lower, upper, shrink: float) -> tuple[Tensor, Tensor]:
    """[a, b] (B,) for the polynomial: the envelope over probes of the Lanczos intervals, or the given ends."""
    P, B = kr.alphas.shape[:2]
    sb = spectral_bounds(kr)
    a_pb, b_pb = (t.reshape(P, B) for t in sb.interval(shrink))
    b = upper if upper is not None else b_pb.amax(0)
    a = lower if lower is not None else torch.minimum(a_pb.amin(0), b * (1 - 1e-3))
    if not bool((a < b).all()):
        raise ValueError(f"lower must be < upper; got lower={a.tolist()} with upper={b.tolist()}")
    return a, b


def _safe_interval(a: Tensor, b: Tensor, singular: Tensor) -> tuple[Tensor, Tensor]:
    """A harmless [1, 2] for rows that are singular (their value is replaced by -inf)."""
    return torch.where(singular, torch.ones_like(a), a), torch.where(singular, 2 * torch.ones_like(b), b)


def polynomial_block(G: Matvec, matvec: Matvec, V: Tensor, *, method: str, order: int | None, power_iters: int,
                     lower, upper, eps: float, lowmem: bool, generator, shrink: float = 16.0,
                     sampler: Sampler | None = None, choose_order: Callable[[Tensor, Tensor, Tensor], int] | None = None,
                     jvp: Matvec | None = None, vjp: Matvec | None = None) -> tuple[Block, LogPolynomial]:
    """Algorithm 1 on the probe block V (P, B, d) (``sampler`` given: Hutch++ with P vectors).

    ``choose_order(a, b, pilot)`` (tolerance mode) picks the degree from the interval and the
    Lanczos pilot value of each row; otherwise ``order`` is used. ``jvp``/``vjp`` (J, J^T): rows below
    G's resolution are re-checked on J (``sbp.numerics.singular``)."""
    P, B, d = V.shape
    graph = torch.is_grad_enabled()
    with torch.no_grad():
        kr = lanczos(G, V, power_iters, generator=generator)
        theta, _ = ritz_values(kr)
    a_raw, b_raw = polynomial_interval(kr, lower, upper, shrink)
    tmin, tmax = theta[..., 0].amin(0), theta[..., -1].amax(0)
    rows = judge_rows(G, V, kr, max_steps=4 * power_iters, jvp=jvp, vjp=vjp, damped=eps != 0)
    if lower is None and bool(rows.unresolved.any()):  # the guarded estimate of lambda_min from the re-check
        a_raw = torch.where(rows.unresolved, torch.minimum(torch.maximum(a_raw, rows.floor / shrink), b_raw * (1 - 1e-3)),
                            a_raw)
    singular = rows.singular
    a, b = _safe_interval(a_raw, b_raw, singular)
    lambda_max, products = _rayleigh_top(matvec, ritz_vector(kr, -1), theta[..., -1], eps, graph)
    products += kr.steps * P + rows.products
    if choose_order is not None:
        with torch.no_grad():
            pilot = gauss_log(kr).mean(0)
        order = choose_order(a, b, pilot)
    poly = log_polynomial(method, order, a, b, V.dtype)
    common = dict(theta_min=tmin, theta_max=tmax, lower=a_raw, upper=b_raw, lambda_max=lambda_max, singular=singular,
                  steps=kr.steps, kr=kr, order=order, unresolved=rows.unresolved)
    if sampler is not None:  # order products on the k sketch vectors, then on the k + (P - 2k) others
        tr = hutchpp(lambda X: poly_apply(G, X, poly), sampler, (P, B, d))
        return Block(values=tr.mean[None], stderr=tr.stderr, products=products + order * P, **common), poly
    if not graph and (order < 2 * kr.steps or kr.steps == d):
        T = kr.tridiag()
        e1 = torch.zeros(P, B, kr.steps, dtype=V.dtype, device=V.device)
        e1[..., 0] = 1.0
        pT = poly_apply(lambda X: torch.einsum("pbij,pbj->pbi", T, X), e1, poly)
        return Block(values=d * pT[..., 0], products=products, **common), poly
    with torch.no_grad() if lowmem else nullcontext():
        q, W = poly_quadratic(G, V, poly, derivative=lowmem)
    products += order * P
    if lowmem:
        q = _with_surrogate(q, W, V, G)
        products += P
    return Block(values=q, products=products, **common), poly


def _with_surrogate(q: Tensor, W: Tensor, V: Tensor, matvec: Matvec) -> Tensor:
    """Per-probe values q (no graph) plus a zero-valued surrogate w^T G v whose gradient is
    w^T dG v (w, v constants): the low-memory gradient, one product with a graph."""
    s = (W.detach() * matvec(V)).sum(-1)
    return q.detach() + (s - s.detach())


def krylov_block(G: Matvec, matvec: Matvec, V: Tensor, *, method: str, steps: int, eps: float, lowmem: bool,
                 generator, jvp: Matvec | None = None, vjp: Matvec | None = None, stop=None) -> Block | None:
    """SLQ (``method="slq"``, Lanczos on G + eps I) or Golub-Kahan quadrature (``"bidiag"``, of
    J_aug = [J; sqrt(eps) I] when damped) on the probe block V; ``stop`` is the Krylov stop rule.
    None when ``stop`` abandoned the block (auto's pilot): nothing more is computed for it."""
    P, B, d = V.shape
    with torch.no_grad() if lowmem else nullcontext():
        if method == "slq":
            kr = lanczos(G, V, steps, generator=generator, stop=stop)
        else:
            kr = golub_kahan(*_augmented(jvp, vjp, eps, d), V, steps, generator=generator, stop=stop)
        if getattr(stop, "abandoned", False):
            return None
        tmin, tmax = extreme_ritz(kr)
        rows = judge_rows(G, V, kr, max_steps=kr.steps, jvp=jvp, vjp=vjp, damped=eps != 0)
        singular = rows.singular
        floor = rows.floor if bool(rows.unresolved.any()) else None
        quad = quadrature(_regularized(kr, singular), need_solve=lowmem, floor=floor)
    q = _with_surrogate(quad.values, quad.solve, V, G) if lowmem else quad.values
    lambda_max, extra = _rayleigh_top(matvec, quad.top_vectors, quad.ritz[..., -1], eps, True)
    return Block(values=q, theta_min=tmin, theta_max=tmax, lower=tmin, upper=tmax, lambda_max=lambda_max,
                 products=kr.steps * P + extra + P * int(lowmem) + rows.products, singular=singular, steps=kr.steps,
                 kr=kr, unresolved=rows.unresolved)


def _augmented(jvp, vjp, eps: float, d: int) -> tuple[Matvec, Matvec]:
    """J and J^T, or those of J_aug = [J; sqrt(eps) I] (J_aug^T J_aug = G + eps I) when damped."""
    if eps == 0:
        return jvp, vjp
    r = eps ** 0.5
    return (lambda v: torch.cat([jvp(v), r * v], dim=-1)), (lambda u: vjp(u[..., :-d]) + r * u[..., -d:])


def _regularized(kr: Krylov, singular: Tensor) -> Krylov:
    """The recurrence with singular rows' T_k replaced by the identity (their value becomes -inf later),
    so that the quadrature's log never sees a non-positive Ritz value."""
    if not bool(singular.any()):
        return kr
    m = singular[None, :, None]
    alphas = torch.where(m, torch.ones_like(kr.alphas), kr.alphas)
    betas = torch.where(m, torch.zeros_like(kr.betas), kr.betas)
    bidiag = None
    if kr.bidiag is not None:
        diag, sup = kr.bidiag
        bidiag = (torch.where(m, torch.ones_like(diag), diag), torch.where(m, torch.zeros_like(sup), sup))
    return dataclasses.replace(kr, alphas=alphas, betas=betas, bidiag=bidiag)
