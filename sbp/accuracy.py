"""Accuracy of the log det estimators against the exact value (notebooks 00 and 08)."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from .logdet import logdet_metric

__all__ = ["relative_error", "error_sweep"]


def relative_error(estimate: Tensor, exact: Tensor) -> Tensor:
    """|estimate - exact| / max(|exact|, 1), elementwise.

    Dividing by max(|exact|, 1) rather than |exact| keeps the error finite where the
    exact log det is near zero (the paper's concern), and equals the plain relative
    error wherever |exact| >= 1.
    """
    return (estimate - exact).abs() / exact.abs().clamp_min(1.0)


def error_sweep(f: Callable[[Tensor], Tensor], z: Tensor, *, methods: Sequence[str] = ("chebyshev", "taylor"),
                orders: Sequence[int] = (4, 8, 16, 32), probes: int = 8, seeds: Sequence[int] = (0, 1, 2),
                exact: Tensor | None = None, **kwargs) -> list[dict]:
    """Relative error of each method at each order, averaged over rows of ``z`` and seeds.

    Returns one row per (method, order) with the mean relative error, its standard error
    over the (rows x seeds) samples, the mean Hutchinson standard error relative to
    |exact| (the probe-noise floor), and the number of operator products.
    """
    if exact is None:
        with torch.no_grad():
            exact = logdet_metric(f, z, method="exact").logdet
    rows = []
    for method in methods:
        for order in orders:
            errs, noise, products = [], [], 0
            for seed in seeds:
                with torch.no_grad():
                    est = logdet_metric(f, z, method=method, order=order, probes=probes, generator=seed, **kwargs)
                errs.append(relative_error(est.logdet, exact))
                noise.append(est.stderr / exact.abs().clamp_min(1.0))
                products = est.products
            e = torch.cat(errs).double()
            rows.append({"method": method, "order": int(order), "probes": int(probes),
                         "rel_error": e.mean().item(), "rel_error_se": (e.std() / e.numel() ** 0.5).item(),
                         "probe_noise": torch.cat(noise).double().mean().item(), "products": int(products)})
    return rows
