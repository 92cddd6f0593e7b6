"""Effective latent dimensionality N_tau (Section 5, Figure 6, Table 2).

For eigenvectors u_i of J^T J at z,

    Delta_i(z) = ||G(z + eps u_i) - G(z)|| / E_r ||G(z + eps r) - G(z)||,

with r uniform random unit directions (the expectation estimated from ``n_random``
seeded draws per z), and

    N_tau = mean over z of #{i : Delta_i(z) > tau}.

Standard errors are over the latent codes z (the samples are independent).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from sbp.numerics.checks import as_generator, check_latent, check_positive_int

__all__ = ["random_unit_directions", "perturbed_outputs", "perturbation_norms", "relative_change", "RelativeChange",
           "effective_dimension", "mean_stderr"]


def mean_stderr(x: Tensor, dim: int = 0) -> tuple[Tensor, Tensor]:
    """Mean and standard error of the mean along ``dim`` (nan stderr for one sample)."""
    n = x.shape[dim]
    m = x.mean(dim)
    se = x.std(dim) / math.sqrt(n) if n > 1 else torch.full_like(m, math.nan)
    return m, se


def random_unit_directions(batch: int, dim: int, count: int, *, generator: torch.Generator | int | None,
                           dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Tensor:
    """``count`` directions per sample, uniform on the unit sphere: shape (batch, dim, count)."""
    device = torch.device(device)
    gen = as_generator(generator, device)
    gen_device = gen.device if gen is not None else device
    r = torch.randn((batch, dim, count), generator=gen, device=gen_device, dtype=dtype).to(device)
    return r / r.norm(dim=1, keepdim=True)


def perturbed_outputs(f: Callable[[Tensor], Tensor], z: Tensor, directions: Tensor, eps: float,
                      chunk: int = 64) -> Tensor:
    """f(z + eps u_k) for each sample and each column u_k of ``directions`` (B, d, K): shape (B, K, ...)."""
    check_latent(z)
    B, d = z.shape
    if directions.dim() != 3 or directions.shape[:2] != (B, d):
        raise ValueError(f"directions must have shape ({B}, {d}, K), got {tuple(directions.shape)}")
    if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a finite number > 0, got {eps}")
    K = directions.shape[2]
    with torch.no_grad():
        zs = (z[:, None, :] + eps * directions.to(z.dtype).mT).reshape(B * K, d)
        out = torch.cat([f(zs[i:i + chunk]) for i in range(0, B * K, chunk)])
    return out.reshape(B, K, *out.shape[1:])


def perturbation_norms(f: Callable[[Tensor], Tensor], z: Tensor, directions: Tensor, eps: float,
                       chunk: int = 64) -> Tensor:
    """||f(z + eps u_k) - f(z)|| for each sample and each column u_k of ``directions`` (B, d, K) -> (B, K)."""
    out = perturbed_outputs(f, z, directions, eps, chunk)
    with torch.no_grad():
        x0 = f(z)
    return (out - x0[:, None]).flatten(2).norm(dim=-1)


@dataclass(frozen=True)
class RelativeChange:
    """Delta (B, K) and its ingredients."""

    delta: Tensor  # (B, K) relative change along each direction
    change: Tensor  # (B, K) ||f(z + eps u_k) - f(z)||
    random_change: Tensor  # (B,) mean over random directions of ||f(z + eps r) - f(z)||
    random_stderr: Tensor  # (B,) its standard error over the random draws
    eps: float
    n_random: int


def relative_change(f: Callable[[Tensor], Tensor], z: Tensor, directions: Tensor, *, eps: float = 1.0,
                    n_random: int = 32, generator: torch.Generator | int | None = None,
                    chunk: int = 64) -> RelativeChange:
    """Delta_i(z) of Section 5 for each column of ``directions`` (B, d, K), e.g. eigenvectors of J^T J."""
    n_random = check_positive_int(n_random, "n_random")
    B, d = check_latent(z).shape
    r = random_unit_directions(B, d, n_random, generator=generator, dtype=z.dtype, device=z.device)
    rand = perturbation_norms(f, z, r, eps, chunk)
    along = perturbation_norms(f, z, directions, eps, chunk)
    m, se = mean_stderr(rand, dim=1)
    return RelativeChange(delta=along / m[:, None], change=along, random_change=m, random_stderr=se,
                          eps=float(eps), n_random=n_random)


def effective_dimension(delta: Tensor, taus: Sequence[float] | Tensor) -> tuple[Tensor, Tensor]:
    """N_tau = mean over z of #{i : Delta_i > tau} for each tau; returns (N_tau (T,), stderr (T,))."""
    if delta.dim() != 2:
        raise ValueError(f"delta must have shape (B, K), got {tuple(delta.shape)}")
    taus = torch.as_tensor(taus, dtype=delta.dtype, device=delta.device).reshape(-1)
    if taus.numel() == 0:
        raise ValueError("taus must not be empty")
    counts = (delta[:, :, None] > taus).sum(1).to(delta.dtype)  # (B, T)
    return mean_stderr(counts, dim=0)
