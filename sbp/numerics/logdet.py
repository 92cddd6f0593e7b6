"""The log det facade: ``logdet_metric`` (of f's J^T J), ``logdet_operator`` and ``logdet`` (any SPD operator).

Algorithm 1 of Ramesh & LeCun (2018), and the methods beyond it, composed of named parts:
Krylov recurrences (``krylov``), spectral bounds (``bounds``), polynomials and their operator
recurrence (``polynomials``), quadrature (``quadrature``), Hutchinson / Hutch++ (``trace``),
assembled per method in ``estimators``; tolerances in ``tolerance``, ``method="auto"`` in ``auto``.
The estimate is differentiable (Eq. 3): gradients flow through the recurrences into the
parameters of f and into z. The interval is a constant (it only selects the polynomial), while
``lambda_max`` carries its own gradient v^T dG v for the spectral-norm penalty of Eq. 8.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.auto import AUTO_PRODUCT_COST, auto_gate, auto_method, auto_pilot, auto_pilot_steps, graph_wanted
from sbp.numerics.checks import FLOAT_DTYPES, as_generator, check_latent, check_positive_int
from sbp.numerics.dense import logdet_dense, metric_dense, metric_dense_completing, singular_rows
from sbp.numerics.estimators import krylov_block, polynomial_block, singular_threshold
from sbp.numerics.jacobian import MetricOperator, column_mode, metric_operator
from sbp.numerics.tolerance import (MAX_ORDER, QUADRATURE_SHARE, BracketStop, Tolerance, check_tolerance_options,
                                    make_tolerance, order_for_tolerance, polynomial_bias, run_to_tolerance,
                                    warn_unconverged)
from sbp.numerics.trace import mean_stderr, peek_rademacher, rademacher_sampler

__all__ = ["LogdetEstimate", "logdet", "logdet_metric", "logdet_operator", "METHODS", "GRAD_MODES", "VARIANCE_REDUCTIONS",
           "auto_method"]

METHODS = ("chebyshev", "taylor", "slq", "bidiag", "exact", "auto")
GRAD_MODES = ("backprop", "lowmem")
VARIANCE_REDUCTIONS = ("none", "hutchpp")
Matvec = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class LogdetEstimate:
    """Result of ``logdet_metric`` / ``logdet``; tensors have shape (B,)."""

    logdet: Tensor  # estimate of log det(G + damping I); -inf for singular rows
    lambda_max: Tensor  # top eigenvalue of G (power-method / Lanczos estimate; exact for "exact")
    stderr: Tensor  # standard error of ``logdet`` over probes (0 for "exact", nan for probes=1)
    lower: Tensor  # spectral interval used by the polynomial (extreme Ritz values for slq/bidiag)
    upper: Tensor
    method: str
    order: int | None  # degree or Lanczos steps (the largest over blocks with a tolerance)
    probes: int | None  # probes used in all
    products: int  # operator applications (each over a block of P vectors or 1 vector)
    damping: float = 0.0  # eps of log det(G + eps I); 0 means undamped
    # bias of the damping, log det(G + eps I) - log det G = sum_i log(1 + eps/lambda_i) >= 0:
    # exact for "exact"; d log(1 + eps/lambda_min_hat) for the stochastic methods, with
    # lambda_min_hat the bottom Ritz value (an upper estimate of lambda_min: not a certified bound);
    # inf where lambda_min_hat <= 0; zeros when damping = 0
    damping_bias: Tensor | None = None
    grad_mode: str = "backprop"
    variance_reduction: str = "none"
    converged: Tensor | None = None  # (B,) bool: tolerance met per row; None for a fixed budget

    def __repr__(self) -> str:
        vals = ", ".join(f"{v:.4g} +- {s:.2g}" for v, s in
                         zip(self.logdet.detach().tolist()[:4], self.stderr.detach().tolist()[:4]))
        more = ", ..." if self.logdet.numel() > 4 else ""
        damp = f", damping={self.damping:g}" if self.damping else ""
        conv = "" if self.converged is None else f", converged={int(self.converged.sum())}/{self.converged.numel()}"
        return (f"LogdetEstimate(method={self.method!r}, order={self.order}, probes={self.probes}, "
                f"logdet=[{vals}{more}], products={self.products}{damp}{conv})")


def _interval(value: float | Tensor | None, B: int, dtype, device, name: str) -> Tensor | None:
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=dtype, device=device).detach()
    if t.dim() > 1 or (t.dim() == 1 and t.numel() not in (1, B)):
        raise ValueError(f"{name} must be a float or a tensor of shape ({B},), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()) or not bool((t > 0).all()):
        raise ValueError(f"{name} must be finite and > 0 (G = J^T J is positive definite), got {value}")
    return t.expand(B).clone()


def _check_options(method, order, probes, power_iters, damping=0.0, grad_mode="backprop",
                   variance_reduction="none") -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    check_positive_int(order, "order")
    check_positive_int(probes, "probes")
    check_positive_int(power_iters, "power_iters")
    if isinstance(damping, bool) or not isinstance(damping, (int, float)):
        raise TypeError(f"damping must be a float >= 0, got {type(damping).__name__}")
    if not math.isfinite(damping) or damping < 0:
        raise ValueError(f"damping must be finite and >= 0, got {damping}")
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"grad_mode must be one of {GRAD_MODES}, got {grad_mode!r}")
    if variance_reduction not in VARIANCE_REDUCTIONS:
        raise ValueError(f"variance_reduction must be one of {VARIANCE_REDUCTIONS}, got {variance_reduction!r}")
    if variance_reduction == "hutchpp":
        if method not in ("chebyshev", "taylor"):
            raise ValueError(f"variance_reduction='hutchpp' needs a polynomial method (chebyshev, taylor), "
                             f"got method={method!r}")
        if grad_mode != "backprop":
            raise ValueError("variance_reduction='hutchpp' supports grad_mode='backprop' only")
        if probes < 3:
            raise ValueError(f"variance_reduction='hutchpp' needs probes >= 3 (sketch, deflated, residual), got {probes}")


def _damping_bias(damping: float, lambda_min_hat: Tensor, d: int) -> Tensor:
    """d log(1 + eps / lambda_min_hat) (inf where lambda_min_hat <= 0); zeros without damping."""
    lam = lambda_min_hat.detach()
    if damping == 0:
        return torch.zeros_like(lam)
    return torch.where(lam > 0, d * torch.log1p(damping / lam.clamp_min(torch.finfo(lam.dtype).tiny)),
                       torch.full_like(lam, math.inf))


def _estimate(matvec: Matvec, B: int, d: int, dtype, device, *, method: str, order: int, probes: int,
              lower, upper, power_iters: int, generator, damping: float = 0.0, grad_mode: str = "backprop",
              jvp: Matvec | None = None, vjp: Matvec | None = None, variance_reduction: str = "none",
              tol: Tolerance | None = None, pilot_cost: float | None = None, shrink: float = 16.0
              ) -> LogdetEstimate | None:
    """The stochastic methods, on G = ``matvec`` (undamped; they run on G + damping I), for a fixed
    budget (one block) or to ``tol``. ``pilot_cost`` (auto with a tolerance): None is returned when
    the pilot block predicts that exact is cheaper."""
    gen, eps, lowmem = as_generator(generator, device), float(damping), grad_mode == "lowmem"
    G = matvec if eps == 0 else (lambda v: matvec(v) + eps * v)
    lo, hi = _interval(lower, B, dtype, device, "lower"), _interval(upper, B, dtype, device, "upper")
    if lo is not None and hi is not None and not bool((lo < hi).all()):
        raise ValueError(f"lower must be < upper, got lower={lower}, upper={upper}")
    sampler = rademacher_sampler(gen, dtype, device)
    max_steps = d if pilot_cost is None else auto_pilot_steps(d, probes, pilot_cost)
    give_up, verdict = (None, None) if pilot_cost is None else auto_pilot(
        d, confidence=tol.confidence, product_cost=pilot_cost, quadrature_share=QUADRATURE_SHARE)

    def run_block(target):
        V = sampler((probes, B, d))
        if method in ("slq", "bidiag"):
            stop = None if tol is None else BracketStop(tol, target, lo, shrink, singular_threshold(dtype), max_steps,
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
                                         choose_order=choose)
            bias = None if tol is None else polynomial_bias(blk, method, poly.order, d)
        if bias is not None:
            bias = torch.where(blk.singular, torch.zeros_like(bias), bias)
        return blk, bias

    if tol is None:
        blk, _ = run_block(None)
        tr = mean_stderr(blk.values)
        est, stderr = tr.mean, (blk.stderr if blk.stderr is not None else tr.stderr)
        blocks, converged, products = [blk], None, blk.products
    else:
        result = run_to_tolerance(run_block, tol, probes, pilot=verdict)
        if result is None:
            return None
        est, stderr, converged, blocks, _ = result
        products = sum(b.products for b in blocks)
    first, singular = blocks[0], torch.stack([b.singular for b in blocks]).any(0)
    est = torch.where(singular, torch.full_like(est, -math.inf), est)
    stderr = torch.where(singular, torch.zeros_like(stderr), stderr)
    lower_out, upper_out = torch.stack([b.lower for b in blocks]).amin(0), torch.stack([b.upper for b in blocks]).amax(0)
    steps = max(b.steps for b in blocks) if method in ("slq", "bidiag") else (
        order if tol is None else max(b.order or 0 for b in blocks))
    return LogdetEstimate(logdet=est, lambda_max=first.lambda_max, stderr=stderr, lower=lower_out, upper=upper_out,
                          method=method, order=steps, probes=probes * len(blocks), products=products, damping=eps,
                          damping_bias=_damping_bias(eps, first.theta_min - eps, d), grad_mode=grad_mode,
                          variance_reduction=variance_reduction, converged=converged)


def _max_order(tol: Tolerance, probes: int) -> int:  # the largest degree the product cap allows
    return max(1, min(MAX_ORDER, tol.max_products // probes - 1))


def _exact(G: Tensor, products: int, dtype: torch.dtype, damping: float = 0.0, tol: Tolerance | None = None
           ) -> LogdetEstimate:
    """The dense path: log det of G (+ damping I) in float64; -inf for (numerically) singular rows."""
    lam = torch.linalg.eigvalsh(((G + G.mT) / 2).to(torch.float64))
    if damping:
        G = G + damping * torch.eye(G.shape[-1], dtype=G.dtype, device=G.device)
        bias = torch.log1p(damping / lam.detach()).sum(-1).to(dtype)
    else:
        bias = torch.zeros(G.shape[:-2], dtype=dtype, device=G.device)
    ld = logdet_dense(G).to(dtype)
    if not damping:
        ld = torch.where(singular_rows(lam.detach(), dtype), torch.full_like(ld, -math.inf), ld)
    zero = torch.zeros_like(ld).detach()
    return LogdetEstimate(logdet=ld, lambda_max=lam[..., -1].to(dtype), stderr=zero,
                          lower=lam[..., 0].detach().to(dtype) + damping, upper=lam[..., -1].detach().to(dtype) + damping,
                          method="exact", order=None, probes=None, products=products,
                          damping=float(damping), damping_bias=bias,
                          converged=None if tol is None else torch.ones_like(ld, dtype=torch.bool))


def logdet_metric(f: Callable[[Tensor], Tensor], z: Tensor, *, method: str = "chebyshev", order: int = 30,
                  probes: int = 8, lower: float | Tensor | None = None, upper: float | Tensor | None = None,
                  power_iters: int = 20, generator: torch.Generator | int | None = None,
                  jvp_mode: str = "auto", damping: float = 0.0, grad_mode: str = "backprop",
                  variance_reduction: str = "none", atol: float | None = None, rtol: float | None = None,
                  confidence: float = 0.95, max_products: int | None = None) -> LogdetEstimate:
    """Estimate log det(J^T J) for the Jacobian J of ``f`` at each row of ``z`` (Eq. 1-3).

    Args:
        f: maps a batch (B, d) to (B, ...) with independent rows (an ``nn.Module`` in
            eval mode, or any callable); output size per row D >= d.
        z: (B, d) float32/float64 latent codes (CPU or CUDA).
        method: ``"chebyshev"`` (Han et al. 2017), ``"taylor"`` (Boutsidis et al. 2017)
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
            (``products`` counts block recurrences).

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

    ``method="auto"``: fixed budget, ``"exact"`` or ``"chebyshev"`` by ``auto_method``'s cost
    model (exact needs d JVP columns, the estimator AUTO_PRODUCT_COST per vector product;
    benchmarks/bench_auto.py; rough). With a tolerance (``sbp.numerics.auto``), a gate on J v of the
    pilot's probes, then a pilot SLQ block, predict the products reaching it needs; exact is taken
    when cheaper, with the gate's products as P of its d columns. No graph is built when no gradient
    can flow (``f(z)`` does not require grad).

    Singular metrics: a row whose bottom Ritz value is <= 10 eps(dtype) times its top one
    (Lanczos has found a null direction) gets log det = -inf, as ``"exact"`` gives for a
    Jacobian with (numerically) dependent columns; use ``damping`` for the regularized value.

    Methods beyond the paper: ``"slq"`` (stochastic Lanczos quadrature, Ubaru et al. 2017) and
    ``"bidiag"`` (Golub-Kahan bidiagonalization of J, one JVP and one VJP per step) need no spectral
    interval (``lower``/``upper``/``power_iters`` are ignored), use ``min(order, d)`` steps (exact
    quadrature when order >= d) and report the extreme Ritz values as ``lower``/``upper``.

    Returns:
        ``LogdetEstimate`` with ``logdet``, ``lambda_max``, ``stderr`` (all (B,)), the
        interval, the number of operator products and (with a tolerance) ``converged``.

    Example:
        >>> import torch, sbp
        >>> A = torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]], dtype=torch.float64)
        >>> z = torch.zeros(1, 2, dtype=torch.float64)
        >>> est = sbp.logdet_metric(lambda z: z @ A.T, z, order=40, probes=16, generator=0)
        >>> round(est.logdet.item(), 3), round(torch.log(torch.tensor(36.0)).item(), 3)
        (3.584, 3.584)
    """
    check_latent(z)
    _check_options(method, order, probes, power_iters, damping, grad_mode, variance_reduction)
    d = z.shape[1]
    tol = make_tolerance(atol, rtol, confidence, max_products, d)
    check_tolerance_options(tol, variance_reduction)
    exact = lambda G: _exact(G, products=d, dtype=z.dtype, damping=damping, tol=tol)  # noqa: E731
    if method == "exact":
        return exact(metric_dense(f, z, jvp_mode=jvp_mode))
    if method == "auto" and tol is not None:
        def pilot(op: MetricOperator) -> LogdetEstimate | None:
            return _run(op, "slq", order, probes, lower, upper, power_iters, generator, damping, grad_mode,
                        variance_reduction, tol, pilot_cost=AUTO_PRODUCT_COST)
        return _auto_to_tolerance(f, z, tol, exact, pilot, jvp_mode=jvp_mode, generator=generator, probes=probes,
                                  damping=damping)
    op = metric_operator(f, z, jvp_mode=jvp_mode)
    if method == "auto":
        method = auto_method(d, order=order, probes=probes, power_iters=power_iters, graph=graph_wanted(op.output))
        if method == "exact":
            return exact(metric_dense(f, z, jvp_mode=jvp_mode))
    return _run(op, method, order, probes, lower, upper, power_iters, generator, damping, grad_mode,
                variance_reduction, tol)


def _auto_to_tolerance(f: Callable[[Tensor], Tensor], z: Tensor, tol: Tolerance, exact: Callable[[Tensor], LogdetEstimate],
                       pilot: Callable[[MetricOperator], LogdetEstimate | None], *, jvp_mode: str, generator,
                       probes: int, damping: float) -> LogdetEstimate:
    """``method="auto"`` with a tolerance (``sbp.numerics.auto``): ``exact`` (of a dense metric) where even a 4-step
    pilot costs more; else the gate on J v of the pilot's probes (exact's column operator), then ``pilot`` (None:
    exact is cheaper). Where exact is taken, the gate's products are P of its d columns (``metric_dense_completing``)."""
    B, d = z.shape
    if auto_pilot_steps(d, probes, AUTO_PRODUCT_COST) == 0:
        return exact(metric_dense(f, z, jvp_mode=jvp_mode))
    columns = metric_operator(f, z, jvp_mode=column_mode(jvp_mode, z.device))
    V = peek_rademacher(as_generator(generator, z.device), (probes, B, d), z.dtype, z.device)
    with torch.enable_grad() if graph_wanted(columns.output) else torch.no_grad():
        JV = columns.jvp(V)
        hopeless = auto_gate(JV, V, tol, damping=damping, product_cost=AUTO_PRODUCT_COST)
        est = None if hopeless else pilot(metric_operator(f, z, jvp_mode=jvp_mode, check=False))
    return est if est is not None else exact(metric_dense_completing(f, z, V, JV, op=columns))


def _run(op: MetricOperator, method, order, probes, lower, upper, power_iters, generator, damping, grad_mode,
         variance_reduction, tol, pilot_cost=None) -> LogdetEstimate | None:
    out = op.output
    est = _estimate(op.matvec, op.batch, op.dim, out.dtype, out.device, method=method, order=order, probes=probes,
                    lower=lower, upper=upper, power_iters=power_iters, generator=generator, damping=damping,
                    grad_mode=grad_mode, jvp=op.jvp, vjp=op.vjp, variance_reduction=variance_reduction, tol=tol,
                    pilot_cost=pilot_cost)
    if est is not None and tol is not None:
        warn_unconverged(est, tol)
    return est


def logdet_operator(op: MetricOperator, *, method: str = "chebyshev", order: int = 30, probes: int = 8,
                    lower: float | Tensor | None = None, upper: float | Tensor | None = None,
                    power_iters: int = 20, generator: torch.Generator | int | None = None,
                    damping: float = 0.0, grad_mode: str = "backprop", variance_reduction: str = "none",
                    atol: float | None = None, rtol: float | None = None, confidence: float = 0.95,
                    max_products: int | None = None) -> LogdetEstimate:
    """The stochastic estimators of ``logdet_metric`` on a given Jacobian operator ``op``.

    For callers that wrap the products of ``sbp.numerics.jacobian.metric_operator`` (for
    example to count them); ``method`` is a stochastic one ("exact" and "auto" need ``f``).
    """
    _check_options(method, order, probes, power_iters, damping, grad_mode, variance_reduction)
    if method in ("exact", "auto"):
        raise ValueError(f"logdet_operator takes a stochastic method, got {method!r}: use logdet_metric(f, z)")
    tol = make_tolerance(atol, rtol, confidence, max_products, op.dim)
    check_tolerance_options(tol, variance_reduction)
    return _run(op, method, order, probes, lower, upper, power_iters, generator, damping, grad_mode,
                variance_reduction, tol)


def logdet(matvec: Matvec, dim: int, *, batch: int = 1, method: str = "chebyshev", order: int = 30,
           probes: int = 8, lower: float | Tensor | None = None, upper: float | Tensor | None = None,
           power_iters: int = 20, generator: torch.Generator | int | None = None,
           dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
           damping: float = 0.0, grad_mode: str = "backprop", variance_reduction: str = "none",
           atol: float | None = None, rtol: float | None = None, confidence: float = 0.95,
           max_products: int | None = None) -> LogdetEstimate:
    """The estimators of ``logdet_metric`` for any batched SPD operator.

    ``matvec`` maps a block (P, batch, dim) to G applied to each vector, same shape;
    e.g. ``lambda v: v @ A`` for one symmetric positive definite ``A``. Other arguments
    as in ``logdet_metric``; ``method="bidiag"`` needs J and J^T separately and is only
    available through ``logdet_metric``. ``"exact"`` applies G to the dim unit vectors (one
    block product); ``"auto"`` compares products with G one to one.
    """
    _check_options(method, order, probes, power_iters, damping, grad_mode, variance_reduction)
    if method == "bidiag":
        raise ValueError("method='bidiag' needs products with J and J^T separately; logdet() only has "
                         "G = J^T J: use logdet_metric(f, z, method='bidiag') or method='slq'")
    check_positive_int(dim, "dim")
    check_positive_int(batch, "batch")
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    tol = make_tolerance(atol, rtol, confidence, max_products, dim)
    check_tolerance_options(tol, variance_reduction)
    kw = dict(order=order, probes=probes, lower=lower, upper=upper, power_iters=power_iters, generator=generator,
              damping=damping, grad_mode=grad_mode, variance_reduction=variance_reduction, tol=tol)
    if method == "auto" and tol is not None and auto_pilot_steps(dim, probes, 1.0) > 0:
        est = _estimate(matvec, batch, dim, dtype, device, method="slq", pilot_cost=1.0, **kw)
        method = "exact" if est is None else "slq"
        if est is not None:
            warn_unconverged(est, tol)
            return est
    elif method == "auto":  # exact needs dim products with G, the estimator power_iters + 1 + order probes
        method = "exact" if tol is not None or dim <= power_iters + 1 + order * probes else "chebyshev"
    if method == "exact":
        eye = torch.eye(dim, dtype=dtype, device=device)[:, None, :].expand(-1, batch, -1)
        G = matvec(eye).permute(1, 2, 0)  # (batch, dim, dim), column i = G e_i
        return _exact(G, products=1, dtype=dtype, damping=damping, tol=tol)
    est = _estimate(matvec, batch, dim, dtype, device, method=method, **kw)
    if tol is not None:
        warn_unconverged(est, tol)
    return est
