"""The stochastic methods run for a fixed budget (one probe block) or to a tolerance (blocks until it is met).

One block is ``estimators.polynomial_block`` (chebyshev, taylor) or ``estimators.krylov_block`` (slq,
bidiag); ``tolerance.run_to_tolerance`` repeats blocks. The result carries the contract's fields: rows
singular to working precision are -inf, unresolved rows are flagged (``sbp.numerics.singular``), and
the polynomial methods report their bias bound (``LogdetEstimate.bias_bound``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.auto import auto_pilot, auto_pilot_steps
from sbp.numerics.checks import as_generator
from sbp.numerics.estimators import Block, krylov_block, polynomial_block
from sbp.numerics.exact import ZERO_PRODUCTS
from sbp.numerics.options import damping_bias, spectral_end
from sbp.numerics.polynomials import poly_error_at_lower
from sbp.numerics.result import LogdetEstimate
from sbp.numerics.singular import singular_rtol
from sbp.numerics.tolerance import (MAX_ORDER, QUADRATURE_SHARE, BracketStop, Tolerance, order_for_tolerance,
                                    polynomial_bias, run_to_tolerance)
from sbp.numerics.trace import mean_stderr, rademacher_sampler

__all__ = ["stochastic_estimate"]

Matvec = Callable[[Tensor], Tensor]


def _max_order(tol: Tolerance, probes: int) -> int:  # the largest degree the product cap allows
    return max(1, min(MAX_ORDER, tol.max_products // probes - 1))


def _block_runner(G: Matvec, matvec: Matvec, B: int, d: int, dtype, *, method, order, probes, lo, hi, power_iters, gen,
                  eps, lowmem, jvp, vjp, variance_reduction, tol, pilot_cost, shrink, give_up, sampler):
    """``run_block(target) -> (Block, bias bound (B,))``: one probe block of ``method`` ((None, None) when
    auto's pilot gave up)."""
    max_steps = d if pilot_cost is None else auto_pilot_steps(d, probes, pilot_cost)
    rtol = singular_rtol(dtype, of="J" if method == "bidiag" else "G")  # bidiag resolves J's singular values

    def run_block(target):
        V = sampler((probes, B, d))
        if method in ("slq", "bidiag"):
            stop = None if tol is None else BracketStop(tol, target, lo, shrink, rtol, max_steps,
                                                        give_up=give_up if target is None else None)
            blk = krylov_block(G, matvec, V, method=method, steps=order if tol is None else d, eps=eps,
                               lowmem=lowmem, generator=gen, jvp=jvp, vjp=vjp, stop=stop)
            if blk is None:  # auto's pilot gave up
                return None, None
            bias = None if tol is None else stop.width.mean(0)
        else:
            choose = None if tol is None else order_for_tolerance(method, tol, d, _max_order(tol, probes))
            blk, poly = polynomial_block(G, matvec, V, method=method, order=order, power_iters=power_iters, lower=lo,
                                         upper=hi, eps=eps, lowmem=lowmem, generator=gen, shrink=shrink,
                                         sampler=sampler if variance_reduction == "hutchpp" else None,
                                         choose_order=choose, jvp=jvp, vjp=vjp)
            bias = polynomial_bias(blk, method, poly.order, d) if tol is not None else d * poly_error_at_lower(poly)
        if bias is not None:
            bias = torch.where(blk.singular, torch.zeros_like(bias), bias)
        return blk, bias

    return run_block


def stochastic_estimate(matvec: Matvec, B: int, d: int, dtype, device, *, method: str, order: int, probes: int,
                        lower, upper, power_iters: int, generator, damping: float = 0.0, grad_mode: str = "backprop",
                        jvp: Matvec | None = None, vjp: Matvec | None = None, variance_reduction: str = "none",
                        tol: Tolerance | None = None, pilot_cost: float | None = None, shrink: float = 16.0
                        ) -> LogdetEstimate | None:
    """The stochastic methods on G = ``matvec`` (undamped; they run on G + damping I), for a fixed budget
    (one block) or to ``tol``. ``jvp``/``vjp``: J and J^T (``logdet_metric``; None for ``sbp.logdet``).
    ``pilot_cost`` (auto with a tolerance): None is returned when the pilot block predicts that exact is cheaper."""
    gen, eps = as_generator(generator, device), float(damping)
    G = matvec if eps == 0 else (lambda v: matvec(v) + eps * v)
    lo, hi = spectral_end(lower, B, dtype, device, "lower"), spectral_end(upper, B, dtype, device, "upper")
    if lo is not None and hi is not None and not bool((lo < hi).all()):
        raise ValueError(f"lower must be < upper, got lower={lower}, upper={upper}")
    give_up, verdict = (None, None) if pilot_cost is None else auto_pilot(
        d, confidence=tol.confidence, product_cost=pilot_cost, quadrature_share=QUADRATURE_SHARE)
    run_block = _block_runner(G, matvec, B, d, dtype, method=method, order=order, probes=probes, lo=lo, hi=hi,
                                     power_iters=power_iters, gen=gen, eps=eps, lowmem=grad_mode == "lowmem", jvp=jvp,
                                     vjp=vjp, variance_reduction=variance_reduction, tol=tol, pilot_cost=pilot_cost,
                                     shrink=shrink, give_up=give_up, sampler=rademacher_sampler(gen, dtype, device))
    if tol is None:
        blk, bias = run_block(None)
        tr = mean_stderr(blk.values)
        est, stderr = tr.mean, (blk.stderr if blk.stderr is not None else tr.stderr)
        blocks, converged, products = [blk], None, blk.products
    else:
        result = run_to_tolerance(run_block, tol, probes, pilot=verdict)
        if result is None:
            return None
        est, stderr, converged, blocks, products, bias = result
    return _assemble(blocks, est, stderr, bias, converged, products, method=method, order=order, probes=probes,
                     eps=eps, d=d, grad_mode=grad_mode, variance_reduction=variance_reduction, tol=tol)


def _assemble(blocks: list[Block], est: Tensor, stderr: Tensor, bias, converged, products: int, *, method, order,
              probes, eps, d, grad_mode, variance_reduction, tol) -> LogdetEstimate:
    """The ``LogdetEstimate`` of the blocks: singular rows -inf (stderr and bias 0), unresolved rows flagged."""
    first = blocks[0]
    if bool((first.theta_max <= eps * (1 + 100 * torch.finfo(first.theta_max.dtype).eps)).all()):
        raise ValueError(ZERO_PRODUCTS)
    singular = torch.stack([b.singular for b in blocks]).any(0)
    flags = [b.unresolved for b in blocks if b.unresolved is not None]
    unresolved = torch.stack(flags).any(0) & ~singular if flags else torch.zeros_like(singular)
    est = torch.where(singular, torch.full_like(est, -math.inf), est)
    stderr = torch.where(singular, torch.zeros_like(stderr), stderr)
    if bias is not None:
        bias = torch.where(singular, torch.zeros_like(bias), bias).detach()
    lower_out, upper_out = torch.stack([b.lower for b in blocks]).amin(0), torch.stack([b.upper for b in blocks]).amax(0)
    steps = max(b.steps for b in blocks) if method in ("slq", "bidiag") else (
        order if tol is None else max(b.order or 0 for b in blocks))
    return LogdetEstimate(logdet=est, lambda_max=first.lambda_max, stderr=stderr, lower=lower_out, upper=upper_out,
                          method=method, order=steps, probes=probes * len(blocks), products=products, damping=eps,
                          damping_bias=damping_bias(eps, first.theta_min - eps, d), grad_mode=grad_mode,
                          variance_reduction=variance_reduction, converged=converged, bias_bound=bias,
                          unresolved=unresolved)
