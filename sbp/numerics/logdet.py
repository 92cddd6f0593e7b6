"""Stochastic estimates of log det(G) for batched SPD operators, G = J^T J in particular.

Algorithm 1 of Ramesh & LeCun (2018):
1. spectral interval [a, b] from Krylov (power-method) iterations (``sbp.numerics.bounds``): one
   Lanczos run from each Rademacher probe, all probes in one batched block;
2. a polynomial p ~ log on [a, b]: Chebyshev (Han et al. 2017) or Taylor
   (Boutsidis et al. 2017) (``sbp.numerics.polynomials``);
3. Hutchinson's estimator tr p(G) ~ mean_i v_i^T p(G) v_i over those probes: one
   recurrence over the whole (P, B, d) block of probes. Without a graph (``torch.no_grad``)
   the recurrence is skipped when order < 2 power_iters: v^T p(G) v = d e1^T p(T) e1 for
   the Lanczos matrix T of v (Gauss quadrature is exact to that degree), the same number
   from the products step 1 already made.

The estimate is differentiable (Eq. 3): gradients flow through the polynomial
recurrence into the parameters of f and into z. The interval is treated as a
constant (it only selects the polynomial), while ``lambda_max`` carries its own
gradient v^T dG v for the spectral-norm penalty of Eq. 8.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.bounds import lanczos_bounds
from sbp.numerics.checks import FLOAT_DTYPES, as_generator, check_latent, check_positive_int
from sbp.numerics.dense import logdet_dense, metric_dense
from sbp.numerics.jacobian import MetricOperator, metric_operator
from sbp.numerics.polynomials import chebyshev_derivative_coeffs, chebyshev_log_coeffs, taylor_log_coeffs
from sbp.numerics.quadrature import bidiag_quadrature, lanczos_quadrature
from sbp.numerics.trace import rademacher

__all__ = ["LogdetEstimate", "logdet", "logdet_metric", "logdet_operator", "METHODS", "GRAD_MODES", "VARIANCE_REDUCTIONS",
           "auto_method"]

METHODS = ("chebyshev", "taylor", "slq", "bidiag", "exact", "auto")
# method="auto": one JVP+VJP product on a vector (in small sequential blocks of probes) costs about this
# many dense-Jacobian JVP columns (which are batched 256 at a time). Measured without a graph on DCGAN-like
# generators (widths 8 and 32, d = 64-1024, 2-core CPU, double-VJP products): 2.1-3.7. Rough, two architectures;
# near the crossover (d ~ 3 x products) auto can pick the method that is ~15 % slower.
AUTO_PRODUCT_COST = 3.0


def auto_method(d: int, *, order: int, probes: int, power_iters: int, method: str = "chebyshev",
                graph: bool | None = None) -> str:
    """``"exact"`` if d JVP columns (dense Jacobian) cost less than the stochastic estimator's
    products, ``AUTO_PRODUCT_COST`` times its vector products, else ``method``.

    chebyshev/taylor: ``power_iters * probes`` Lanczos products, plus ``order * probes`` for
    the recurrence and 1 for lambda_max when a graph is built (``graph``, default
    ``torch.is_grad_enabled()``) or order >= 2 power_iters; slq/bidiag: ``min(order, d) * probes + 1``.
    """
    graph = torch.is_grad_enabled() if graph is None else graph
    if method in ("slq", "bidiag"):
        vectors = min(order, d) * probes + 1
    else:
        recurrence = graph or order >= 2 * power_iters
        vectors = (power_iters + (order if recurrence else 0)) * probes + int(graph)
    cost_est = AUTO_PRODUCT_COST * vectors
    return "exact" if d <= cost_est else method
GRAD_MODES = ("backprop", "lowmem")
VARIANCE_REDUCTIONS = ("none", "hutchpp")
Matvec = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class LogdetEstimate:
    """Result of ``logdet_metric`` / ``logdet``; tensors have shape (B,)."""

    logdet: Tensor  # estimate of log det(G + damping I)
    lambda_max: Tensor  # top eigenvalue of G (power-method / Lanczos estimate; exact for "exact")
    stderr: Tensor  # standard error of ``logdet`` over probes (0 for "exact", nan for probes=1)
    lower: Tensor  # spectral interval used by the polynomial (extreme Ritz values for slq/bidiag)
    upper: Tensor
    method: str
    order: int | None
    probes: int | None
    products: int  # operator applications (each over a block of P vectors or 1 vector)
    damping: float = 0.0  # eps of log det(G + eps I); 0 means undamped
    # bias of the damping, log det(G + eps I) - log det G = sum_i log(1 + eps/lambda_i) >= 0:
    # exact for "exact"; d log(1 + eps/lambda_min_hat) for the stochastic methods, with
    # lambda_min_hat the bottom Ritz value (an upper estimate of lambda_min: not a certified bound);
    # inf where lambda_min_hat <= 0; zeros when damping = 0
    damping_bias: Tensor | None = None
    grad_mode: str = "backprop"
    variance_reduction: str = "none"

    def __repr__(self) -> str:
        vals = ", ".join(f"{v:.4g} +- {s:.2g}" for v, s in
                         zip(self.logdet.detach().tolist()[:4], self.stderr.detach().tolist()[:4]))
        more = ", ..." if self.logdet.numel() > 4 else ""
        damp = f", damping={self.damping:g}" if self.damping else ""
        return (f"LogdetEstimate(method={self.method!r}, order={self.order}, probes={self.probes}, "
                f"logdet=[{vals}{more}], products={self.products}{damp})")


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


def _with_surrogate(q: Tensor, W: Tensor, V: Tensor, matvec: Matvec) -> Tensor:
    """Per-probe values q (no graph) plus a zero-valued surrogate w^T G v whose gradient is
    w^T dG v (w, v constants): the low-memory gradient, one product with a graph."""
    s = (W.detach() * matvec(V)).sum(-1)
    return q.detach() + (s - s.detach())


def _poly_apply(G: Matvec, X: Tensor, a: Tensor, b: Tensor, *, method: str, order: int) -> Tensor:
    """p(G) X for the polynomial p ~ log on [a, b] of ``method``, X a block (n, B, d)."""
    if method == "chebyshev":
        c = chebyshev_log_coeffs(order, a, b).to(X.dtype)[:, :, None]  # (B, n+1, 1)
        scale, shift = (2 / (b - a))[:, None], ((b + a) / (b - a))[:, None]
        w_prev, w = X, scale * G(X) - shift * X
        out = c[:, 0] * X + c[:, 1] * w
        for j in range(2, order + 1):
            w_prev, w = w, 2 * (scale * G(w) - shift * w) - w_prev
            out = out + c[:, j] * w
        return out
    alpha = b[:, None]
    coef = taylor_log_coeffs(order, dtype=X.dtype, device=X.device)
    u, out = X, torch.log(alpha) * X
    for k in range(order):
        u = u - G(u) / alpha
        out = out - coef[k] * u
    return out


def _hutchpp(G: Matvec, a: Tensor, b: Tensor, B: int, d: int, dtype, device, *, method: str, order: int,
             probes: int, gen) -> tuple[Tensor, Tensor]:
    """Hutch++ (Meyer, Musco, Musco & Woodruff 2021) for tr p(G) with ``probes`` vectors in all,
    applied to the shifted M = p(G) - c I (c d is added back exactly).

    k = probes // 3 sketch vectors S give c = S^T p(G) S / (k d) (a Hutchinson guess of the
    mean eigenvalue) and Q = orth(M S) (no graph). The trace is c d + tr(Q^T M Q) exactly
    plus Hutchinson on (I - QQ^T) M (I - QQ^T) with the remaining probes - 2k vectors. The
    shift matters: Rademacher Hutchinson is exact on multiples of I, which a plain deflation
    would destroy (benchmarks/bench_variance.py). Unbiased for every fixed (c, Q), both from
    S only, so the gradient (through the second recurrence) is unbiased too.
    Returns (estimate, stderr of the Hutchinson part)."""
    k = probes // 3
    m = probes - 2 * k
    S = rademacher((k, B, d), generator=gen, dtype=dtype, device=device)
    with torch.no_grad():
        Y = _poly_apply(G, S, a, b, method=method, order=order)
        c = (S * Y).sum((0, -1)) / (k * d)  # (B,)
        Q = torch.linalg.qr((Y - c[:, None] * S).permute(1, 2, 0)).Q.permute(2, 0, 1)  # (k, B, d) orthonormal
    R = rademacher((m, B, d), generator=gen, dtype=dtype, device=device)
    R = R - torch.einsum("kbm,kbd->mbd", torch.einsum("kbd,mbd->kbm", Q, R), Q)
    Z = _poly_apply(G, torch.cat([Q, R]), a, b, method=method, order=order)
    exact_part = (Q * Z[:k]).sum((0, -1)) - c * k
    q = (R * Z[k:]).sum(-1) - c * (R * R).sum(-1)  # (m, B)
    est = c * d + exact_part + q.mean(0)
    stderr = q.std(0) / math.sqrt(m) if m > 1 else torch.full_like(est, math.nan)
    return est, stderr.detach()


def _estimate(matvec: Matvec, B: int, d: int, dtype, device, *, method: str, order: int, probes: int,
              lower, upper, power_iters: int, generator, damping: float = 0.0, grad_mode: str = "backprop",
              jvp: Matvec | None = None, vjp: Matvec | None = None, variance_reduction: str = "none",
              shrink: float = 16.0) -> LogdetEstimate:
    """Shared body of ``logdet`` and ``logdet_metric`` for the stochastic methods.

    ``matvec`` is G (undamped); the estimators run on G + damping I. ``jvp``/``vjp`` (J and
    J^T, undamped) are needed by ``method="bidiag"`` only.
    """
    gen = as_generator(generator, device)
    lowmem = grad_mode == "lowmem"
    eps = float(damping)
    G = matvec if eps == 0 else (lambda v: matvec(v) + eps * v)
    if method in ("slq", "bidiag"):
        V = rademacher((probes, B, d), generator=gen, dtype=dtype, device=device)
        with torch.no_grad() if lowmem else nullcontext():
            if method == "slq":
                quad = lanczos_quadrature(G, V, order, generator=gen, need_solve=lowmem)
            else:
                assert jvp is not None and vjp is not None
                Jv, JTu = jvp, vjp
                if eps > 0:  # J_aug = [J; sqrt(eps) I]: J_aug^T J_aug = G + eps I
                    r = math.sqrt(eps)
                    Jv = lambda v: torch.cat([jvp(v), r * v], dim=-1)  # noqa: E731
                    JTu = lambda u: vjp(u[..., :-d]) + r * u[..., -d:]  # noqa: E731
                quad = bidiag_quadrature(Jv, JTu, V, order, generator=gen, need_solve=lowmem)
        q = _with_surrogate(quad.values, quad.solve, V, G) if lowmem else quad.values
        best = quad.ritz[..., -1].argmax(0)  # (B,) the probe with the largest top Ritz value
        y = quad.top_vectors.gather(0, best[None, :, None].expand(1, B, d))[0]
        lambda_max = (y * matvec(y[None])[0]).sum(-1)
        a, b = quad.ritz[..., 0].amin(0), quad.ritz[..., -1].amax(0)
        products = quad.steps + 1 + int(lowmem)
        est = q.mean(0)
        stderr = q.std(0) / math.sqrt(probes) if probes > 1 else torch.full_like(est, math.nan)
        return LogdetEstimate(logdet=est, lambda_max=lambda_max, stderr=stderr.detach(), lower=a, upper=b,
                              method=method, order=quad.steps, probes=probes, products=products,
                              damping=eps, damping_bias=_damping_bias(eps, a - eps, d), grad_mode=grad_mode)
    lo = _interval(lower, B, dtype, device, "lower")
    hi = _interval(upper, B, dtype, device, "upper")
    if lo is not None and hi is not None and not bool((lo < hi).all()):
        raise ValueError(f"lower must be < upper, got lower={lower}, upper={upper}")
    # 1. spectral interval (no graph): one Lanczos run from each probe vector (probes folded into
    # the batch), the envelope of their intervals; a differentiable Rayleigh quotient for lambda_max
    V = rademacher((probes, B, d), generator=gen, dtype=dtype, device=device)
    with torch.no_grad():
        sb = lanczos_bounds(lambda X: G(X.reshape(probes, B, d)).reshape(1, probes * B, d),
                            V.reshape(probes * B, d), power_iters, generator=gen)
    a_pb, b_pb = (t.reshape(probes, B) for t in sb.interval(shrink))
    a_est, b_est = a_pb.amin(0), b_pb.amax(0)
    theta_max, best = sb.theta_max.reshape(probes, B).max(0)
    theta_min = sb.theta_min.reshape(probes, B).amin(0)
    products = sb.steps
    if torch.is_grad_enabled():
        y = sb.top_vector.reshape(probes, B, d).gather(0, best[None, :, None].expand(1, B, d))[0]
        lambda_max = (y * matvec(y[None])[0]).sum(-1)
        products += 1
    else:  # no graph wanted: the Rayleigh quotient of the top Ritz vector is the top Ritz value
        lambda_max = theta_max - eps
    b = hi if hi is not None else b_est
    a = lo if lo is not None else torch.minimum(a_est, b * (1 - 1e-3))
    if not bool((a < b).all()):
        raise ValueError(f"lower must be < upper; got lower={a.tolist()} with upper={b.tolist()}")
    if variance_reduction == "hutchpp":
        est, stderr = _hutchpp(G, a, b, B, d, dtype, device, method=method, order=order, probes=probes, gen=gen)
        return LogdetEstimate(logdet=est, lambda_max=lambda_max, stderr=stderr, lower=a, upper=b,
                              method=method, order=order, probes=probes, products=products + 2 * order,
                              damping=eps, damping_bias=_damping_bias(eps, theta_min - eps, d),
                              grad_mode=grad_mode, variance_reduction="hutchpp")
    if not torch.is_grad_enabled() and (order < 2 * sb.steps or sb.steps == d):
        # 2.-3. without a graph the Lanczos runs above already hold the answer: v^T p(G) v =
        # d e1^T p(T) e1 exactly for deg p < 2k (Gauss quadrature), no further products
        k = sb.steps
        T = sb.tridiag.reshape(probes, B, k, k)
        e1 = torch.zeros(probes, B, k, dtype=dtype, device=device)
        e1[..., 0] = 1.0
        pT = _poly_apply(lambda X: torch.einsum("pbij,pbj->pbi", T, X), e1, a, b, method=method, order=order)
        q = d * pT[..., 0]
        est = q.mean(0)
        stderr = q.std(0) / math.sqrt(probes) if probes > 1 else torch.full_like(est, math.nan)
        return LogdetEstimate(logdet=est, lambda_max=lambda_max, stderr=stderr, lower=a, upper=b,
                              method=method, order=order, probes=probes, products=products,
                              damping=eps, damping_bias=_damping_bias(eps, theta_min - eps, d), grad_mode=grad_mode)
    # 2.-3. polynomial recurrence over the probe block; with grad_mode="lowmem" it runs without
    # a graph and also accumulates W = p'(G) V from the same products (d tr p(G) = tr(p'(G) dG))
    W = None
    with torch.no_grad() if lowmem else nullcontext():
        if method == "chebyshev":
            c = chebyshev_log_coeffs(order, a, b).to(dtype)  # (B, n+1)
            scale, shift = (2 / (b - a))[:, None], ((b + a) / (b - a))[:, None]
            if lowmem:
                dc = chebyshev_derivative_coeffs(c) * scale  # p'(x) = scale * sum_j dc_j T_j(t)

            def cheb_map(w: Tensor) -> Tensor:
                return scale * G(w) - shift * w

            w_prev, w = V, cheb_map(V)
            q = c[:, 0] * (V * V).sum(-1) + c[:, 1] * (V * w).sum(-1)
            if lowmem:
                W = dc[:, 0, None] * V + dc[:, 1, None] * w
            for j in range(2, order + 1):
                w_prev, w = w, 2 * cheb_map(w) - w_prev
                q = q + c[:, j] * (V * w).sum(-1)
                if lowmem and j < order:
                    W = W + dc[:, j, None] * w
        else:  # taylor: log det G = d log(alpha) - sum_k tr(C^k)/k, C = I - G/alpha
            alpha = b
            coef = taylor_log_coeffs(order, dtype=dtype, device=device)
            u = V
            q = d * torch.log(alpha).expand(probes, B)
            if lowmem:
                W = torch.zeros_like(V)  # p'(G) = (1/alpha) sum_{k<order} C^k
            for k in range(order):
                if lowmem:
                    W = W + u
                u = u - G(u) / alpha[:, None]
                q = q - coef[k] * (V * u).sum(-1)
            if lowmem:
                W = W / alpha[:, None]
    products += order
    if lowmem:
        q = _with_surrogate(q, W, V, G)
        products += 1
    est = q.mean(0)
    stderr = q.std(0) / math.sqrt(probes) if probes > 1 else torch.full_like(est, math.nan)
    return LogdetEstimate(logdet=est, lambda_max=lambda_max, stderr=stderr.detach(), lower=a, upper=b,
                          method=method, order=order, probes=probes, products=products,
                          damping=eps, damping_bias=_damping_bias(eps, theta_min - eps, d), grad_mode=grad_mode)


def _exact(G: Tensor, products: int, dtype: torch.dtype, damping: float = 0.0) -> LogdetEstimate:
    lam = torch.linalg.eigvalsh(((G + G.mT) / 2).to(torch.float64))
    if damping:
        G = G + damping * torch.eye(G.shape[-1], dtype=G.dtype, device=G.device)
        bias = torch.log1p(damping / lam.detach()).sum(-1).to(dtype)
    else:
        bias = torch.zeros(G.shape[:-2], dtype=dtype, device=G.device)
    ld = logdet_dense(G).to(dtype)
    zero = torch.zeros_like(ld).detach()
    return LogdetEstimate(logdet=ld, lambda_max=lam[..., -1].to(dtype), stderr=zero,
                          lower=lam[..., 0].detach().to(dtype) + damping, upper=lam[..., -1].detach().to(dtype) + damping,
                          method="exact", order=None, probes=None, products=products,
                          damping=float(damping), damping_bias=bias)


def logdet_metric(f: Callable[[Tensor], Tensor], z: Tensor, *, method: str = "chebyshev", order: int = 30,
                  probes: int = 8, lower: float | Tensor | None = None, upper: float | Tensor | None = None,
                  power_iters: int = 20, generator: torch.Generator | int | None = None,
                  jvp_mode: str = "auto", damping: float = 0.0, grad_mode: str = "backprop",
                  variance_reduction: str = "none") -> LogdetEstimate:
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
        jvp_mode: ``"forward"`` (forward-mode JVP, the paper's), ``"reverse"`` (J v as
            the VJP of the VJP, probes folded into the batch; faster on CPU) or ``"auto"``
            (default: forward on CUDA, reverse elsewhere); see ``sbp.jacobian``.
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

    ``method="auto"`` picks ``"exact"`` or ``"chebyshev"`` with ``auto_method`` (cost model
    in JVP columns: exact needs d, the estimator AUTO_PRODUCT_COST per vector product it
    needs; the constant is measured on CPU by benchmarks/bench_auto.py; rough).

    Methods beyond the paper: ``"slq"`` (stochastic Lanczos quadrature, Ubaru et al. 2017)
    and ``"bidiag"`` (Golub-Kahan bidiagonalization of J, one JVP and one VJP per step);
    both need no spectral interval (``lower``/``upper``/``power_iters`` are ignored), use
    ``min(order, d)`` steps (exact quadrature when order >= d) and report the extreme Ritz
    values as ``lower``/``upper``.

    Returns:
        ``LogdetEstimate`` with ``logdet``, ``lambda_max``, ``stderr`` (all (B,)), the
        interval and the number of operator products.

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
    B, d = z.shape
    if method == "auto":
        method = auto_method(d, order=order, probes=probes, power_iters=power_iters)
    if method == "exact":
        return _exact(metric_dense(f, z, jvp_mode=jvp_mode), products=d, dtype=z.dtype, damping=damping)
    return logdet_operator(metric_operator(f, z, jvp_mode=jvp_mode), method=method, order=order, probes=probes,
                           lower=lower, upper=upper, power_iters=power_iters, generator=generator,
                           damping=damping, grad_mode=grad_mode, variance_reduction=variance_reduction)


def logdet_operator(op: MetricOperator, *, method: str = "chebyshev", order: int = 30, probes: int = 8,
                    lower: float | Tensor | None = None, upper: float | Tensor | None = None,
                    power_iters: int = 20, generator: torch.Generator | int | None = None,
                    damping: float = 0.0, grad_mode: str = "backprop",
                    variance_reduction: str = "none") -> LogdetEstimate:
    """The stochastic estimators of ``logdet_metric`` on a given Jacobian operator ``op``.

    For callers that wrap the products of ``sbp.numerics.jacobian.metric_operator`` (for
    example to count them); ``method`` is a stochastic one ("exact" and "auto" need ``f``).
    """
    _check_options(method, order, probes, power_iters, damping, grad_mode, variance_reduction)
    if method in ("exact", "auto"):
        raise ValueError(f"logdet_operator takes a stochastic method, got {method!r}: use logdet_metric(f, z)")
    out = op.output
    return _estimate(op.matvec, op.batch, op.dim, out.dtype, out.device, method=method, order=order, probes=probes,
                     lower=lower, upper=upper, power_iters=power_iters, generator=generator,
                     damping=damping, grad_mode=grad_mode, jvp=op.jvp, vjp=op.vjp,
                     variance_reduction=variance_reduction)


def logdet(matvec: Matvec, dim: int, *, batch: int = 1, method: str = "chebyshev", order: int = 30,
           probes: int = 8, lower: float | Tensor | None = None, upper: float | Tensor | None = None,
           power_iters: int = 20, generator: torch.Generator | int | None = None,
           dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
           damping: float = 0.0, grad_mode: str = "backprop",
           variance_reduction: str = "none") -> LogdetEstimate:
    """The estimators of ``logdet_metric`` for any batched SPD operator.

    ``matvec`` maps a block (P, batch, dim) to G applied to each vector, same shape;
    e.g. ``lambda v: v @ A`` for one symmetric positive definite ``A``. Other arguments
    as in ``logdet_metric``; ``method="bidiag"`` needs J and J^T separately and is only
    available through ``logdet_metric``.
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
    if method == "auto":  # exact needs dim products with G, the estimator power_iters + 1 + order probes
        method = "exact" if dim <= power_iters + 1 + order * probes else "chebyshev"
    if method == "exact":
        eye = torch.eye(dim, dtype=dtype, device=device)[:, None, :].expand(-1, batch, -1)
        G = matvec(eye).permute(1, 2, 0)  # (batch, dim, dim), column i = G e_i
        return _exact(G, products=1, dtype=dtype, damping=damping)
    return _estimate(matvec, batch, dim, dtype, device, method=method, order=order, probes=probes,
                     lower=lower, upper=upper, power_iters=power_iters, generator=generator,
                     damping=damping, grad_mode=grad_mode, variance_reduction=variance_reduction)
