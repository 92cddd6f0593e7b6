"""Estimation to a tolerance: |error| <= atol + rtol |log det| per row, with probability >= confidence.

Two error sources, both adapted from the products the estimator makes (``REFERENCES``: Golub &
Meurant 2010; Ubaru, Chen & Saad 2017):
- the quadrature of each probe's v^T log(G) v. SLQ / Golub-Kahan: Lanczos steps until the Gauss
  value (an upper bound) and the Gauss-Radau value with a node at the lower end of the spectrum
  (a lower bound) are within ``QUADRATURE_SHARE`` of the row's tolerance: a bracket, certified
  when the node is below lambda_min (given as ``lower``, else estimated from the Ritz values
  with the interval guard). Chebyshev / Taylor: the degree whose sup-norm error on [a, b] times
  |v|^2 = d is within that share.
- the Monte Carlo error of Hutchinson's mean (``trace.trace_loop``): blocks of probes until the Student-t interval at
  ``confidence`` (from the standard error over all probes so far) fits in what the quadrature
  bound leaves of the tolerance.
Products are capped (``max_products`` vector products per row); rows that miss get
``converged=False``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.estimators import Block
from sbp.numerics.krylov import Krylov
from sbp.numerics.polynomials import log_polynomial, poly_error_bound
from sbp.numerics.quadrature import gauss_log, gauss_radau_log, ritz_values
from sbp.numerics.singular import extreme_ritz

__all__ = ["Tolerance", "make_tolerance", "BracketStop", "order_for_tolerance", "polynomial_bias",
           "QUADRATURE_SHARE", "FIRST_CHECK", "MAX_ORDER", "check_tolerance_options"]

QUADRATURE_SHARE = 0.25  # of each row's tolerance, for the bias bound of the quadrature / polynomial
MAX_ORDER = 4096
FIRST_CHECK = 3  # the first Lanczos step whose bracket is checked: an unconverged probe takes at least this many
_ORDERS = [4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, MAX_ORDER]


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    confidence: float
    max_products: int  # vector products (JVP+VJP pairs) per row

    def target(self, estimate: Tensor) -> Tensor:
        """atol + rtol |estimate| per row (B,)."""
        return self.atol + self.rtol * estimate.detach().abs()


def make_tolerance(atol, rtol, confidence: float, max_products: int | None, d: int) -> Tolerance | None:
    """Validated tolerance, or None for the fixed budget (neither atol nor rtol given)."""
    if atol is None and rtol is None:
        return None
    for name, v in (("atol", atol), ("rtol", rtol)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0):
            raise ValueError(f"{name} must be a finite float >= 0, got {v!r}")
    atol, rtol = float(atol or 0.0), float(rtol or 0.0)
    if atol == 0 and rtol == 0:
        raise ValueError("atol and rtol are both 0: no finite number of products reaches an exact value; "
                         "use method='exact' or a positive tolerance")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a probability in (0, 1), got {confidence!r}")
    cap = max(2048, 32 * d) if max_products is None else max_products
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ValueError(f"max_products must be a positive int, got {max_products!r}")
    return Tolerance(atol=atol, rtol=rtol, confidence=float(confidence), max_products=cap)


def check_tolerance_options(tol: Tolerance | None, variance_reduction: str) -> None:
    if tol is not None and variance_reduction != "none":
        raise ValueError(f"variance_reduction={variance_reduction!r} takes a fixed budget; with atol/rtol use "
                         "variance_reduction='none' (Hutchinson blocks adapt to the tolerance)")


def _checkpoints(k: int) -> bool:
    """Check the bracket after steps 3, 4, 5, 6, 8, 10, 13, ... (``FIRST_CHECK``, then growing by ~1.35): eigh costs k^3."""
    m = FIRST_CHECK
    while m < k:
        m = max(m + 1, int(m * 1.35))
    return m == k


def _radau_node(kr: Krylov, lower: Tensor | None, shrink: float) -> tuple[Tensor, Tensor]:
    """The Gauss-Radau node (B,) and whether it is trusted (B,): ``lower`` if given (trusted), else
    max(theta_min - resid, theta_min / shrink) over the probes' bottom Ritz pairs, trusted once every
    probe's bottom residual is below its Ritz value (before that, an unconverged bottom Ritz value
    can sit far above lambda_min and the 'bound' would not be one)."""
    theta, S = ritz_values(kr)
    tmin = theta[..., 0]
    resid = kr.next_beta.detach() * S[..., -1, 0].abs()
    if lower is not None:
        node, trusted = lower.expand(tmin.shape[1]), torch.ones_like(tmin[0], dtype=torch.bool)
    else:
        node = torch.maximum(tmin - resid, tmin / shrink).amin(0)
        trusted = (resid <= tmin).all(0)
    node = torch.minimum(node, tmin.amin(0) * (1 - 1e-3)).clamp_min(torch.finfo(theta.dtype).tiny)
    return node, trusted


def bracket_width(kr: Krylov, lower: Tensor | None, shrink: float) -> tuple[Tensor, Tensor]:
    """(Gauss value, Gauss - Gauss-Radau width) per probe (P, B), without a graph."""
    gauss = gauss_log(kr)
    node, trusted = _radau_node(kr, lower, shrink)
    width = (gauss - gauss_radau_log(kr, node)).clamp_min(0)
    return gauss, torch.where(trusted[None], width, torch.full_like(width, math.inf))


class BracketStop:
    """The Krylov stop rule of tolerance mode: a probe is done when its bracket width is within
    ``QUADRATURE_SHARE`` of its row's tolerance (``target``, else from the block's own Gauss values),
    or its row is numerically singular, or ``max_steps`` is reached, or ``give_up`` (auto's pilot,
    asked at step 2 and at every check) abandons the block. ``width`` (P, B) keeps each probe's last
    bracket width (frozen when it is done): the block's quadrature bias bound; ``abandoned`` says whether
    ``give_up`` fired (the caller then discards the block)."""

    def __init__(self, tol: Tolerance, target: Tensor | None, lower: Tensor | None, shrink: float,
                 singular_rtol: float, max_steps: int,
                 give_up: Callable[[Tensor, Tensor, int], bool] | None = None):
        self.tol, self.target, self.lower, self.shrink = tol, target, lower, shrink
        self.singular_rtol, self.max_steps, self.give_up = singular_rtol, max_steps, give_up
        self.width: Tensor | None = None
        self.abandoned = False

    def __call__(self, kr: Krylov) -> Tensor:
        P, B, k = kr.alphas.shape
        forced = k >= self.max_steps
        if self.width is None:
            self.width = torch.full((P, B), math.inf, dtype=kr.alphas.dtype, device=kr.alphas.device)
        early = self.give_up is not None and k == 2 and not forced  # auto's pilot: judged before the first check
        if not forced and not (_checkpoints(k) or early):
            return kr.done
        if early:
            gauss, _ = bracket_width(kr, self.lower, self.shrink)
            tgt = self.target if self.target is not None else self.tol.target(gauss.mean(0))
            self.abandoned = self.give_up(gauss, tgt, k)
            return torch.ones_like(kr.done) if self.abandoned else kr.done
        tmin, tmax = extreme_ritz(kr)  # from B_k's singular values for Golub-Kahan
        singular = tmin <= self.singular_rtol * tmax
        gauss, width = bracket_width(kr, self.lower, self.shrink)
        self.width = torch.where(kr.done, self.width, torch.where(singular[None], torch.zeros_like(width), width))
        tgt = self.target if self.target is not None else self.tol.target(gauss.mean(0))
        done = (self.width <= QUADRATURE_SHARE * tgt[None]) | singular[None] | kr.done
        if self.give_up is not None and not bool(done.all()) and self.give_up(gauss, tgt, k):
            forced = self.abandoned = True  # give_up(gauss (P, B), target (B,), steps): the caller abandons this block
        return torch.ones_like(done) if forced else done


def order_for_tolerance(method: str, tol: Tolerance, d: int, max_order: int) -> Callable[[Tensor, Tensor, Tensor], int]:
    """``choose_order(a, b, pilot)``: the smallest degree in a geometric ladder whose sup-norm error of
    log on [a, b], times |v|^2 = d, is within ``QUADRATURE_SHARE`` of every row's tolerance."""
    def choose(a: Tensor, b: Tensor, pilot: Tensor) -> int:
        tgt = QUADRATURE_SHARE * tol.target(pilot)
        for n in [m for m in _ORDERS if m < max_order] + [max_order]:
            if bool((d * poly_error_bound(log_polynomial(method, n, a, b, a.dtype)) <= tgt).all()):
                return n
        return max_order
    return choose


def polynomial_bias(block: Block, method: str, order: int, d: int) -> Tensor:
    """|v|^2 max |log - p| on [a, b] (B,): the bias bound of one probe's value."""
    return d * poly_error_bound(log_polynomial(method, order, block.lower, block.upper, block.lower.dtype))
