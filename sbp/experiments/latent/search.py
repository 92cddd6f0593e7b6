"""Likelihood ascent that does not trust the local gradient (Section 4, Figure 4, Table 1).

For a generator that is piecewise linear up to its output nonlinearity, log det(J^T J) jumps
between linear regions and the gradient of Eq. 1 does not see the jumps (notebook 04). This
ascent evaluates the exact log p_G(G(z)) = log p_Z(z) - 1/2 log det(J^T J) at candidate
points (the exact-gradient step and random directions, each at a few step lengths) and
accepts the best one only where it raises the exact value: the recorded log-likelihood
never falls, whatever the Jacobian does between the points.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.checks import as_generator, check_latent, check_positive_int
from sbp.numerics.density import log_normal
from sbp.experiments.latent.ascent import AscentTrace, check_finite_logdet, loglik_gradient, metric_spectrum

__all__ = ["exact_loglik", "search_ascent"]


def exact_loglik(f: Callable[[Tensor], Tensor], z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Exact log p_G(G(z)) (Eq. 1), log det(J^T J) and cond(J^T J) at each row of ``z`` (B, d), dense."""
    eig, ld = metric_spectrum(f, z)
    return log_normal(z) - 0.5 * ld.to(z.dtype), ld.to(z.dtype), (eig[:, -1] / eig[:, 0]).to(z.dtype)


def _candidates(f: Callable[[Tensor], Tensor], z: Tensor, radius: Tensor, directions: int,
                shrink: tuple[float, ...], gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Candidate points (B, K, d) around ``z`` and the exact log det gradient (B, d) at ``z``."""
    B, d = z.shape
    g_ll = loglik_gradient(f, z, method="exact")
    g_ld = -2.0 * (g_ll + z)  # grad log p_Z = -z, so grad log det = -2 (grad log p - grad log p_Z)
    u = torch.randn(B, directions, d, generator=gen, dtype=z.dtype, device=z.device)
    u = torch.cat([g_ll[:, None], u], 1)
    u = u / u.norm(dim=2, keepdim=True).clamp_min(1e-30)
    scales = torch.tensor(shrink, dtype=z.dtype, device=z.device)
    steps = radius[:, None, None, None] * scales[None, None, :, None] * u[:, :, None, :]  # (B, D, S, d)
    return z[:, None, :] + steps.reshape(B, -1, d), g_ld


def search_ascent(f: Callable[[Tensor], Tensor], z0: Tensor, *, steps: int = 100, radius: float = 0.3,
                  directions: int = 4, shrink: tuple[float, ...] = (1.0, 0.25, 0.0625), grow: float = 1.5,
                  record_every: int = 10, generator: torch.Generator | int | None = None) -> AscentTrace:
    """Ascend the exact log p_G(G(z)) from ``z0`` (B, d), accepting only steps that raise it.

    Each step proposes, per row, the exact-gradient direction and ``directions`` random
    Gaussian directions, each at lengths ``radius_b * s`` for s in ``shrink``; the best
    candidate is taken if it beats the current exact value, and the row's radius grows by
    ``grow`` (else shrinks by 1/``grow`` and the row stays). Records as ``likelihood_ascent``
    does (exact log-likelihood, cond, images, latents); ``logdet_first_order`` sums
    grad(log det)^T dz over the accepted steps, the exact gradient taken at the point left:
    what the gradient would have predicted for the change of log det actually made.
    """
    z = check_latent(z0, "z0").detach().clone()
    steps = check_positive_int(steps, "steps", minimum=0)
    directions = check_positive_int(directions, "directions", minimum=0)
    record_every = check_positive_int(record_every, "record_every")
    if not (radius > 0 and math.isfinite(radius)) or not (grow >= 1 and math.isfinite(grow)):
        raise ValueError(f"radius must be finite > 0 and grow finite >= 1, got radius {radius}, grow {grow}")
    if not shrink or not all(0 < s <= 1 for s in shrink):
        raise ValueError(f"shrink must be a non-empty tuple of numbers in (0, 1], got {shrink}")
    gen = as_generator(generator, z.device)
    B, d = z.shape
    trace = AscentTrace(loglik_method="exact")
    rad = torch.full((B,), float(radius), dtype=z.dtype, device=z.device)
    seen = torch.zeros(B, dtype=z.dtype, device=z.device)
    with torch.no_grad():
        ll, ld, cond = exact_loglik(f, z)
    check_finite_logdet(ld, 0)
    for step in range(steps + 1):
        if step % record_every == 0 or step == steps:
            with torch.no_grad():
                trace.steps.append(step)
                trace.loglik.append(ll.clone())
                trace.log_pz.append(log_normal(z).clone())
                trace.logdet.append(ld.clone())
                trace.condition.append(cond.clone())
                trace.images.append(f(z).detach().clone())
                trace.latents.append(z.clone())
                trace.logdet_first_order.append(seen.clone())
        if step == steps:
            break
        cand, g_ld = _candidates(f, z, rad, directions, shrink, gen)
        K = cand.shape[1]
        with torch.no_grad():
            c_ll = exact_loglik(f, cand.reshape(B * K, d))[0].reshape(B, K)
        c_ll = torch.where(torch.isfinite(c_ll), c_ll, torch.full_like(c_ll, -math.inf))
        best, idx = c_ll.max(1)
        take = best > ll
        z_new = cand[torch.arange(B), idx]
        seen = seen + torch.where(take, (g_ld * (z_new - z)).sum(1), torch.zeros_like(seen))
        z = torch.where(take[:, None], z_new, z)
        rad = torch.where(take, rad * grow, rad / grow)
        with torch.no_grad():
            ll_new, ld, cond = exact_loglik(f, z)
        check_finite_logdet(ld, step + 1)
        ll = ll_new
    return trace
