"""The contract's warnings: one RuntimeWarning per kind of flagged row, pointing at the caller's line.

A row of a ``LogdetEstimate`` is right within its stated uncertainty, or flagged here (singular,
unresolved by the products' precision, bias bound above the standard error, tolerance missed), or
the call raised. Every warning gives the count of rows and names the first ones, and its stacklevel
is that of the first frame outside ``sbp.numerics`` (whichever public function was called).
"""
from __future__ import annotations

import sys
import warnings

import torch
from torch import Tensor

__all__ = ["describe_rows", "warn_rows", "warn_estimate"]

SHOWN = 8  # rows named in a warning
# A bias bound below this share of max(|log det|, 1) is not warned about even when it exceeds stderr (tiny d,
# e.g. the 2-D fits, gives a stderr near 0 and bounds of 1e-7-1e-5 at every training step): 10x under the
# tightest rtol the benchmarks ask for (1e-3).
NEGLIGIBLE_BIAS = 1e-4


def describe_rows(mask: Tensor) -> str:
    """'3 of 16 rows (0, 4, 9)' or '16 of 16 rows (the first 8: 0, 1, ...)' for a (B,) bool mask."""
    rows = mask.nonzero().flatten().tolist()
    first = ", ".join(str(i) for i in rows[:SHOWN])
    which = f"the first {SHOWN}: {first}, ..." if len(rows) > SHOWN else first
    return f"{len(rows)} of {mask.numel()} row{'s' if mask.numel() != 1 else ''} ({which})"


def _caller_level() -> int:
    """The stacklevel of the first frame outside sbp.numerics, for ``warnings.warn`` called from this module."""
    frame, level = sys._getframe(1), 1  # the frame that called warnings.warn is level 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("sbp.numerics"):
        frame, level = frame.f_back, level + 1
    return level


def warn_rows(mask: Tensor, message: str) -> None:
    """One RuntimeWarning ``"logdet: {rows}: {message}"`` if any row of ``mask`` (B,) is set."""
    if bool(mask.any()):
        warnings.warn(f"logdet: {describe_rows(mask)}: {message}", RuntimeWarning, stacklevel=_caller_level())


def warn_estimate(est, tol=None, *, operator: str = "J") -> None:
    """The warnings of a finished ``LogdetEstimate``: singular rows, unresolved rows, a polynomial's bias
    bound above the standard error (and above ``NEGLIGIBLE_BIAS`` max(|logdet|, 1); none with one probe,
    whose stderr is nan), a tolerance not met (``tol``: the ``Tolerance``, or None). ``operator``: what the
    products are of, "J" (``logdet_metric``) or "G" (``sbp.logdet``), for the singular message."""
    singular = est.logdet.detach() == -float("inf")
    scale = ("bottom singular value of J <= 10 eps of its dtype times the top" if operator == "J" else
             "bottom eigenvalue of G <= 10 eps of its dtype times the top")
    warn_rows(singular, f"log det is -inf: {operator} is singular to working precision there ({scale}); "
                        "use damping > 0 for log det(G + damping I)")
    if est.unresolved is not None:
        warn_rows(est.unresolved, "the bottom eigenvalues of G lie below what products with G resolve in "
                                  f"{str(est.logdet.dtype).replace('torch.', '')} (bottom Ritz value <= 10 eps "
                                  "times the top, J not singular): the value is finite but its error can exceed "
                                  "stderr; use method='bidiag' (never squares J), 'exact', or float64")
    if est.bias_bound is not None and est.method in ("chebyshev", "taylor") and est.converged is None:
        value = est.logdet.detach()
        negligible = NEGLIGIBLE_BIAS * value.abs().clamp_min(1.0)
        over = (est.stderr.detach().isfinite() & (est.bias_bound > torch.maximum(est.stderr.detach(), negligible))
                & ~singular)
        warn_rows(over, f"the {est.method} polynomial's bias bound (bias_bound, up to "
                        f"{float(est.bias_bound[over].max()) if bool(over.any()) else 0:.3g}) exceeds stderr, "
                        "which covers the probe variance only: raise order, pass lower/upper nearer the spectrum, "
                        "or use method='slq' or a tolerance (rtol=...)")
    if tol is not None and est.converged is not None:
        warn_rows(~est.converged, f"the tolerance atol={tol.atol:g}, rtol={tol.rtol:g} (confidence "
                                  f"{tol.confidence:g}) was not met within max_products={tol.max_products} vector "
                                  "products per row; see LogdetEstimate.converged, stderr and bias_bound")

