"""Trace estimation (Algorithm 1, step 3): Hutchinson's estimator with Rademacher probes.

tr(M) ~ mean_i v_i^T M v_i for v_i with independent +-1 entries (Hutchinson 1990); its
variance is 2 (||M||_F^2 - sum_i M_ii^2). The estimators in ``sbp.numerics.logdet`` draw
their probe blocks here.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rademacher"]


def rademacher(shape: tuple[int, ...], *, generator: torch.Generator | None, dtype: torch.dtype,
               device: torch.device) -> Tensor:
    """Entries +-1 with equal probability, drawn from ``generator`` (on its own device)."""
    gen_device = generator.device if generator is not None else device
    bits = torch.randint(0, 2, shape, generator=generator, device=gen_device)
    return (bits.to(device=device, dtype=dtype) * 2 - 1)
