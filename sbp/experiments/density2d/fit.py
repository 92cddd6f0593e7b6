"""Training implicit 2-D densities through the log det estimator (Section 3, Figures 1-2).

``fit_reverse_kl`` (Figure 1): f: latent -> data, q = law of f(z), z ~ N(0, I), minimizes
    E_z[log p_Z(z) - 1/2 log det(J_f^T J_f) + U(f(z))] (+ Eq. 8 penalty)
which is KL(q || p) - log Z.
``fit_forward_kl`` (Figure 2): g: data -> latent, log q(x) = log p_Z(g(x)) + 1/2 log det(J_g^T J_g),
minimizes -E_{x~p}[log q(x)], which is KL(p || q) + H(p).

Both backpropagate through ``sbp.logdet_metric`` (Eq. 3), with ``method="exact"`` as the
baseline. Every iteration can also record the estimator's relative error against the
exact log-likelihood (``relative_error``). Training checkpoints atomically and resumes.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from sbp.numerics.checks import check_finite_logdet
from sbp.numerics.density import log_normal
from sbp.experiments.density2d.energies import (BOX, ENERGIES, TARGETS, grid, log_normalizer, sample_target,
                                                target_batches, target_log_density)
from sbp.numerics.dense import logdet_dense
from sbp.numerics.logdet import METHODS, logdet, logdet_metric
from sbp.models.iresnet2d import InvertibleResNet2d
from sbp.models.resnet2d import ResNet2d
from sbp.infra.checkpoint import resume_checkpoint, save_checkpoint, spec_mismatch
from sbp.infra.progress import progress
from sbp.infra.training import cosine_lr, cpu_threads, summarized_warnings
from sbp.numerics.errors import relative_error

__all__ = ["FitResult", "MODELS", "make_model", "spectral_penalty", "anneal_beta", "box_wall", "fit_reverse_kl",
           "fit_forward_kl", "JACOBIANS", "reverse_kl", "forward_kl", "exact_logdet", "model_log_density_grid", "cosine_lr"]


_SINGULAR_HINT = ("the model folds the plane onto a line at these batch rows; training stops rather than step on an "
                  "infinite loss (a smaller lr, or damping > 0 in sbp.logdet_metric for the regularized value)")


MODELS = ("paper", "invertible")  # ResNet2d (Section 3, folds) and InvertibleResNet2d (ours, cannot fold)
# where fit_forward_kl's J comes from: automatic differentiation (sbp.logdet_metric's JVP/VJP products), or
# the model's own forward-mode pass (InvertibleResNet2d.forward_with_jacobian), products by J^T J formed once
JACOBIANS = ("autodiff", "model")


def make_model(model: str, *, width: int, blocks: int, activation: str, seed: int, scale: float = 0.9
               ) -> ResNet2d | InvertibleResNet2d:
    """The 2-D map to train: ``"paper"`` (``ResNet2d``) or ``"invertible"`` (``InvertibleResNet2d``, c = ``scale``)."""
    if model == "paper":
        return ResNet2d(width=width, blocks=blocks, activation=activation, seed=seed)
    if model == "invertible":
        return InvertibleResNet2d(width=width, blocks=blocks, scale=scale, activation=activation, seed=seed)
    raise ValueError(f"unknown model {model!r}; choose one of {MODELS}")


@dataclass
class FitResult:
    """A trained model and its per-iteration history (numpy arrays of length ``iterations``)."""

    model: ResNet2d | InvertibleResNet2d
    method: str
    loss: np.ndarray
    rel_error: np.ndarray  # nan where not monitored (method="exact")
    penalty: np.ndarray
    wall_time: float  # seconds spent training in this process (excludes resumed part)
    iterations: int
    config: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # one line per kind of warning the steps raised, with its count


def spectral_penalty(lambda_max: Tensor, weight: float, threshold: float) -> Tensor:
    """Eq. 8 (form reconstructed): weight * mean_i relu(lambda_max_i - threshold).

    lambda_max = ||J||_2^2 is the power-method estimate (differentiable through its
    Rayleigh quotient); only Jacobians that stretch by more than sqrt(threshold) pay.
    """
    if weight == 0:
        return lambda_max.new_zeros(())
    return weight * torch.relu(lambda_max - threshold).mean()


def anneal_beta(it: int, anneal_iters: int, beta0: float) -> float:
    """Inverse temperature of the energy at iteration ``it`` (0-based): min(1, beta0 + (1 - beta0) it / anneal_iters),
    the annealed free energy of Rezende & Mohamed (2015), Sec. 6.1; always 1 when ``anneal_iters`` is 0."""
    if anneal_iters == 0:
        return 1.0
    return min(1.0, beta0 + (1.0 - beta0) * it / anneal_iters)


def box_wall(x: Tensor, width: float, box: tuple[float, float] = BOX) -> Tensor:
    """Soft wall confining samples to box^2: sum_i relu(dist of x_i beyond the box)^2 / (2 width^2); 0 inside.

    Not in the paper (which uses Eq. 8 against drift): with it, exp(-U - wall) is a proper
    density close to the box-restricted target that KL is reported against.
    """
    lo, hi = box
    out = torch.relu(lo - x) + torch.relu(x - hi)
    return (out ** 2).sum(1) / (2 * width ** 2)


def exact_logdet(f: Callable[[Tensor], Tensor], x: Tensor, chunk: int = 4096) -> Tensor:
    """Exact log det(J^T J) at each row of x, without a graph, in chunks."""
    out = []
    for i in range(0, x.shape[0], chunk):
        xi = x[i:i + chunk].detach()
        out.append(logdet_metric(f, xi, method="exact", jvp_mode="reverse").logdet.detach())
    return torch.cat(out)


def _added_config(width: int, blocks: int, activation: str, grad_mode: str) -> dict:
    """The config keys added after the first checkpoints: only those that differ from their default
    (the paper's model, backprop), so that checkpoints written before a key existed still resume."""
    return {**({} if (width, blocks) == (32, 4) else dict(width=width, blocks=blocks)),
            **({} if activation == "leaky_relu" else dict(activation=activation)),
            **({} if grad_mode == "backprop" else dict(grad_mode=grad_mode))}


def _monitored(monitor: bool | int, it: int) -> bool:
    """``monitor``: True (every iteration), False / 0 (never) or k (every k-th iteration, from the first)."""
    return bool(monitor) and it % int(monitor) == 0


def _check_common(method: str, iterations: int, batch: int, lr: float, order: int, probes: int,
                  lr_final: float | None = None, monitor: bool | int = True) -> None:
    if not isinstance(monitor, int) or monitor < 0:  # bools are ints: True is every iteration, False never
        raise ValueError(f"monitor must be a bool or an int >= 0 (every k-th iteration), got {monitor!r}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    for name, v in (("iterations", iterations), ("batch", batch), ("order", order), ("probes", probes)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if lr_final is not None and not (isinstance(lr_final, (int, float)) and 0 <= lr_final <= lr):
        raise ValueError(f"lr_final must be None or a number in [0, lr], got {lr_final!r}")


def _train(model: ResNet2d, step: Callable[[torch.Generator, torch.Generator, int], tuple[Tensor, Tensor, Tensor | None]], *,
           method: str, iterations: int, lr: float, lr_final: float | None, seed: int,
           checkpoint: str | os.PathLike | None,
           checkpoint_every: int, show_progress: bool, desc: str, config: dict) -> FitResult:
    """Adam loop shared by both fits. ``step(data_gen, probe_gen, it)`` returns (loss, penalty, rel. error or None).
    The step size follows ``cosine_lr`` (constant when ``lr_final`` is None).

    Batches and estimator probes come from two generators, so that every ``method`` sees the
    same batches for the same seed.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed + 1)
    probe_gen = torch.Generator().manual_seed(seed + 2)
    hist = np.full((3, iterations), np.nan)
    start = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    def same_config(state: dict) -> None:
        # a constant step size can be resumed to more iterations; a schedule depends on them
        keys = tuple(k for k in {**state["config"], **config} if not (k == "iterations" and lr_final is None))
        diff = spec_mismatch(state["config"], config, keys)
        if diff:
            raise ValueError(f"checkpoint {ckpt} was written with another configuration "
                             f"(key: (checkpoint, requested)): {diff}")
        if state["iteration"] > iterations:
            raise ValueError(f"checkpoint {ckpt} holds {state['iteration']} iterations, more than {iterations}")

    state = resume_checkpoint(ckpt, same_config) if ckpt is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        probe_gen.set_state(state["probe_gen"])
        start = state["iteration"]
        hist[:, :start] = state["hist"][:, :start]
    t0 = time.perf_counter()
    # tiny ops: one thread is faster, and the result cannot depend on the caller's count; an estimator's warning
    # (a bias bound above the stderr, say) comes once per step: one summary per kind instead
    with cpu_threads(1), summarized_warnings(desc) as said:
        _loop(model, step, opt, gen, probe_gen, hist, start, iterations, ckpt, checkpoint_every, show_progress, desc,
              config, lambda it: cosine_lr(it, iterations, lr, lr_final))
    return FitResult(model=model, method=method, loss=hist[0], penalty=hist[1], rel_error=hist[2],
                     wall_time=time.perf_counter() - t0, iterations=iterations, config=config, warnings=said)


def _loop(model, step, opt, gen, probe_gen, hist, start, iterations, ckpt, checkpoint_every, show_progress, desc,
          config, lr_at: Callable[[int], float]) -> None:
    for it in progress(range(start, iterations), enabled=None if show_progress else False, desc=desc,
                       initial=start, total=iterations):
        for group in opt.param_groups:
            group["lr"] = lr_at(it)
        loss, pen, rel = step(gen, probe_gen, it)
        opt.zero_grad(set_to_none=True)
        (loss + pen).backward()
        opt.step()
        hist[:, it] = (loss.item(), pen.item(), rel.item() if rel is not None else np.nan)
        done = it + 1
        if ckpt is not None and (done % checkpoint_every == 0 or done == iterations):
            save_checkpoint(ckpt, {"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                          "probe_gen": probe_gen.get_state(),
                          "iteration": done, "hist": hist, "config": config})


def fit_reverse_kl(energy: str, *, method: str = "chebyshev", iterations: int = 1000, batch: int = 64,
                   lr: float = 1e-3, lr_final: float | None = None, order: int = 10, probes: int = 2,
                   power_iters: int = 2, jvp_mode: str = "reverse", grad_mode: str = "backprop", reg_weight: float = 0.0,
                   reg_threshold: float = 4.0, anneal_iters: int = 0, beta0: float = 0.01, confine: float = 0.0,
                   width: int = 32, blocks: int = 4, activation: str = "leaky_relu", seed: int = 0,
                   monitor: bool | int = True,
                   checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 200,
                   show_progress: bool = True) -> FitResult:
    """Figure 1: fit f: latent -> data to p ~ exp(-U) by reverse KL through the estimate.

    Loss per batch of z ~ N(0, I) (Eq. 1): mean[log p_Z(z) - 1/2 logdet(J^T J) + U(f(z))],
    plus ``spectral_penalty(lambda_max, reg_weight, reg_threshold)`` (Eq. 8). Two options that
    are not the paper's (off by default; measured in ``benchmarks/fig12_settings.py --only split``):
    ``anneal_iters`` > 0 multiplies U by ``anneal_beta(it, anneal_iters, beta0)``, and
    ``confine`` > 0 adds ``box_wall(f(z), confine)``; the recorded loss includes both. The model is
    ``ResNet2d(width=width, blocks=blocks, activation=activation, seed=seed)`` (the paper's: width 32,
    4 blocks, LeakyReLU; a smooth ``activation`` is ours, see ``sbp.models.activations``); z and the
    estimator's probes come from a generator seeded by ``seed``, so equal seeds give the same batches
    for every ``method``. ``grad_mode`` is ``sbp.logdet_metric``'s ("lowmem": an unbiased gradient of the
    same estimate from a second recurrence, not autograd through the polynomial: 2x cheaper at order 100
    here). With ``monitor`` the exact log det is also computed (no graph) and
    ``relative_error`` recorded (an int k: every k-th iteration, nan between; training is unchanged).
    """
    _check_common(method, iterations, batch, lr, order, probes, lr_final, monitor)
    if energy not in ENERGIES:
        raise ValueError(f"unknown energy {energy!r}; choose one of {sorted(ENERGIES)}")
    if reg_weight < 0 or reg_threshold <= 0:
        raise ValueError(f"need reg_weight >= 0 and reg_threshold > 0, got {reg_weight}, {reg_threshold}")
    if not isinstance(anneal_iters, int) or isinstance(anneal_iters, bool) or anneal_iters < 0:
        raise ValueError(f"anneal_iters must be an int >= 0, got {anneal_iters!r}")
    if not 0 < beta0 <= 1:
        raise ValueError(f"beta0 must be in (0, 1], got {beta0!r}")
    if not (confine >= 0 and math.isfinite(confine)):
        raise ValueError(f"confine (the wall's width, 0 for none) must be a finite number >= 0, got {confine!r}")
    U = ENERGIES[energy]
    model = ResNet2d(width=width, blocks=blocks, activation=activation, seed=seed)
    kw = dict(jvp_mode=jvp_mode) if method == "exact" else dict(order=order, probes=probes, power_iters=power_iters,
                                                               jvp_mode=jvp_mode, grad_mode=grad_mode)

    def step(gen: torch.Generator, probe_gen: torch.Generator, it: int):
        z = torch.randn(batch, 2, generator=gen, dtype=torch.float64)
        est = logdet_metric(model, z, method=method, generator=probe_gen, **kw)
        check_finite_logdet(est.logdet.detach(), it, _SINGULAR_HINT)
        x = model(z)
        ll = log_normal(z) - 0.5 * est.logdet
        energy_term = anneal_beta(it, anneal_iters, beta0) * U(x)  # beta = 1 (exact) without annealing
        if confine > 0:
            energy_term = energy_term + box_wall(x, confine)
        loss = (ll + energy_term).mean()
        rel = None
        if _monitored(monitor, it) and method != "exact":
            with torch.no_grad():
                ll_exact = log_normal(z) - 0.5 * exact_logdet(model, z)
            rel = relative_error(ll.detach(), ll_exact).mean()
        return loss, spectral_penalty(est.lambda_max, reg_weight, reg_threshold), rel

    config = dict(kind="reverse", energy=energy, method=method, iterations=iterations, batch=batch, lr=lr,
                  lr_final=lr_final, order=order, probes=probes, power_iters=power_iters, jvp_mode=jvp_mode,
                  reg_weight=reg_weight, reg_threshold=reg_threshold, anneal_iters=anneal_iters, beta0=beta0,
                  confine=confine, seed=seed, **_added_config(width, blocks, activation, grad_mode))
    return _train(model, step, method=method, iterations=iterations, lr=lr, lr_final=lr_final, seed=seed,
                  checkpoint=checkpoint,
                  checkpoint_every=checkpoint_every, show_progress=show_progress, desc=f"{energy} {method}",
                  config=config)


def fit_forward_kl(target: str, *, method: str = "chebyshev", iterations: int = 1000, batch: int = 64,
                   lr: float = 1e-3, lr_final: float | None = None, order: int = 10, probes: int = 2,
                   power_iters: int = 2, seed: int = 0, jvp_mode: str = "reverse", grad_mode: str = "backprop",
                   width: int = 32, blocks: int = 4,
                   activation: str = "leaky_relu", model: str = "paper", scale: float = 0.9,
                   jacobian: str = "autodiff", monitor: bool | int = True,
                   checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 200,
                   show_progress: bool = True) -> FitResult:
    """Figure 2: fit g: data -> latent by maximum likelihood on fresh exact samples of ``target``.

    Loss per batch x ~ p: -mean[log p_Z(g(x)) + 1/2 logdet(J_g^T J_g)]. The model is
    ``make_model(model, width=width, blocks=blocks, activation=activation, seed=seed, scale=scale)``:
    the paper's ``ResNet2d`` (default) or ``"invertible"``, ours, whose q integrates to one.
    ``jacobian``: ``"autodiff"`` estimates through ``sbp.logdet_metric(g, x, jvp_mode=jvp_mode)``;
    ``"model"`` (the invertible model only) takes J from ``g.forward_with_jacobian`` and runs the same
    estimator (``sbp.logdet`` on J^T J: Chebyshev, Rademacher probes, power method; or exact) on it,
    3x cheaper a step for d = 2 and equal to ``jvp_mode="dense"`` to rounding.
    """
    _check_common(method, iterations, batch, lr, order, probes, lr_final, monitor)
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {TARGETS}")
    net = make_model(model, width=width, blocks=blocks, activation=activation, seed=seed, scale=scale)
    if jacobian not in JACOBIANS or (jacobian == "model" and not hasattr(net, "forward_with_jacobian")):
        raise ValueError(f"jacobian must be one of {JACOBIANS} ('model' needs model='invertible'), "
                         f"got {jacobian!r} with model={model!r}")
    kw = dict(order=order, probes=probes, power_iters=power_iters, grad_mode=grad_mode) if method != "exact" else {}
    once = getattr(net, "normalized_once", contextlib.nullcontext)  # the invertible model's weights once a step

    batch_at = target_batches(target, batch, seed)

    def step(gen: torch.Generator, probe_gen: torch.Generator, it: int):
        x = batch_at(gen, it)
        with once():
            if jacobian == "model":
                zx, J = net.forward_with_jacobian(x)
                G = J.mT @ J  # (B, d, d): products G v as matrix products
                est = logdet(lambda V: torch.einsum("bde,pbe->pbd", G, V), x.shape[1], batch=batch, method=method,
                             generator=probe_gen, dtype=x.dtype, **kw)
            else:
                est = logdet_metric(net, x, method=method, generator=probe_gen, jvp_mode=jvp_mode, **kw)
                zx, G = net(x), None
            check_finite_logdet(est.logdet.detach(), it, _SINGULAR_HINT)
            ll = log_normal(zx) + 0.5 * est.logdet
            rel = None
            if _monitored(monitor, it) and method != "exact":
                with torch.no_grad():
                    exact = exact_logdet(net, x) if G is None else logdet_dense(G.detach())
                    rel = relative_error(ll.detach(), log_normal(zx.detach()) + 0.5 * exact).mean()
        return -ll.mean(), ll.new_zeros(()), rel

    config = dict(kind="forward", target=target, method=method, iterations=iterations, batch=batch, lr=lr,
                  lr_final=lr_final, order=order, probes=probes, power_iters=power_iters, jvp_mode=jvp_mode,
                  seed=seed, **_added_config(width, blocks, activation, grad_mode),
                  **({} if model == "paper" else dict(model=model, scale=scale)),
                  **({} if jacobian == "autodiff" else dict(jacobian=jacobian)))
    return _train(net, step, method=method, iterations=iterations, lr=lr, lr_final=lr_final, seed=seed,
                  checkpoint=checkpoint,
                  checkpoint_every=checkpoint_every, show_progress=show_progress, desc=f"{target} {method}",
                  config=config)


def reverse_kl(model: Callable[[Tensor], Tensor], energy: str, *, n: int = 10_000, seed: int = 12345,
               box: tuple[float, float] = BOX) -> dict:
    """KL(q || p) in nats for q = law of f(z), by Monte Carlo over n samples with the exact log det.

    KL = mean[log p_Z(z) - 1/2 logdet(J^T J) + U(f(z))] + log Z_box, Z by quadrature on box^2.
    Returns kl, its Monte Carlo standard error, the fraction of samples outside the box
    (where p_box = 0: for U2-U4 a positive fraction means the number is the KL to
    exp(-U)/Z_box extended beyond the box, not a true KL), the samples and their codes z.
    """
    if energy not in ENERGIES:
        raise ValueError(f"unknown energy {energy!r}; choose one of {sorted(ENERGIES)}")
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        x = model(z)
    terms = log_normal(z) - 0.5 * exact_logdet(model, z) + ENERGIES[energy](x)
    terms = terms + log_normalizer(energy, box)
    lo, hi = box
    outside = float(((x < lo) | (x > hi)).any(1).double().mean())
    return dict(kl=float(terms.mean()), kl_stderr=float(terms.std() / math.sqrt(n)), outside=outside,
                samples=x.numpy(), codes=z)


def forward_kl(model: Callable[[Tensor], Tensor], target: str, *, n: int = 10_000, seed: int = 12345) -> dict:
    """KL(p || q) = E_p[log p(x) - log q(x)] in nats over n exact samples of the target, exact log det.

    For a non-invertible g, q is not normalized (its mass is ``model_mass``); the number is
    then the KL to an unnormalized measure and can be negative (the paper notes the model
    puts mass outside the target's support).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {TARGETS}")
    x = sample_target(target, n, generator=seed)
    with torch.no_grad():
        lq = log_normal(model(x))
    lq = lq + 0.5 * exact_logdet(model, x)
    terms = target_log_density(target, x) - lq
    return dict(kl=float(terms.mean()), kl_stderr=float(terms.std() / math.sqrt(n)))


def model_log_density_grid(model: Callable[[Tensor], Tensor], box: tuple[float, float] = BOX, n: int = 200
                           ) -> tuple[np.ndarray, float]:
    """log q(x) = log p_Z(g(x)) + 1/2 logdet(J_g^T J_g) on an n x n grid (rows: x2), and the
    mass of q on the box by the midpoint rule."""
    pts, _, area = grid(box, n)
    with torch.no_grad():
        lz = log_normal(model(pts))
    lq = lz + 0.5 * exact_logdet(model, pts)
    mass = float(torch.logsumexp(lq, 0).exp() * area)
    return lq.reshape(n, n).numpy(), mass
