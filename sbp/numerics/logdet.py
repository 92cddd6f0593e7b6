"""The log det facade: ``logdet_metric`` (of f's J^T J), ``logdet_operator`` and ``logdet`` (any SPD operator).

Algorithm 1 of Ramesh & LeCun (2018), and the methods beyond it, composed of named parts: one
operator (``jacobian.MetricOperator``: J v, J^T u, ``.columns``, ``.dense``; wrap it to count products,
``jacobian.counted``) seen by every method; Krylov recurrences (``krylov``), spectral bounds (``bounds``),
polynomials (``polynomials``) and quadrature (``quadrature``) make the integrands (``integrands``:
polynomial, Lanczos, bidiagonal) that one trace loop (``trace.trace_loop``) averages over probe blocks,
for a fixed budget or to a tolerance (``tolerance``); exact is the dense path (``exact``) with the one
singular rule (``singular``); ``method="auto"``'s decisions and cost model are in ``auto``.
The estimate is differentiable (Eq. 3): gradients flow through the recurrences into the
parameters of f and into z. The interval is a constant (it only selects the polynomial), while
``lambda_max`` carries its own gradient v^T dG v for the spectral-norm penalty of Eq. 8.

Accuracy you ask for (``atol``/``rtol``; ``sbp.numerics.tolerance``): the estimate aims at
|error| <= atol + rtol |log det| per row with probability >= ``confidence`` (default 0.95;
``atol`` is 0 when only ``rtol`` is given). ``probes`` becomes the block size: Lanczos
steps (slq, bidiag) or the degree (chebyshev, taylor) adapt until each probe's quadrature
bound is within a quarter of the tolerance, then blocks of probes until the Student-t
interval fits the rest; ``max_products`` caps the vector products per row (default
max(2048, 32 d)). ``converged`` (B,) says per row whether the tolerance was met (one
warning when not). ``order`` is then ignored; ``lower`` is the Gauss-Radau node (the
bracket is certified when lower <= lambda_min). The gradient is that of the adapted
estimate: unbiased only up to the quadrature bound.

``method="auto"`` (every decision in ``sbp.numerics.auto``, one cost model, ``CostModel``): exact costs
d units (d dense Jacobian columns here, d products with unit vectors for ``sbp.logdet``), each vector
product of the stochastic route ``product_cost`` units (a JVP+VJP pair ~ AUTO_PRODUCT_COST columns;
benchmarks/bench_auto.py; rough). Fixed budget: ``"exact"`` or ``"chebyshev"``, whichever costs less. With a
tolerance, a gate on J v of the pilot's probes, then a pilot SLQ block, predict the products reaching it
needs; exact is taken when cheaper, with the gate's products as P of its d columns. No graph is built when
no gradient can flow (``f(z)`` does not require grad).

What a row's value is (the contract): right within its stated uncertainty, flagged by a
RuntimeWarning that counts and names the rows (pointing at the caller's line), or an error.
``stderr`` is the probe (Monte Carlo) error only; the polynomial methods' deterministic error is
bounded by ``bias_bound`` (warned when above ``stderr``); ``est.interval(confidence)`` is the
Student-t interval of the probe variance. Singular metrics (``sbp.numerics.singular``): a row is
-inf only when J is singular to working precision, sigma_min <= 10 eps(dtype) sigma_max, as
``"exact"`` judges; G products resolve eigenvalues only to ~10 eps lambda_max, so slq / chebyshev /
taylor rows below that are re-checked on J (Golub-Kahan) and, if not singular, flagged
``unresolved`` (use ``"bidiag"``, ``"exact"`` or float64); use ``damping`` for the regularized value.

Methods beyond the paper: ``"slq"`` (stochastic Lanczos quadrature, Ubaru et al. 2017) and
``"bidiag"`` (Golub-Kahan bidiagonalization of J, one JVP and one VJP per step) need no spectral
interval (``lower``/``upper``/``power_iters`` are ignored), use ``min(order, d)`` steps (exact
quadrature when order >= d) and report the extreme Ritz values as ``lower``/``upper``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.auto import METRIC_COST, OPERATOR_COST, auto_estimate, auto_method, graph_wanted, metric_gate
from sbp.numerics.checks import FLOAT_DTYPES, check_latent, check_positive_int
from sbp.numerics.dense import metric_of
from sbp.numerics.exact import check_dense_operator, exact_estimate
from sbp.numerics.jacobian import MetricOperator, column_mode, counted, metric_operator
from sbp.numerics.options import GRAD_MODES, METHODS, VARIANCE_REDUCTIONS, check_options, resolve_method
from sbp.numerics.report import warn_estimate
from sbp.numerics.result import LogdetEstimate
from sbp.numerics.stochastic import stochastic_estimate
from sbp.numerics.tolerance import Tolerance, check_tolerance_options, make_tolerance

__all__ = ["LogdetEstimate", "logdet", "logdet_metric", "logdet_operator", "METHODS", "GRAD_MODES", "VARIANCE_REDUCTIONS",
           "auto_method"]

Matvec = Callable[[Tensor], Tensor]


def logdet_metric(f: Callable[[Tensor], Tensor], z: Tensor, *, method: str | None = None, order: int = 30,
                  probes: int = 8, lower: float | Tensor | None = None, upper: float | Tensor | None = None,
                  power_iters: int = 20, generator: torch.Generator | int | None = None,
                  jvp_mode: str = "auto", damping: float = 0.0, grad_mode: str = "backprop",
                  variance_reduction: str = "none", atol: float | None = None, rtol: float | None = None,
                  confidence: float = 0.95, max_products: int | None = None) -> LogdetEstimate:
    """Estimate log det(J^T J) for the Jacobian J of ``f`` at each row of ``z`` (Eq. 1-3).

    Args:
        f: maps a batch (B, d) to (B, ...) with independent rows (an ``nn.Module`` in
            eval mode, or any callable); output size per row D >= d. A module in training mode
            holding dropout or batch norm is rejected (call ``.eval()``); an output that does not
            depend on z (J v = 0 everywhere) or has no batch dimension is an error; errors raised
            inside f under torch.func's transforms are re-raised naming f.
        z: (B, d) float32/float64 latent codes (CPU or CUDA).
        method: None (default): ``"chebyshev"`` for a fixed budget, ``"auto"`` when ``atol`` or
            ``rtol`` is given. ``"chebyshev"`` (Han et al. 2017), ``"taylor"`` (Boutsidis et al. 2017)
            or ``"exact"`` (dense Jacobian, Cholesky of J^T J in float64: ground truth).
        order: polynomial degree; each degree costs one JVP+VJP over the probe block.
            Chebyshev's error falls like exp(-2 order / sqrt(b/a)): condition 1e2 needs
            ~20, 1e4 needs ~200 (benchmarks/bench_core.py measures it).
        probes: Rademacher probes for Hutchinson's trace estimator; the standard error
            falls like 1/sqrt(probes) and is returned as ``stderr``.
        lower: lower end a of the spectral interval: the paper fixes a small constant;
            None (default) estimates it from the Lanczos iterations.
        upper: upper end b; None uses the Krylov estimate of lambda_max plus its residual.
        power_iters: Krylov (power-method) iterations for the interval and ``lambda_max``.
        generator: ``torch.Generator`` or int seed for every random draw (probes, start
            vector): the same generator state gives the same number.
        jvp_mode: ``"forward"`` (forward-mode JVP, the paper's), ``"reverse"`` (J v as the VJP
            of the VJP, probes folded into the batch; faster on CPU), ``"auto"`` (forward on CUDA,
            reverse elsewhere) or ``"dense"`` (tiny d: J formed once, products as matmuls).
        damping: eps >= 0: estimate log det(J^T J + eps I) instead, for (nearly) singular
            metrics. The bias sum_i log(1 + eps/lambda_i) is >= 0 (the damped value is
            never below the undamped one) and is reported as ``damping_bias``.
        grad_mode: ``"backprop"`` (differentiate through the recurrence: memory grows with
            ``order``) or ``"lowmem"``: run the recurrence without a graph, accumulating
            w = p'(G) v (polynomials) or w ~ G^{-1} v (slq/bidiag, from the Krylov basis) from
            the same products, then one product with a graph gives the surrogate w^T G v whose
            gradient w^T dG v is unbiased for d tr p(G) = tr(p'(G) dG). Same value.
        variance_reduction: ``"none"`` (Hutchinson) or ``"hutchpp"`` (Hutch++, Meyer et al.
            2021; chebyshev/taylor): of the ``probes`` vectors, probes//3 sketch p(G), whose
            range Q gets an exact trace, and the rest estimate the deflated remainder; the
            same number of vector products as plain Hutchinson, plus the sketch's recurrence
            (``products`` counts vector products, the sketch's recurrence included).

    Tolerances, ``method="auto"``, the contract of a row's value, singular rows and the methods
    beyond the paper: see the module docstring (``help(sbp.numerics.logdet)``).

    Returns:
        ``LogdetEstimate`` (fields documented there) with ``logdet``, ``lambda_max``, ``stderr``,
        ``bias_bound`` (all (B,)), the interval, ``products`` (vector products per row, for every
        method) and (with a tolerance) ``converged``.

    Example:
        >>> import torch, sbp
        >>> A = torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]], dtype=torch.float64)
        >>> z = torch.zeros(1, 2, dtype=torch.float64)
        >>> est = sbp.logdet_metric(lambda z: z @ A.T, z, order=40, probes=16, generator=0)
        >>> round(est.logdet.item(), 3), round(torch.log(torch.tensor(36.0)).item(), 3)
        (3.584, 3.584)
    """
    check_latent(z)
    tol = make_tolerance(atol, rtol, confidence, max_products, z.shape[1])
    method = resolve_method(method, tol is not None)
    check_options(method, order, probes, power_iters, damping, grad_mode, variance_reduction)
    check_tolerance_options(tol, variance_reduction)
    # exact needs columns only: its operator is built on the column route (no second forward pass of f)
    op = metric_operator(f, z, jvp_mode=column_mode(jvp_mode, z.device) if method == "exact" else jvp_mode)
    est = _metric_estimate(op, tol, method=method, order=order, probes=probes, lower=lower, upper=upper,
                           power_iters=power_iters, generator=generator, damping=damping, grad_mode=grad_mode,
                           variance_reduction=variance_reduction)
    warn_estimate(est, tol)
    return est


def _point(op: MetricOperator) -> Tensor:
    """The tensor whose dtype and device the operator's input vectors take (z, else f's output)."""
    return op.z if op.z is not None else op.output


def _metric_estimate(op: MetricOperator, tol: Tolerance | None, *, method: str, order, probes, lower, upper,
                     power_iters, generator, damping, grad_mode, variance_reduction) -> LogdetEstimate:
    """The dispatch on a Jacobian operator: exact (its dense columns), a stochastic method, or auto
    (``sbp.numerics.auto.auto_estimate`` with ``METRIC_COST`` and the gate on J v)."""
    d = op.dim
    exact_of = lambda G: exact_estimate(G, products=d, dtype=_point(op).dtype, damping=damping, tol=tol)  # noqa: E731
    run = dict(order=order, probes=probes, lower=lower, upper=upper, power_iters=power_iters, generator=generator,
               damping=damping, grad_mode=grad_mode, variance_reduction=variance_reduction, tol=tol)
    if method == "exact":
        return exact_of(metric_of(op))
    if method != "auto":
        return _run(op, method, **run)
    gate = None if tol is None else metric_gate(op, tol, exact_of, generator=generator, probes=probes, damping=damping)
    pilot_op, spent = counted(op)  # the products of a pilot that exact then replaces count too
    est = auto_estimate(METRIC_COST, d, tol, order=order, probes=probes, power_iters=power_iters,
                        graph=graph_wanted(op.output), exact=lambda: exact_of(metric_of(op)),
                        stochastic=lambda m: _run(op, m, **run), gate=gate,
                        pilot=lambda: _run(pilot_op, "slq", pilot_cost=METRIC_COST.product_cost, **run))
    return _with_pilot(est, spent.products)


def _with_pilot(est: LogdetEstimate, pilot_products: int) -> LogdetEstimate:
    """auto's exact estimate with the products of the pilot it abandoned added (``products``: the call's cost)."""
    if est.method != "exact" or pilot_products == 0:
        return est
    return dataclasses.replace(est, products=est.products + pilot_products)


def _run(op: MetricOperator, method: str, pilot_cost: float | None = None, **kw) -> LogdetEstimate | None:
    out = op.output
    return stochastic_estimate(op.matvec, op.batch, op.dim, out.dtype, out.device, method=method, jvp=op.jvp,
                               vjp=op.vjp, pilot_cost=pilot_cost, **kw)


def logdet_operator(op: MetricOperator, *, method: str | None = None, order: int = 30, probes: int = 8,
                    lower: float | Tensor | None = None, upper: float | Tensor | None = None,
                    power_iters: int = 20, generator: torch.Generator | int | None = None,
                    damping: float = 0.0, grad_mode: str = "backprop", variance_reduction: str = "none",
                    atol: float | None = None, rtol: float | None = None, confidence: float = 0.95,
                    max_products: int | None = None) -> LogdetEstimate:
    """``logdet_metric`` on a given Jacobian operator ``op`` (``sbp.numerics.jacobian.MetricOperator``), every method.

    For callers that wrap the operator's products, e.g. to count them (``sbp.numerics.jacobian.counted``):
    ``logdet_metric(f, z, ...)`` is this on ``metric_operator(f, z, jvp_mode=...)``. ``"exact"`` and ``"auto"``'s
    exact route take J's columns from the operator's column route (``MetricOperator.columns``).
    """
    tol = make_tolerance(atol, rtol, confidence, max_products, op.dim)
    method = resolve_method(method, tol is not None)
    check_options(method, order, probes, power_iters, damping, grad_mode, variance_reduction)
    check_tolerance_options(tol, variance_reduction)
    est = _metric_estimate(op, tol, method=method, order=order, probes=probes, lower=lower, upper=upper,
                           power_iters=power_iters, generator=generator, damping=damping, grad_mode=grad_mode,
                           variance_reduction=variance_reduction)
    warn_estimate(est, tol)
    return est


def logdet(matvec: Matvec, dim: int, *, batch: int = 1, method: str | None = None, order: int = 30,
           probes: int = 8, lower: float | Tensor | None = None, upper: float | Tensor | None = None,
           power_iters: int = 20, generator: torch.Generator | int | None = None,
           dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
           damping: float = 0.0, grad_mode: str = "backprop", variance_reduction: str = "none",
           atol: float | None = None, rtol: float | None = None, confidence: float = 0.95,
           max_products: int | None = None) -> LogdetEstimate:
    """The estimators of ``logdet_metric`` for any batched SPD operator.

    ``matvec`` maps a block (P, batch, dim) to G applied to each vector, same shape (checked at every call);
    e.g. ``lambda v: v @ A`` for one symmetric positive definite ``A``. Other arguments as in
    ``logdet_metric`` (``method=None``: chebyshev, or auto with a tolerance); ``method="bidiag"`` needs J
    and J^T separately and is only available through ``logdet_metric``. ``"exact"`` applies G to the dim
    unit vectors (dim products per row); ``"auto"`` is ``logdet_metric``'s cost model with a product with G
    costing as much as one with a unit vector (``sbp.numerics.auto.OPERATOR_COST``). A G that is not
    symmetric positive semi-definite (a clearly negative Ritz value or eigenvalue) raises ValueError; rows
    with lambda_min <= 10 eps lambda_max (G's own precision) are singular: -inf, with a RuntimeWarning.
    """
    check_positive_int(dim, "dim")
    check_positive_int(batch, "batch")
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    tol = make_tolerance(atol, rtol, confidence, max_products, dim)
    method = resolve_method(method, tol is not None)
    check_options(method, order, probes, power_iters, damping, grad_mode, variance_reduction)
    if method == "bidiag":
        raise ValueError("method='bidiag' needs products with J and J^T separately; logdet() only has "
                         "G = J^T J: use logdet_metric(f, z, method='bidiag') or method='slq'")
    check_tolerance_options(tol, variance_reduction)
    est = _operator_estimate(_checked_matvec(matvec, (batch, dim)), batch, dim, dtype, device, method, tol,
                             order=order, probes=probes, lower=lower, upper=upper, power_iters=power_iters,
                             generator=generator, damping=damping, grad_mode=grad_mode,
                             variance_reduction=variance_reduction)
    warn_estimate(est, tol, operator="G")
    return est


def _checked_matvec(matvec: Matvec, shape: tuple[int, int]) -> Matvec:
    """``matvec`` with its output checked: a tensor of the input block's shape (P, batch, dim)."""
    def checked(v: Tensor) -> Tensor:
        out = matvec(v)
        if not isinstance(out, Tensor) or out.shape != v.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"matvec must map a block (P, batch, dim) = {tuple(v.shape)} to G applied to each "
                             f"vector, of the same shape; got {got} (batch={shape[0]}, dim={shape[1]}: e.g. "
                             "lambda v: v @ A for a symmetric A)")
        return out
    return checked


def _operator_estimate(matvec: Matvec, batch: int, dim: int, dtype, device, method: str, tol: Tolerance | None,
                       **kw) -> LogdetEstimate:
    """``logdet``'s dispatch: exact (G from the unit vectors), a stochastic method, or auto
    (``sbp.numerics.auto.auto_estimate`` with ``OPERATOR_COST``)."""
    def exact() -> LogdetEstimate:
        eye = torch.eye(dim, dtype=dtype, device=device)[:, None, :].expand(-1, batch, -1)
        G = matvec(eye).permute(1, 2, 0)  # (batch, dim, dim), column i = G e_i
        check_dense_operator(G)
        return exact_estimate(G, products=dim, dtype=dtype, damping=kw["damping"], tol=tol, of_operator=True)

    def stochastic(m: str, pilot_cost: float | None = None, mv: Matvec = matvec) -> LogdetEstimate | None:
        return stochastic_estimate(mv, batch, dim, dtype, device, method=m, tol=tol, pilot_cost=pilot_cost, **kw)
    if method == "exact":
        return exact()
    if method != "auto":
        return stochastic(method)
    spent = [0]  # the products of a pilot that exact then replaces

    def counting(v: Tensor) -> Tensor:
        spent[0] += v.shape[0]
        return matvec(v)
    est = auto_estimate(OPERATOR_COST, dim, tol, order=kw["order"], probes=kw["probes"], power_iters=kw["power_iters"],
                        graph=torch.is_grad_enabled(), exact=exact, stochastic=stochastic,
                        pilot=lambda: stochastic("slq", pilot_cost=OPERATOR_COST.product_cost, mv=counting))
    return _with_pilot(est, spent[0])
