"""Likelihood ascent in latent space (Section 4, Figure 4, Table 1).

Maximise log p_G(G(z)) = log p_Z(z) - 1/2 log det(J^T J) over z by gradient ascent,
the gradient taken through the stochastic estimate of log det (Eq. 3 with respect to
z instead of the parameters). Along the way, record images, the log-likelihood and
the condition number of J^T J from its exact eigenvalues.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.checks import as_generator, check_finite_logdet, check_latent, check_positive_int
from sbp.numerics.density import log_normal
from sbp.numerics.dense import logdet_dense, metric_dense
from sbp.numerics.logdet import logdet_metric
from sbp.infra.progress import progress

__all__ = ["AscentTrace", "check_finite_logdet", "likelihood_ascent", "loglik_gradient", "logdet_along",
           "metric_spectrum", "nearest_neighbour_distance"]


def metric_spectrum(f: Callable[[Tensor], Tensor], z: Tensor, jvp_mode: str = "reverse") -> tuple[Tensor, Tensor]:
    """Exact eigenvalues (B, d), increasing, float64, and log det of J^T J (B,), without a graph."""
    with torch.no_grad():
        G = metric_dense(f, z, jvp_mode=jvp_mode)
        return torch.linalg.eigvalsh(G), logdet_dense(G)


def logdet_along(f: Callable[[Tensor], Tensor], z: Tensor, direction: Tensor, ts: Tensor,
                 jvp_mode: str = "reverse") -> tuple[Tensor, Tensor]:
    """Exact log det(J^T J) at z + t u for each t of ``ts`` (T,), u = ``direction`` / ||direction||,
    and its directional derivative at t = 0 (a float64 pair, (T,) and ()). ``z`` and
    ``direction`` are (d,). Against the derivative, the changes between neighbouring t show
    whether log det is smooth along the line or jumps (piecewise-linear f)."""
    z = check_latent(z.reshape(1, -1), "z")
    u = direction.reshape(1, -1).to(z) / direction.norm()
    if u.shape != z.shape or not torch.isfinite(u).all():
        raise ValueError(f"direction must be a finite, non-zero vector of shape {tuple(z.shape[1:])}")
    ts = ts.to(z).reshape(-1)
    _, values = metric_spectrum(f, z + ts[:, None] * u, jvp_mode)
    z0 = z.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(logdet_metric(f, z0, method="exact", jvp_mode=jvp_mode).logdet.sum(), z0)
    return values, (grad * u).sum().to(torch.float64).detach()


def _objective_logdet(f: Callable[[Tensor], Tensor], z: Tensor, method: str, *, order: int, probes: int,
                      power_iters: int, generator: torch.Generator | int | None, jvp_mode: str) -> Tensor:
    """log det(J^T J) (B,) in z's dtype, differentiable in z: dense float64 for ``"exact"``, else the estimate."""
    if method == "exact":
        return logdet_dense(metric_dense(f, z, jvp_mode=jvp_mode)).to(z.dtype)
    return logdet_metric(f, z, method=method, order=order, probes=probes, power_iters=power_iters,
                         generator=generator, jvp_mode=jvp_mode).logdet


def loglik_gradient(f: Callable[[Tensor], Tensor], z: Tensor, *, method: str = "chebyshev", order: int = 30,
                    probes: int = 8, power_iters: int = 20, generator: torch.Generator | int | None = None,
                    jvp_mode: str = "reverse") -> Tensor:
    """Gradient in z of log p_G(G(z)) = log p_Z(z) - 1/2 log det(J^T J) (Eq. 1) at each row of ``z`` (B, d).

    ``method="exact"`` differentiates the dense float64 log det (``sbp.numerics.dense``);
    any other method differentiates ``logdet_metric``'s estimate (Eq. 3 taken with respect
    to z), with ``order``, ``probes``, ``power_iters`` and ``generator`` passed on. This is
    the gradient ``likelihood_ascent`` follows (rows are independent: the objective is
    their sum). Returns (B, d) in z's dtype; ``z`` itself is left untouched.
    """
    z = check_latent(z, "z").detach().clone().requires_grad_(True)
    ld = _objective_logdet(f, z, method, order=order, probes=probes, power_iters=power_iters, generator=generator,
                           jvp_mode=jvp_mode)
    (grad,) = torch.autograd.grad((log_normal(z) - 0.5 * ld).sum(), z)
    return grad


def nearest_neighbour_distance(x: Tensor, reference: Tensor) -> Tensor:
    """Euclidean distance (N,) from each of ``x`` (N, ...) to its nearest row of ``reference`` (M, ...).

    Both are flattened per sample and compared in float32: pixel distance to the nearest
    training image, the number that makes "aberrant outputs" of Section 4 measurable.
    """
    if not isinstance(x, Tensor) or not isinstance(reference, Tensor) or x.dim() < 2 or reference.dim() < 2:
        raise ValueError("x and reference must be tensors of shape (N, ...) with one sample per row")
    a, b = x.flatten(1).float(), reference.flatten(1).float()
    if a.shape[1] != b.shape[1] or b.shape[0] < 1:
        raise ValueError(f"x has {a.shape[1]} values per sample and reference {b.shape[1]} (with {b.shape[0]} "
                         "rows); they must match and reference must not be empty")
    return torch.cdist(a, b).min(1).values


@dataclass
class AscentTrace:
    """What ``likelihood_ascent`` records at steps ``steps`` (all tensors indexed [record, sample])."""

    steps: list[int] = field(default_factory=list)
    loglik: list[Tensor] = field(default_factory=list)  # (B,) log p_G(G(z)), see ``loglik_method``
    log_pz: list[Tensor] = field(default_factory=list)  # (B,) log N(z; 0, I)
    logdet: list[Tensor] = field(default_factory=list)  # (B,) log det(J^T J) used in ``loglik``
    condition: list[Tensor] = field(default_factory=list)  # (B,) lambda_max / lambda_min, exact
    images: list[Tensor] = field(default_factory=list)  # (B, ...) G(z)
    latents: list[Tensor] = field(default_factory=list)  # (B, d)
    # (B,) sum over the steps so far of grad(log det)^T (z_{t+1} - z_t), the gradient being the one
    # that drove the ascent: the change of log det that the gradient "sees". Against the recorded
    # change it shows what first-order information misses (jumps of a piecewise-linear f's Jacobian).
    logdet_first_order: list[Tensor] = field(default_factory=list)
    loglik_method: str = "exact"

    def stacked(self, name: str) -> Tensor:
        """One recorded quantity as a tensor (records, B, ...)."""
        return torch.stack(getattr(self, name))


def likelihood_ascent(f: Callable[[Tensor], Tensor], z0: Tensor, *, steps: int = 100, lr: float = 0.05,
                      record_every: int = 10, method: str = "chebyshev", order: int = 30, probes: int = 8,
                      power_iters: int = 20, exact_max_dim: int = 256, max_norm: float | None = None,
                      generator: torch.Generator | int | None = None, jvp_mode: str = "reverse",
                      show_progress: bool = True) -> AscentTrace:
    """Gradient ascent (Adam, step ``lr``) on log p_Z(z) - 1/2 log det(J^T J) from ``z0`` (B, d).

    The gradient comes from ``logdet_metric(f, z, method=method, ...)`` (``"exact"``
    differentiates the dense log det instead). Rows are independent trials: the
    objective is their sum. Records at step 0, every ``record_every`` steps and the
    last step: images, log p_Z, the log-likelihood (exact, from a dense Jacobian, when
    d <= ``exact_max_dim``; otherwise the estimate; see ``trace.loglik_method``) and the
    condition number of J^T J from exact eigenvalues (d JVPs per sample).
    ``max_norm`` optionally projects z back onto the ball ||z|| <= max_norm after each step.
    Parameters of ``f`` get no gradient (they are detached from the objective).
    ``trace.logdet_first_order`` accumulates grad(log det)^T dz over the steps: the change
    of log det the gradient accounts for. For a generator that is piecewise linear up to
    its output nonlinearity (leaky ReLU DCGANs), J is piecewise constant and log det jumps
    at the boundaries of the linear regions; no gradient sees those jumps (notebook 04).
    ``jvp_mode`` goes to ``sbp.numerics.jacobian``/``logdet_metric``: on CPU, differentiating
    through forward-mode JVPs of transposed convolutions was ~9x slower than
    ``"reverse"`` in our measurement (DCGAN, d = 32, order 20), hence the default.
    """
    z0 = check_latent(z0, "z0")
    steps = check_positive_int(steps, "steps", minimum=0)
    record_every = check_positive_int(record_every, "record_every")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr}")
    gen = as_generator(generator, z0.device)
    d = z0.shape[1]
    trace = AscentTrace(loglik_method="exact" if d <= exact_max_dim else method)

    def record(step: int, z: Tensor, est_logdet: Tensor | None) -> None:
        with torch.no_grad():
            eig, ld_exact = metric_spectrum(f, z, jvp_mode)
            ld = ld_exact if trace.loglik_method == "exact" else est_logdet
            lpz = log_normal(z)
            trace.steps.append(step)
            trace.log_pz.append(lpz.detach().clone())
            trace.logdet.append(ld.detach().to(z.dtype).clone())
            trace.loglik.append((lpz - 0.5 * ld.to(z.dtype)).detach().clone())
            trace.condition.append((eig[:, -1] / eig[:, 0]).to(z.dtype))
            trace.images.append(f(z).detach().clone())
            trace.latents.append(z.detach().clone())
            trace.logdet_first_order.append(seen.clone())

    def estimate(z: Tensor) -> Tensor:
        return _objective_logdet(f, z, method, order=order, probes=probes, power_iters=power_iters, generator=gen,
                                 jvp_mode=jvp_mode)

    z = z0.detach().clone().requires_grad_(True)
    seen = torch.zeros(z0.shape[0], dtype=z0.dtype, device=z0.device)
    opt = torch.optim.Adam([z], lr=lr)
    params = [p for p in getattr(f, "parameters", lambda: [])() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        for step in progress(range(steps + 1), enabled=None if show_progress else False, desc="ascent"):
            ld = estimate(z)
            check_finite_logdet(ld.detach(), step)
            if step % record_every == 0 or step == steps:
                record(step, z, ld)
            if step == steps:
                break
            objective = (log_normal(z) - 0.5 * ld).sum()
            opt.zero_grad()
            (-objective).backward()
            z_old = z.detach().clone()
            opt.step()
            if max_norm is not None:
                with torch.no_grad():
                    n = z.norm(dim=1, keepdim=True)
                    z.mul_(torch.clamp(max_norm / n, max=1.0))
            with torch.no_grad():  # z.grad = -(grad log p_Z - grad ld / 2) and grad log p_Z = -z
                seen += (2.0 * (z.grad - z_old) * (z - z_old)).sum(1)
    finally:
        for p in params:
            p.requires_grad_(True)
    return trace
