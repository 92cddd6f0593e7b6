"""Accuracy of the log det estimators against the exact value (notebooks 00 and 08)."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from sbp.numerics.errors import relative_error
from sbp.numerics.logdet import LogdetEstimate, logdet_metric
from sbp.numerics.polynomials import chebyshev_eval, chebyshev_log_coeffs, taylor_eval

__all__ = ["error_sweep", "polynomial_logdet"]


def polynomial_logdet(est: LogdetEstimate, eigenvalues: Tensor) -> Tensor:
    """sum_i p(lambda_i): what ``est`` converges to with infinitely many probes.

    ``eigenvalues`` (B, d) are the exact eigenvalues of G; p is the polynomial that
    ``est`` used (its method, order and interval). ``p_sum - exact`` is the
    deterministic polynomial error, ``est.logdet - p_sum`` the Hutchinson noise.
    """
    lam = eigenvalues.to(torch.float64)
    if est.method == "chebyshev":
        a, b = est.lower.double(), est.upper.double()
        return chebyshev_eval(chebyshev_log_coeffs(est.order, a, b), lam, a, b).sum(-1)
    if est.method == "taylor":
        return taylor_eval(est.order, lam, est.upper.double()).sum(-1)
    raise ValueError(f"no polynomial for method {est.method!r}")


def error_sweep(f: Callable[[Tensor], Tensor], z: Tensor, *, methods: Sequence[str] = ("chebyshev", "taylor"),
                orders: Sequence[int] = (4, 8, 16, 32), probes: int = 8, seeds: Sequence[int] = (0, 1, 2),
                exact: Tensor | None = None, eigenvalues: Tensor | None = None, **kwargs) -> list[dict]:
    """Relative error of each method at each order, averaged over rows of ``z`` and seeds.

    Returns one row per (method, order) with the mean relative error, its standard error
    over the (rows x seeds) samples, the mean Hutchinson standard error relative to
    |exact| (the probe-noise floor), the operator products per probe (block products:
    ``est.products / probes``, the unit of the tables before products became vector products), and, when the
    exact ``eigenvalues`` (B, d) are given, the polynomial's own relative error
    ``poly_error`` (no probe noise, see ``polynomial_logdet``).
    """
    if exact is None:
        with torch.no_grad():
            exact = logdet_metric(f, z, method="exact").logdet
    rows = []
    for method in methods:
        for order in orders:
            errs, noise, poly, products = [], [], [], 0
            for seed in seeds:
                with torch.no_grad():
                    est = logdet_metric(f, z, method=method, order=order, probes=probes, generator=seed, **kwargs)
                errs.append(relative_error(est.logdet, exact))
                noise.append(est.stderr / exact.abs().clamp_min(1.0))
                if eigenvalues is not None:
                    poly.append(relative_error(polynomial_logdet(est, eigenvalues), exact.double()))
                products = round(est.products / probes)
            e = torch.cat(errs).double()
            rows.append({"method": method, "order": int(order), "probes": int(probes),
                         "rel_error": e.mean().item(), "rel_error_se": (e.std() / e.numel() ** 0.5).item(),
                         "probe_noise": torch.cat(noise).double().mean().item(), "products": int(products)})
            if poly:
                rows[-1]["poly_error"] = torch.cat(poly).mean().item()
    return rows
