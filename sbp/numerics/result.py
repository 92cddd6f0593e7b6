"""``LogdetEstimate``: what every log det method returns, its fields meaning one thing for every method.

Two error sources are reported apart (``REFERENCES``: Golub & Meurant 2010; Ubaru, Chen & Saad 2017):
``stderr`` is the Monte Carlo error of Hutchinson's mean over probes only; ``bias_bound`` bounds the
deterministic error of each probe's quadratic form (the polynomial's, or the quadrature's under a
tolerance). ``interval`` is the Student-t interval of the probe variance alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from sbp.numerics.trace import student_t_quantile

__all__ = ["LogdetEstimate"]


@dataclass(frozen=True)
class LogdetEstimate:
    """Result of ``logdet_metric`` / ``logdet`` / ``logdet_operator``; tensors have shape (B,).

    Fields:
        logdet: the estimate of log det(G + damping I); -inf only for rows whose J (or, for
            ``sbp.logdet``, G) is singular to working precision, always with a RuntimeWarning.
        lambda_max: top eigenvalue of G (Krylov estimate; exact for "exact").
        stderr: standard error of ``logdet`` over the probes (Monte Carlo only: the bias is not in
            it); 0 for "exact", nan for a single probe.
        lower, upper: the spectral interval the polynomial used (extreme Ritz values for slq/bidiag,
            extreme eigenvalues for exact).
        method, order (degree or Krylov steps, the largest over blocks), probes (in all).
        products: vector products per row of z, for every method: one product is G v for one
            vector v (a JVP + VJP pair; bidiag's J v and J^T u of one step count as one); a dense
            Jacobian column (exact) counts as one. A fixed budget of ``probes`` probes costs about
            probes x (Lanczos steps + order) products. For "auto", those of the route taken plus, where
            it took exact, those of the pilot it abandoned (exact: d columns, the gate's J v among them).
            ``sbp.numerics.jacobian.counted`` wraps an operator to count the products of any call of
            ``logdet_operator``.
        damping: eps of log det(G + eps I); 0 means undamped.
        damping_bias: log det(G + eps I) - log det G = sum_i log(1 + eps/lambda_i) >= 0: exact for
            "exact"; d log(1 + eps/lambda_min_hat) for the stochastic methods (lambda_min_hat the
            bottom Ritz value, an upper estimate of lambda_min: not a certified bound); zeros when
            damping = 0.
        grad_mode, variance_reduction: as passed.
        converged: (B,) bool with a tolerance (atol/rtol met per row); None for a fixed budget.
        bias_bound: (B,) a bound of |E_probes[logdet] - log det(G)|, the deterministic error.
            chebyshev / taylor: d max_{x in [lower, upper]} |log x - p(x)| for the degree-``order``
            polynomial p (each eigenvalue's error is at most the sup-norm, |v|^2 = d; the maximum is at
            x = lower, ``polynomials.poly_error_at_lower``); it bounds the
            bias when the spectrum lies in [lower, upper], which is certified only when ``lower``
            is given below lambda_min (estimated ends are Lanczos estimates). slq / bidiag with a
            tolerance: the mean Gauss / Gauss-Radau bracket width. 0 for "exact"; None where
            nothing is computed (slq / bidiag with a fixed budget).
        unresolved: (B,) bool, rows whose bottom eigenvalues lie below what products with G resolve
            in the products' dtype (bottom Ritz value <= 10 eps times the top, but J itself not
            singular): the value is finite, its error can exceed stderr (warned; use method="bidiag",
            "exact" or float64). None for "exact".
    """

    logdet: Tensor
    lambda_max: Tensor
    stderr: Tensor
    lower: Tensor
    upper: Tensor
    method: str
    order: int | None
    probes: int | None
    products: int
    damping: float = 0.0
    damping_bias: Tensor | None = None
    grad_mode: str = "backprop"
    variance_reduction: str = "none"
    converged: Tensor | None = None
    bias_bound: Tensor | None = None
    unresolved: Tensor | None = None

    def interval(self, confidence: float = 0.95) -> tuple[Tensor, Tensor]:
        """(low, high) (B,): the two-sided Student-t interval logdet -+ t stderr at ``confidence``, with
        probes - 1 degrees of freedom (those of Hutch++'s Hutchinson part for ``variance_reduction="hutchpp"``).

        It covers the probe variance only: the deterministic error (``bias_bound``) is not in it, so it
        is a confidence interval of E_probes[logdet], which equals log det only up to ``bias_bound``.
        Zero width for "exact"; infinite with a single probe."""
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
            raise ValueError(f"confidence must be a probability in (0, 1), got {confidence!r}")
        value = self.logdet.detach()
        if self.method == "exact":
            return value, value
        n = self.probes or 1
        if self.variance_reduction == "hutchpp":
            n -= 2 * (n // 3)
        half = (torch.full_like(value, math.inf) if n < 2 else
                student_t_quantile((1 + confidence) / 2, n - 1) * self.stderr.detach())
        half = torch.where(torch.isinf(value), torch.zeros_like(half), half)
        return value - half, value + half

    def __repr__(self) -> str:
        vals = ", ".join(f"{v:.4g} +- {s:.2g}" for v, s in
                         zip(self.logdet.detach().tolist()[:4], self.stderr.detach().tolist()[:4]))
        more = ", ..." if self.logdet.numel() > 4 else ""
        damp = f", damping={self.damping:g}" if self.damping else ""
        conv = "" if self.converged is None else f", converged={int(self.converged.sum())}/{self.converged.numel()}"
        return (f"LogdetEstimate(method={self.method!r}, order={self.order}, probes={self.probes}, "
                f"logdet=[{vals}{more}], products={self.products}{damp}{conv})")
