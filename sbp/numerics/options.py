"""The options every log det entry point shares, validated once, and what they resolve to."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from sbp.numerics.checks import check_positive_int

__all__ = ["METHODS", "GRAD_MODES", "VARIANCE_REDUCTIONS", "check_options", "resolve_method", "spectral_end",
           "damping_bias"]

METHODS = ("chebyshev", "taylor", "slq", "bidiag", "exact", "auto")
GRAD_MODES = ("backprop", "lowmem")
VARIANCE_REDUCTIONS = ("none", "hutchpp")


def resolve_method(method: str | None, tolerance: bool) -> str:
    """``method=None``: ``"auto"`` when a tolerance (atol/rtol) is given, else ``"chebyshev"`` (Algorithm 1)."""
    if method is None:
        return "auto" if tolerance else "chebyshev"
    return method


def check_options(method, order, probes, power_iters, damping=0.0, grad_mode="backprop",
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


def spectral_end(value: float | Tensor | None, B: int, dtype, device, name: str) -> Tensor | None:
    """``lower`` / ``upper`` as a (B,) constant tensor (None stays None), checked finite and > 0."""
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=dtype, device=device).detach()
    if t.dim() > 1 or (t.dim() == 1 and t.numel() not in (1, B)):
        raise ValueError(f"{name} must be a float or a tensor of shape ({B},), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()) or not bool((t > 0).all()):
        raise ValueError(f"{name} must be finite and > 0 (G = J^T J is positive definite), got {value}")
    return t.expand(B).clone()


def damping_bias(damping: float, lambda_min_hat: Tensor, d: int) -> Tensor:
    """d log(1 + eps / lambda_min_hat) (inf where lambda_min_hat <= 0); zeros without damping."""
    lam = lambda_min_hat.detach()
    if damping == 0:
        return torch.zeros_like(lam)
    return torch.where(lam > 0, d * torch.log1p(damping / lam.clamp_min(torch.finfo(lam.dtype).tiny)),
                       torch.full_like(lam, math.inf))
