"""Polynomial approximations of log on a spectral interval (Algorithm 1, step 2).

- Chebyshev interpolation (Han et al. 2017): log(x) on [a, b] through the map
  x = ((b - a) t + b + a) / 2, t in [-1, 1], interpolated at the Chebyshev nodes
  t_k = cos(pi (k + 1/2) / (n + 1)).
- Taylor series (Boutsidis et al. 2017): log(x) = log(alpha) - sum_k (1 - x/alpha)^k / k.

``LogPolynomial`` holds one such p on a batch of intervals, written in a basis phi_j that a
three-term (Chebyshev) or two-term (Taylor) recurrence of products with G generates:
p(G) = sum_j c_j phi_j(G) and p'(G) = sum_j c'_j phi_j(G) (the derivative for the low-memory
gradient, d tr p(G) = tr(p'(G) dG)). ``poly_basis`` is the one operator recurrence; applying p,
its quadratic forms v^T p(G) v and p'(G) v all read it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import Tensor

__all__ = ["chebyshev_log_coeffs", "chebyshev_eval", "chebyshev_derivative_coeffs", "taylor_log_coeffs",
           "taylor_eval", "LogPolynomial", "log_polynomial", "poly_basis", "poly_apply", "poly_quadratic",
           "poly_error_bound", "poly_error_at_lower"]


def chebyshev_log_coeffs(order: int, lower: Tensor, upper: Tensor) -> Tensor:
    """Coefficients ``c_0..c_n`` of the degree-``order`` Chebyshev interpolant of log on [lower, upper].

    ``lower`` and ``upper`` are tensors of any (equal, broadcastable) shape ``S``;
    the result has shape ``S + (order + 1,)``, so that
    ``log(x) ~ sum_j c_j T_j((2x - a - b) / (b - a))`` for x in [a, b].
    c_j = 2/(n+1) sum_k g(t_k) T_j(t_k), with c_0 halved (the paper's Algorithm 1).
    Computed in float64 whatever the input dtype, returned in the input dtype.
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    a = torch.as_tensor(lower).to(torch.float64)
    b = torch.as_tensor(upper).to(torch.float64)
    if not bool((a > 0).all()):
        raise ValueError("the spectral interval's lower end must be > 0 (log is undefined at 0)")
    if not bool((a < b).all()):
        raise ValueError("the spectral interval needs lower < upper")
    n = order
    k = torch.arange(n + 1, dtype=torch.float64, device=a.device)
    theta = math.pi * (k + 0.5) / (n + 1)  # t_k = cos(theta_k), T_j(t_k) = cos(j theta_k)
    t = torch.cos(theta)
    x = ((b - a)[..., None] * t + (b + a)[..., None]) / 2  # S + (n+1,)
    g = torch.log(x)
    cos_jk = torch.cos(k[:, None] * theta[None, :])  # (j, k)
    c = 2.0 / (n + 1) * g @ cos_jk.T  # S + (n+1,)
    c[..., 0] = c[..., 0] / 2
    dtype = torch.as_tensor(lower).dtype
    return c.to(dtype if dtype.is_floating_point else torch.get_default_dtype())


def chebyshev_eval(coeffs: Tensor, x: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
    """Evaluate ``sum_j c_j T_j(t(x))`` for scalars ``x`` (reference for tests and analysis).

    ``coeffs``: ``S + (n+1,)``; ``x``: ``S + (m,)`` points; returns ``S + (m,)``.
    """
    a, b = lower[..., None], upper[..., None]
    t = (2 * x - a - b) / (b - a)
    t_prev, t_cur = torch.ones_like(t), t
    out = coeffs[..., :1] * t_prev + coeffs[..., 1:2] * t_cur
    for j in range(2, coeffs.shape[-1]):
        t_prev, t_cur = t_cur, 2 * t * t_cur - t_prev
        out = out + coeffs[..., j:j + 1] * t_cur
    return out


def taylor_log_coeffs(order: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """Coefficients ``1/k`` for k = 1..order of ``log(1 - c) = -sum_k c^k / k`` (Boutsidis et al. 2017)."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    return 1.0 / torch.arange(1, order + 1, dtype=dtype, device=device)


def taylor_eval(order: int, x: Tensor, alpha: Tensor) -> Tensor:
    """The order-``order`` Taylor approximation log(alpha) - sum_k (1 - x/alpha)^k / k of log(x).

    ``x``: ``S + (m,)`` points, ``alpha``: ``S``; returns ``S + (m,)``.
    """
    c = 1 - x / alpha[..., None]
    out = torch.log(alpha)[..., None].expand_as(x).clone()
    power = torch.ones_like(x)
    for k in range(1, order + 1):
        power = power * c
        out = out - power / k
    return out


def chebyshev_derivative_coeffs(coeffs: Tensor) -> Tensor:
    """Chebyshev coefficients of d/dt sum_j c_j T_j(t) (degree n - 1, padded to n + 1 entries).

    Backward recurrence d_{j-1} = d_{j+1} + 2 j c_j (d_n = d_{n+1} = 0), d_0 halved.
    ``coeffs``: ``S + (n+1,)``; returns ``S + (n+1,)`` with a trailing 0. Used by the
    low-memory gradient of ``sbp.logdet`` (d tr p(G) = tr(p'(G) dG)).
    """
    n = coeffs.shape[-1] - 1
    d = torch.zeros_like(coeffs)
    nxt, cur = torch.zeros_like(coeffs[..., 0]), torch.zeros_like(coeffs[..., 0])  # d_{j+1}, d_j
    for j in range(n, 0, -1):
        prev = nxt + 2 * j * coeffs[..., j]  # d_{j-1}
        d[..., j - 1] = prev
        nxt, cur = cur, prev
    d[..., 0] = d[..., 0] / 2
    return d


POLY_METHODS = ("chebyshev", "taylor")


@dataclass(frozen=True)
class LogPolynomial:
    """p ~ log of degree ``order`` on [a, b] per row (a, b: (B,)), p = sum_j coeffs_j phi_j,
    p' = sum_j dcoeffs_j phi_j. Chebyshev: phi_j = T_j(scale x - shift); Taylor (alpha = b):
    phi_j = (1 - x / alpha)^j, coeffs (log alpha, -1, -1/2, ...), dcoeffs (1/alpha, ..., 1/alpha, 0)."""

    method: str
    order: int
    a: Tensor
    b: Tensor
    coeffs: Tensor  # (B, order + 1)
    dcoeffs: Tensor  # (B, order + 1)


def log_polynomial(method: str, order: int, a: Tensor, b: Tensor, dtype: torch.dtype) -> LogPolynomial:
    """The Chebyshev interpolant (Han et al. 2017) or Taylor series (Boutsidis et al. 2017) of log on [a, b]."""
    if method not in POLY_METHODS:
        raise ValueError(f"method must be one of {POLY_METHODS}, got {method!r}")
    if method == "chebyshev":
        c = chebyshev_log_coeffs(order, a, b).to(dtype)
        dc = chebyshev_derivative_coeffs(c) * (2 / (b - a))[:, None]
    else:
        k = taylor_log_coeffs(order, dtype=dtype, device=b.device)
        c = torch.cat([torch.log(b)[:, None], -k.expand(b.shape[0], -1)], 1)
        dc = torch.cat([(1 / b)[:, None].expand(-1, order), torch.zeros_like(b)[:, None]], 1)
    return LogPolynomial(method=method, order=order, a=a, b=b, coeffs=c, dcoeffs=dc)


def poly_basis(G: Callable[[Tensor], Tensor], X: Tensor, p: LogPolynomial) -> Iterator[Tensor]:
    """phi_0(G) X, ..., phi_n(G) X for a block X (P, B, d): ``order`` products with G in all."""
    yield X
    if p.method == "chebyshev":
        scale, shift = (2 / (p.b - p.a))[:, None], ((p.b + p.a) / (p.b - p.a))[:, None]
        w_prev, w = X, scale * G(X) - shift * X
        yield w
        for _ in range(2, p.order + 1):
            w_prev, w = w, 2 * (scale * G(w) - shift * w) - w_prev
            yield w
    else:
        alpha, u = p.b[:, None], X
        for _ in range(p.order):
            u = u - G(u) / alpha
            yield u


def poly_apply(G: Callable[[Tensor], Tensor], X: Tensor, p: LogPolynomial) -> Tensor:
    """p(G) X for a block X (P, B, d)."""
    out = None
    for j, w in enumerate(poly_basis(G, X, p)):
        term = p.coeffs[:, j, None] * w
        out = term if out is None else out + term
    return out


def poly_quadratic(G: Callable[[Tensor], Tensor], V: Tensor, p: LogPolynomial, *,
                   derivative: bool = False) -> tuple[Tensor, Tensor | None]:
    """v^T p(G) v per probe (P, B) and, if ``derivative``, W = p'(G) V (P, B, d), from one recurrence."""
    q, W = None, None
    for j, w in enumerate(poly_basis(G, V, p)):
        term = p.coeffs[:, j] * (V * w).sum(-1)
        q = term if q is None else q + term
        if derivative and j < p.order:
            dterm = p.dcoeffs[:, j, None] * w
            W = dterm if W is None else W + dterm
    return q, W


def poly_error_bound(p: LogPolynomial, points: int = 2049) -> Tensor:
    """max |log x - p(x)| over [a, b] (B,), evaluated on a fine Chebyshev grid of each interval in
    float64: the per-eigenvalue error, so |v^T (log G - p(G)) v| <= |v|^2 bound when the spectrum
    lies in [a, b]."""
    a, b = p.a.to(torch.float64), p.b.to(torch.float64)
    t = torch.cos(math.pi * torch.arange(points, dtype=torch.float64, device=a.device) / (points - 1))
    x = ((b - a)[:, None] * t + (b + a)[:, None]) / 2
    if p.method == "chebyshev":
        approx = chebyshev_eval(p.coeffs.to(torch.float64), x, a, b)
    else:
        approx = taylor_eval(p.order, x, b)
    return (approx - torch.log(x)).abs().amax(-1).to(p.coeffs.dtype)


def poly_error_at_lower(p: LogPolynomial) -> Tensor:
    """|log a - p(a)| (B,) at the interval's lower end a, in float64: the sup-norm error of ``poly_error_bound``
    at O(order) cost. Taylor's remainder sum_{k > n} (1 - x/b)^k / k is positive and decreasing on [a, b], so
    its maximum is at a; Chebyshev's interpolation error of log is largest at a too (log's singularity at 0
    lies nearest to it; tests/test_polynomials.py checks it against the grid for kappa 1.5-1e8, orders 1-200,
    to rounding)."""
    a, b = p.a.to(torch.float64), p.b.to(torch.float64)
    if p.method == "chebyshev":
        approx = chebyshev_eval(p.coeffs.to(torch.float64), a[:, None], a, b)[:, 0]
    else:
        approx = taylor_eval(p.order, a[:, None], b)[:, 0]
    return (approx - torch.log(a)).abs().to(p.coeffs.dtype)
