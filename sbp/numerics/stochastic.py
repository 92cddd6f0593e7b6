"""The stochastic methods: an integrand on blocks of Rademacher probes, run by the one trace loop.

The integrand is the method's (``integrands``: polynomial for chebyshev / taylor, Lanczos quadrature for
slq, bidiagonal quadrature for bidiag); ``trace.trace_loop`` runs one block for a fixed budget or blocks
until the tolerance is met. The result carries the contract's fields: rows singular to working precision
are -inf, unresolved rows are flagged (``sbp.numerics.singular``), and the polynomial methods report their
bias bound (``LogdetEstimate.bias_bound``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.auto import auto_pilot, auto_pilot_steps
from sbp.numerics.checks import as_generator
from sbp.numerics.estimators import Block
from sbp.numerics.exact import ZERO_PRODUCTS
from sbp.numerics.integrands import Integrand, bidiag_integrand, lanczos_integrand, polynomial_integrand
from sbp.numerics.options import damping_bias, spectral_end
from sbp.numerics.result import LogdetEstimate
from sbp.numerics.tolerance import QUADRATURE_SHARE, Tolerance
from sbp.numerics.trace import rademacher_sampler, trace_loop

__all__ = ["stochastic_estimate", "method_integrand"]

Matvec = Callable[[Tensor], Tensor]


def method_integrand(method: str, G: Matvec, matvec: Matvec, d: int, *, order: int, probes: int, power_iters: int,
                     lo: Tensor | None, hi: Tensor | None, eps: float, lowmem: bool, generator, jvp, vjp,
                     tol: Tolerance | None, shrink: float, hutchpp, max_steps: int, give_up) -> Integrand:
    """The integrand of ``method`` on G = ``matvec`` + eps I (``sbp.numerics.integrands``)."""
    if method in ("chebyshev", "taylor"):
        return polynomial_integrand(G, matvec, d, method=method, order=order, probes=probes, power_iters=power_iters,
                                    lower=lo, upper=hi, eps=eps, lowmem=lowmem, generator=generator, shrink=shrink,
                                    jvp=jvp, vjp=vjp, tol=tol, hutchpp=hutchpp)
    krylov = lanczos_integrand if method == "slq" else bidiag_integrand
    return krylov(G, matvec, d, steps=order, eps=eps, lowmem=lowmem, generator=generator, jvp=jvp, vjp=vjp, tol=tol,
                  lower=lo, shrink=shrink, max_steps=max_steps, give_up=give_up)


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
    sampler = rademacher_sampler(gen, dtype, device)
    integrand = method_integrand(method, G, matvec, d, order=order, probes=probes, power_iters=power_iters, lo=lo,
                                 hi=hi, eps=eps, lowmem=grad_mode == "lowmem", generator=gen, jvp=jvp, vjp=vjp,
                                 tol=tol, shrink=shrink, hutchpp=sampler if variance_reduction == "hutchpp" else None,
                                 max_steps=d if pilot_cost is None else auto_pilot_steps(d, probes, pilot_cost),
                                 give_up=give_up)
    run = trace_loop(integrand, sampler, (probes, B, d), tol, pilot=verdict)
    if run is None:
        return None
    return _assemble(run.blocks, run.estimate, run.stderr, run.bias, run.converged, run.products, method=method,
                     order=order, probes=probes, eps=eps, d=d, grad_mode=grad_mode,
                     variance_reduction=variance_reduction, tol=tol)


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
