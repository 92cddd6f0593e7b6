"""Integrands of the log det trace: what one block of probes contributes to tr log(G) (Eq. 2).

log det G = tr log G ~ mean_i v_i^T log(G) v_i (Hutchinson; Algorithm 1, step 3). An integrand is the
method's approximation of the quadratic form v^T log(G) v for each probe of a block; a sampler draws the
probes and one loop (``sbp.numerics.trace.trace_loop``) averages blocks, for a fixed budget or to a
tolerance. The matvec is passed in: the integrands know no network (matfree's shape, STYLE.md).

- ``polynomial_integrand``: v^T p(G) v with p ~ log on the Lanczos interval [a, b], Chebyshev or Taylor
  (Algorithm 1, steps 1-2; ``estimators.polynomial_block``).
- ``lanczos_integrand``: |v|^2 e1^T log(T_k) e1, stochastic Lanczos quadrature (Ubaru et al. 2017).
- ``bidiag_integrand``: |v|^2 sum_i q_i^2 log sigma_i(B_k)^2, Golub-Kahan quadrature of J itself.

``integrand(V, target) -> (Block, bias)``: the block's per-probe values (P, B) and what the estimate
reports, and the bound (B,) of each probe's deterministic error (``LogdetEstimate.bias_bound``; None where
nothing is computed), or (None, None) when auto's pilot abandoned the block. ``target`` (B,) is the rows'
tolerance from the estimate so far (None for the first block and for a fixed budget).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.estimators import Block, krylov_block, polynomial_block
from sbp.numerics.polynomials import poly_error_at_lower
from sbp.numerics.singular import singular_rtol
from sbp.numerics.tolerance import MAX_ORDER, BracketStop, Tolerance, order_for_tolerance, polynomial_bias
from sbp.numerics.trace import Sampler

__all__ = ["Integrand", "polynomial_integrand", "lanczos_integrand", "bidiag_integrand"]

Matvec = Callable[[Tensor], Tensor]
Integrand = Callable[[Tensor, "Tensor | None"], "tuple[Block | None, Tensor | None]"]


def _zero_where_singular(bias: Tensor | None, block: Block) -> Tensor | None:
    return None if bias is None else torch.where(block.singular, torch.zeros_like(bias), bias)


def _max_order(tol: Tolerance, probes: int) -> int:  # the largest degree the product cap allows
    return max(1, min(MAX_ORDER, tol.max_products // probes - 1))


def polynomial_integrand(G: Matvec, matvec: Matvec, d: int, *, method: str, order: int, probes: int,
                         power_iters: int, lower: Tensor | None, upper: Tensor | None, eps: float, lowmem: bool,
                         generator, shrink: float = 16.0, jvp: Matvec | None = None, vjp: Matvec | None = None,
                         tol: Tolerance | None = None, hutchpp: Sampler | None = None) -> Integrand:
    """v^T p(G) v per probe, p the degree-``order`` Chebyshev / Taylor (``method``) approximation of log on
    [lower, upper] (estimated from the probes' Lanczos when None). With ``tol`` the degree is the smallest
    whose bias bound d max|log - p| fits a quarter of the tolerance (``order_for_tolerance``); ``hutchpp``: the
    sampler of Hutch++'s sketch (the block is then one Hutch++ estimate). Bias: d max_[a, b] |log - p|."""
    choose = None if tol is None else order_for_tolerance(method, tol, d, _max_order(tol, probes))

    def integrand(V: Tensor, target: Tensor | None) -> tuple[Block, Tensor]:
        blk, poly = polynomial_block(G, matvec, V, method=method, order=order, power_iters=power_iters, lower=lower,
                                     upper=upper, eps=eps, lowmem=lowmem, generator=generator, shrink=shrink,
                                     sampler=hutchpp, choose_order=choose, jvp=jvp, vjp=vjp)
        bias = polynomial_bias(blk, method, poly.order, d) if tol is not None else d * poly_error_at_lower(poly)
        return blk, _zero_where_singular(bias, blk)
    return integrand


def _krylov_integrand(G: Matvec, matvec: Matvec, d: int, *, method: str, steps: int, eps: float, lowmem: bool,
                      generator, jvp: Matvec | None, vjp: Matvec | None, tol: Tolerance | None, lower: Tensor | None,
                      shrink: float, max_steps: int | None, give_up) -> Integrand:
    """SLQ or Golub-Kahan quadrature (``method``): ``steps`` Krylov steps for a fixed budget; with ``tol``,
    steps until each probe's Gauss / Gauss-Radau bracket fits a quarter of the tolerance (``BracketStop``,
    at most ``max_steps``, default d), whose mean width is the bias bound. ``give_up``: auto's pilot."""
    def integrand(V: Tensor, target: Tensor | None) -> tuple[Block | None, Tensor | None]:
        stop = None
        if tol is not None:
            rtol = singular_rtol(V.dtype, of="J" if method == "bidiag" else "G")  # bidiag resolves J's singular values
            stop = BracketStop(tol, target, lower, shrink, rtol, d if max_steps is None else max_steps,
                               give_up=give_up if target is None else None)
        blk = krylov_block(G, matvec, V, method=method, steps=steps if tol is None else d, eps=eps, lowmem=lowmem,
                           generator=generator, jvp=jvp, vjp=vjp, stop=stop)
        if blk is None:  # auto's pilot gave up
            return None, None
        return blk, _zero_where_singular(None if stop is None else stop.width.mean(0), blk)
    return integrand


def lanczos_integrand(G: Matvec, matvec: Matvec, d: int, *, steps: int, eps: float, lowmem: bool, generator,
                      jvp: Matvec | None = None, vjp: Matvec | None = None, tol: Tolerance | None = None,
                      lower: Tensor | None = None, shrink: float = 16.0, max_steps: int | None = None,
                      give_up=None) -> Integrand:
    """SLQ: |v|^2 e1^T log(T_k) e1 per probe from k Lanczos steps on G + eps I (``jvp``/``vjp``: J and J^T,
    for the re-check of rows below G's resolution)."""
    return _krylov_integrand(G, matvec, d, method="slq", steps=steps, eps=eps, lowmem=lowmem, generator=generator,
                             jvp=jvp, vjp=vjp, tol=tol, lower=lower, shrink=shrink, max_steps=max_steps,
                             give_up=give_up)


def bidiag_integrand(G: Matvec, matvec: Matvec, d: int, *, steps: int, eps: float, lowmem: bool, generator,
                     jvp: Matvec, vjp: Matvec, tol: Tolerance | None = None, lower: Tensor | None = None,
                     shrink: float = 16.0, max_steps: int | None = None, give_up=None) -> Integrand:
    """Golub-Kahan: |v|^2 sum_i q_i^2 log sigma_i(B_k)^2 per probe from k steps on J (J_aug when damped),
    one ``jvp`` and one ``vjp`` per step; singular values of B_k, never their squares."""
    return _krylov_integrand(G, matvec, d, method="bidiag", steps=steps, eps=eps, lowmem=lowmem, generator=generator,
                             jvp=jvp, vjp=vjp, tol=tol, lower=lower, shrink=shrink, max_steps=max_steps,
                             give_up=give_up)
