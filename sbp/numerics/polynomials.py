"""Polynomial approximations of log on a spectral interval (Algorithm 1, step 2).

- Chebyshev interpolation (Han et al. 2017): log(x) on [a, b] through the map
  x = ((b - a) t + b + a) / 2, t in [-1, 1], interpolated at the Chebyshev nodes
  t_k = cos(pi (k + 1/2) / (n + 1)).
- Taylor series (Boutsidis et al. 2017): log(x) = log(alpha) - sum_k (1 - x/alpha)^k / k.

These functions know nothing of matrices; ``sbp.logdet`` applies them to operators.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["chebyshev_log_coeffs", "chebyshev_eval", "chebyshev_derivative_coeffs", "taylor_log_coeffs",
           "taylor_eval"]


def chebyshev_log_coeffs(order: int, lower: Tensor, upper: Tensor) -> Tensor:
    """Coefficients ``c_0..c_n`` of the degree-``order`` Chebyshev interpolant of log on [lower, upper].

    ``lower`` and ``upper`` are tensors of any (equal, broadcastable) shape ``S``;
    the result has shape ``S + (order + 1,)``, so that
    ``log(x) ~ sum_j c_j T_j((2x - a - b) / (b - a))`` for x in [a, b].
    c_j = 2/(n+1) sum_k g(t_k) T_j(t_k), with c_0 halved (PAPER.md, Algorithm 1).
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
