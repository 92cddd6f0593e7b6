"""Stochastic estimates of log det(G) for batched SPD operators, G = J^T J in particular.

Algorithm 1 of Ramesh & LeCun (2018):
1. spectral interval [a, b] from Krylov (power-method) iterations (``sbp.bounds``);
2. a polynomial p ~ log on [a, b]: Chebyshev (Han et al. 2017) or Taylor
   (Boutsidis et al. 2017) (``sbp.polynomials``);
3. Hutchinson's estimator tr p(G) ~ mean_i v_i^T p(G) v_i over Rademacher probes,
   one recurrence over the whole (P, B, d) block of probes.

The estimate is differentiable (Eq. 3): gradients flow through the polynomial
recurrence into the parameters of f and into z. The interval is treated as a
constant (it only selects the polynomial), while ``lambda_max`` carries its own
gradient v^T dG v for the spectral-norm penalty of Eq. 8.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .bounds import lanczos_bounds, rademacher
from .checks import FLOAT_DTYPES, as_generator, check_latent, check_positive_int
from .jacobian import jacobian, metric_operator
from .polynomials import chebyshev_log_coeffs, taylor_log_coeffs

__all__ = ["LogdetEstimate", "logdet", "logdet_metric", "logdet_dense", "METHODS"]

METHODS = ("chebyshev", "taylor", "exact")
Matvec = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class LogdetEstimate:
    """Result of ``logdet_metric`` / ``logdet``; tensors have shape (B,)."""

    logdet: Tensor  # estimate of log det G
    lambda_max: Tensor  # top eigenvalue of G (power-method / Lanczos estimate; exact for "exact")
    stderr: Tensor  # standard error of ``logdet`` over probes (0 for "exact", nan for probes=1)
    lower: Tensor  # spectral interval used by the polynomial
    upper: Tensor
    method: str
    order: int | None
    probes: int | None
    products: int  # operator applications (each over a block of P vectors or 1 vector)

    def __repr__(self) -> str:
        vals = ", ".join(f"{v:.4g} +- {s:.2g}" for v, s in
                         zip(self.logdet.detach().tolist()[:4], self.stderr.detach().tolist()[:4]))
        more = ", ..." if self.logdet.numel() > 4 else ""
        return (f"LogdetEstimate(method={self.method!r}, order={self.order}, probes={self.probes}, "
                f"logdet=[{vals}{more}], products={self.products})")


def logdet_dense(G: Tensor) -> Tensor:
    """log det of SPD matrices (..., d, d) by Cholesky in float64; -inf where singular."""
    Gd = G.to(torch.float64)
    Gd = (Gd + Gd.mT) / 2
    L, info = torch.linalg.cholesky_ex(Gd)
    ld = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    if bool((info != 0).any()):
        ev = torch.linalg.eigvalsh(Gd)
        ld_ev = torch.where((ev > 0).all(-1), torch.log(ev.clamp_min(1e-300)).sum(-1),
                            torch.full_like(ev[..., 0], -math.inf))
        ld = torch.where(info == 0, ld, ld_ev)
    return ld.to(G.dtype)


def _interval(value: float | Tensor | None, B: int, dtype, device, name: str) -> Tensor | None:
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=dtype, device=device).detach()
    if t.dim() > 1 or (t.dim() == 1 and t.numel() not in (1, B)):
        raise ValueError(f"{name} must be a float or a tensor of shape ({B},), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()) or not bool((t > 0).all()):
        raise ValueError(f"{name} must be finite and > 0 (G = J^T J is positive definite), got {value}")
    return t.expand(B).clone()


def _check_options(method, order, probes, power_iters) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    check_positive_int(order, "order")
    check_positive_int(probes, "probes")
    check_positive_int(power_iters, "power_iters")


def _estimate(matvec: Matvec, B: int, d: int, dtype, device, *, method: str, order: int, probes: int,
              lower, upper, power_iters: int, generator, shrink: float = 16.0) -> LogdetEstimate:
    """Shared body of ``logdet`` and ``logdet_metric`` for the stochastic methods."""
    gen = as_generator(generator, device)
    lo = _interval(lower, B, dtype, device, "lower")
    hi = _interval(upper, B, dtype, device, "upper")
    if lo is not None and hi is not None and not bool((lo < hi).all()):
        raise ValueError(f"lower must be < upper, got lower={lower}, upper={upper}")
    # 1. spectral interval (no graph), then a differentiable Rayleigh quotient for lambda_max
    v0 = rademacher((B, d), generator=gen, dtype=dtype, device=device)
    with torch.no_grad():
        sb = lanczos_bounds(matvec, v0, power_iters, generator=gen)
    y = sb.top_vector
    lambda_max = (y * matvec(y[None])[0]).sum(-1)
    products = sb.steps + 1
    a_est, b_est = sb.interval(shrink)
    b = hi if hi is not None else b_est
    a = lo if lo is not None else torch.minimum(a_est, b * (1 - 1e-3))
    if not bool((a < b).all()):
        raise ValueError(f"lower must be < upper; got lower={a.tolist()} with upper={b.tolist()}")
    # 2.-3. polynomial recurrence over the probe block
    V = rademacher((probes, B, d), generator=gen, dtype=dtype, device=device)
    if method == "chebyshev":
        c = chebyshev_log_coeffs(order, a, b).to(dtype)  # (B, n+1)
        scale, shift = (2 / (b - a))[:, None], ((b + a) / (b - a))[:, None]

        def cheb_map(w: Tensor) -> Tensor:
            return scale * matvec(w) - shift * w

        w_prev, w = V, cheb_map(V)
        q = c[:, 0] * (V * V).sum(-1) + c[:, 1] * (V * w).sum(-1)
        for j in range(2, order + 1):
            w_prev, w = w, 2 * cheb_map(w) - w_prev
            q = q + c[:, j] * (V * w).sum(-1)
    else:  # taylor: log det G = d log(alpha) - sum_k tr(C^k)/k, C = I - G/alpha
        alpha = b
        coef = taylor_log_coeffs(order, dtype=dtype, device=device)
        u = V
        q = d * torch.log(alpha).expand(probes, B)
        for k in range(order):
            u = u - matvec(u) / alpha[:, None]
            q = q - coef[k] * (V * u).sum(-1)
    products += order
    est = q.mean(0)
    stderr = q.std(0) / math.sqrt(probes) if probes > 1 else torch.full_like(est, math.nan)
    return LogdetEstimate(logdet=est, lambda_max=lambda_max, stderr=stderr.detach(), lower=a, upper=b,
                          method=method, order=order, probes=probes, products=products)


def _exact(G: Tensor, products: int, dtype: torch.dtype) -> LogdetEstimate:
    ld = logdet_dense(G).to(dtype)
    lam = torch.linalg.eigvalsh(((G + G.mT) / 2).to(torch.float64))
    zero = torch.zeros_like(ld).detach()
    return LogdetEstimate(logdet=ld, lambda_max=lam[..., -1].to(dtype), stderr=zero,
                          lower=lam[..., 0].detach().to(dtype), upper=lam[..., -1].detach().to(dtype),
                          method="exact", order=None, probes=None, products=products)


def logdet_metric(f: Callable[[Tensor], Tensor], z: Tensor, *, method: str = "chebyshev", order: int = 30,
                  probes: int = 8, lower: float | Tensor | None = None, upper: float | Tensor | None = None,
                  power_iters: int = 20, generator: torch.Generator | int | None = None,
                  jvp_mode: str = "forward") -> LogdetEstimate:
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
        jvp_mode: ``"forward"`` (forward-mode JVP, the paper's) or ``"reverse"``
            (J v as the VJP of the VJP, reusing one forward; see ``sbp.jacobian``).

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
    _check_options(method, order, probes, power_iters)
    B, d = z.shape
    if method == "exact":
        J = jacobian(f, z, jvp_mode=jvp_mode).to(torch.float64)  # J^T J formed in float64
        return _exact(J.mT @ J, products=d, dtype=z.dtype)
    op = metric_operator(f, z, jvp_mode=jvp_mode)
    return _estimate(op.matvec, B, d, z.dtype, z.device, method=method, order=order, probes=probes,
                     lower=lower, upper=upper, power_iters=power_iters, generator=generator)


def logdet(matvec: Matvec, dim: int, *, batch: int = 1, method: str = "chebyshev", order: int = 30,
           probes: int = 8, lower: float | Tensor | None = None, upper: float | Tensor | None = None,
           power_iters: int = 20, generator: torch.Generator | int | None = None,
           dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> LogdetEstimate:
    """The estimators of ``logdet_metric`` for any batched SPD operator.

    ``matvec`` maps a block (P, batch, dim) to G applied to each vector, same shape;
    e.g. ``lambda v: v @ A`` for one symmetric positive definite ``A``. Other arguments
    as in ``logdet_metric``.
    """
    _check_options(method, order, probes, power_iters)
    check_positive_int(dim, "dim")
    check_positive_int(batch, "batch")
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    if method == "exact":
        eye = torch.eye(dim, dtype=dtype, device=device)[:, None, :].expand(-1, batch, -1)
        G = matvec(eye).permute(1, 2, 0)  # (batch, dim, dim), column i = G e_i
        return _exact(G, products=1, dtype=dtype)
    return _estimate(matvec, batch, dim, dtype, device, method=method, order=order, probes=probes,
                     lower=lower, upper=upper, power_iters=power_iters, generator=generator)
