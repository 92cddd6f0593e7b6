"""Estimator-trained vs exact-trained 2-D models (Section 3, Figures 1-2): the numbers the notebooks report.

``evaluate_reverse`` (Figure 1) and ``evaluate_forward`` (Figure 2) take the two ``FitResult``s
of one energy / target (same seed, batches and budget; one trained through the estimator,
one through the exact log det) and return their KLs, the paper's target
(``kl_target_met``: the estimator-trained KL within 0.05 nats or 10 % of the exact-trained
one), the estimator's relative error over training, and the samples the figures show.
``sample_grid`` draws from a density given on a grid, which is how Figure 2's model q
(g maps data to latent, so q cannot be sampled by pushing z forward) is sampled.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from sbp.experiments.density2d.energies import BOX, SPLIT_WINDOWS, sample_energy, sample_target, split_share
from sbp.experiments.density2d.fit import FitResult, forward_kl, model_log_density_grid, reverse_kl
from sbp.experiments.density2d.fit_quality import folded_share, tv_density_grid, tv_distance

__all__ = ["kl_target_met", "sample_grid", "evaluate_reverse", "evaluate_forward", "forward_goals"]


def kl_target_met(kl_estimator: float, kl_exact: float, atol: float = 0.05, rtol: float = 0.1) -> bool:
    """The paper's target: |KL_estimator - KL_exact| <= max(atol, rtol |KL_exact|) (0.05 nats or 10 %)."""
    for name, v in (("kl_estimator", kl_estimator), ("kl_exact", kl_exact)):
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    if not (atol >= 0 and rtol >= 0):
        raise ValueError(f"atol and rtol must be >= 0, got {atol!r}, {rtol!r}")
    return bool(abs(kl_estimator - kl_exact) <= max(atol, rtol * abs(kl_exact)))


def sample_grid(log_density: Tensor | np.ndarray, n: int, *, generator: torch.Generator,
                box: tuple[float, float] = BOX) -> Tensor:
    """n exact draws (n, 2) float64 from a density known on the m x m midpoint grid of box^2.

    ``log_density`` (m, m), rows x2 and columns x1 as ``model_log_density_grid`` returns it,
    unnormalized. Draws a cell with probability softmax(log_density) (multinomial, with
    replacement), then a point uniformly within it: the law of q restricted to the grid.
    The cells' corners are formed in float32 (then widened to float64, and the float64
    in-cell offsets added), the arithmetic of the committed Figure 2 samples.
    """
    lq = torch.as_tensor(log_density)
    if lq.dim() != 2 or lq.shape[0] != lq.shape[1] or lq.shape[0] < 1:
        raise ValueError(f"log_density must be a square (m, m) grid, got shape {tuple(lq.shape)}")
    if not lq.is_floating_point():
        raise TypeError(f"log_density must be floating point, got {lq.dtype}")
    if bool(torch.isnan(lq).any()) or bool((lq == math.inf).any()) or not bool(torch.isfinite(lq).any()):
        raise ValueError("log_density must be free of NaN and +inf and have at least one finite cell")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    lo, hi = (float(b) for b in box)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"box must be (lo, hi) with finite lo < hi, got {box}")
    m = lq.shape[0]
    h = (hi - lo) / m
    p = torch.softmax(lq.reshape(-1), 0)
    idx = torch.multinomial(p, n, replacement=True, generator=generator)
    corners = torch.stack([lo + h * (idx % m).to(torch.float32), lo + h * (idx // m).to(torch.float32)], 1)
    return corners.double() + h * torch.rand(n, 2, generator=generator, dtype=torch.float64)


def _check_pair(estimator: FitResult, exact: FitResult, kind: str, n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n (evaluation samples) must be an int >= 2, got {n!r}")
    for name, run in (("estimator", estimator), ("exact", exact)):
        if not isinstance(run, FitResult):
            raise TypeError(f"{name} must be a FitResult, got {type(run).__name__}")
        if run.config.get("kind", kind) != kind:
            raise ValueError(f"{name} was trained by a {run.config['kind']!r} fit, not a {kind!r} one")
    if estimator.method == "exact" or exact.method != "exact":
        raise ValueError(f"need an estimator-trained and an exact-trained model, got methods "
                         f"{estimator.method!r} and {exact.method!r}")


def _training_summary(estimator: FitResult, exact: FitResult) -> dict:
    rel = estimator.rel_error
    rel = rel[~np.isnan(rel)]  # the monitored iterations
    med, p90 = (float(np.median(rel)), float(np.percentile(rel, 90))) if rel.size else (math.nan, math.nan)
    return dict(rel_error_median=med, rel_error_p90=p90,
                iterations=estimator.iterations, wall_time_estimator_s=estimator.wall_time,
                wall_time_exact_s=exact.wall_time)


def evaluate_reverse(estimator: FitResult, exact: FitResult, energy: str, *, n: int, kl_seed: int,
                     target_seed: int) -> tuple[dict, dict[str, np.ndarray]]:
    """Figure 1's numbers for one energy: KL(q || p) of both models and, for U3 / U4, their splits.

    KL by ``reverse_kl`` over the same n codes z (seeded ``kl_seed``) for both models; the
    target check ``kl_target_met``; the median and 90th percentile of the estimator's relative
    error over training; the binned total variation to the box-restricted target (``tv_distance``)
    of both models' samples and, as the floor that binning noise sets, of n exact target samples
    (``tv_<who>``); the share of the n codes that lie beyond a fold (``folded_share``, ``folded_<who>``:
    there Eq. 1 counts one preimage of several, so the KL is a lower bound). For the energies of
    ``SPLIT_WINDOWS``, ``split_share`` of both models' samples and of n exact target samples (``sample_energy``, seeded ``target_seed``), as
    ``split_lower_<who>`` and ``split_window_<who>``. Returns (metrics, samples) with samples
    ``{"estimator": (n, 2), "exact": (n, 2)}``.
    """
    _check_pair(estimator, exact, "reverse", n)
    ev = {"estimator": reverse_kl(estimator.model, energy, n=n, seed=kl_seed),
          "exact": reverse_kl(exact.model, energy, n=n, seed=kl_seed)}
    k_est, k_ex = ev["estimator"]["kl"], ev["exact"]["kl"]
    metrics = dict(kl_estimator=k_est, kl_estimator_stderr=ev["estimator"]["kl_stderr"],
                   kl_exact=k_ex, kl_exact_stderr=ev["exact"]["kl_stderr"],
                   outside_box_estimator=ev["estimator"]["outside"], outside_box_exact=ev["exact"]["outside"],
                   target_met=kl_target_met(k_est, k_ex), **_training_summary(estimator, exact))
    target = sample_energy(energy, n, generator=target_seed)
    for k, run in (("estimator", estimator), ("exact", exact)):
        metrics[f"tv_{k}"] = tv_distance(ev[k]["samples"], energy)
        metrics[f"folded_{k}"] = folded_share(run.model, ev[k]["codes"])
    metrics["tv_target"] = tv_distance(target, energy)
    if energy in SPLIT_WINDOWS:  # is the split learned? share of the window's samples on the lower branch
        shares = {k: split_share(energy, torch.from_numpy(ev[k]["samples"])) for k in ("estimator", "exact")}
        shares["target"] = split_share(energy, target)
        for k, sh in shares.items():
            metrics[f"split_lower_{k}"], metrics[f"split_window_{k}"] = sh["lower"], sh["window"]
    return metrics, {k: ev[k]["samples"] for k in ("estimator", "exact")}


def evaluate_forward(estimator: FitResult, exact: FitResult, target: str, *, n: int, kl_seed: int,
                     sample_seed: int, target_seed: int, grid_n: int = 200, box: tuple[float, float] = BOX,
                     fold_mesh: int = 80) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Figure 2's numbers for one target: KL(p || q) of both models, q's mass M on the box, KL(p || q / M).

    KL by ``forward_kl`` over the same n target samples (seeded ``kl_seed``); log q and M on the
    ``grid_n`` x ``grid_n`` grid of the box (``model_log_density_grid``); KL(p || q / M) = KL(p || q)
    + log M (q renormalized on the box, where p lives; M > 1 when g folds; the same standard error, M
    being a quadrature), each with ``kl_target_met``; the binned total variation to the target on 40 x 40
    bins of q / M (``tv_<who>``) and of q as it is (``tv_unnormalized_<who>``: mass missing from the box
    or beyond one counts, ``tv_density_grid(normalize=False)``); the share of the box that g covers more
    than once (``folded_<who>``, ``folded_share`` on a ``fold_mesh`` mesh). Samples: n draws of the
    estimator-trained q by ``sample_grid`` (generator seeded ``sample_seed``) and n exact target samples
    (seeded ``target_seed``). Returns (metrics, samples ``{"model", "target"}``, log q grids ``{"estimator", "exact"}``).
    """
    _check_pair(estimator, exact, "forward", n)
    ev, grids, mass = {}, {}, {}
    for k, run in (("estimator", estimator), ("exact", exact)):
        ev[k] = forward_kl(run.model, target, n=n, seed=kl_seed)
        grids[k], mass[k] = model_log_density_grid(run.model, box, grid_n)
    k_est, k_ex = ev["estimator"]["kl"], ev["exact"]["kl"]
    kn_est, kn_ex = k_est + math.log(mass["estimator"]), k_ex + math.log(mass["exact"])
    metrics = dict(kl_estimator=k_est, kl_estimator_stderr=ev["estimator"]["kl_stderr"], kl_exact=k_ex,
                   kl_exact_stderr=ev["exact"]["kl_stderr"], model_mass_on_box_estimator=mass["estimator"],
                   model_mass_on_box_exact=mass["exact"], kl_normalized_estimator=kn_est,
                   kl_normalized_estimator_stderr=ev["estimator"]["kl_stderr"], kl_normalized_exact=kn_ex,
                   kl_normalized_exact_stderr=ev["exact"]["kl_stderr"],
                   target_met_normalized=kl_target_met(kn_est, kn_ex),
                   target_met=kl_target_met(k_est, k_ex), **_training_summary(estimator, exact))
    for k, run in (("estimator", estimator), ("exact", exact)):
        metrics[f"tv_{k}"] = tv_density_grid(grids[k], target, box=box)
        metrics[f"tv_unnormalized_{k}"] = tv_density_grid(grids[k], target, box=box, normalize=False)
        metrics[f"folded_{k}"] = folded_share(run.model, box=box, mesh=fold_mesh)
    g = torch.Generator().manual_seed(sample_seed)
    samples = {"model": sample_grid(grids["estimator"], n, generator=g, box=box).numpy(),
               "target": sample_target(target, n, generator=target_seed).numpy()}
    return metrics, samples, grids


def forward_goals(metrics: dict, tv_goal: float, *, mass: tuple[float, float] = (0.97, 1.0), gap: float = 0.03
                  ) -> dict:
    """Figure 2's goals on ``evaluate_forward``'s metrics: the estimator-trained TV(q / M, p) <= ``tv_goal``,
    both models' mass on the box in ``mass`` (up to 1e-3 above, the quadrature's error), and the estimator-trained
    TV within ``gap`` of the exact-trained one. Returns the three flags and the goal, as metric fields."""
    lo, hi = mass
    masses = (metrics["model_mass_on_box_estimator"], metrics["model_mass_on_box_exact"])
    return dict(goal_tv=tv_goal, goal_tv_met=bool(metrics["tv_estimator"] <= tv_goal),
                goal_mass_met=bool(all(lo <= m <= hi + 1e-3 for m in masses)),
                goal_gap_met=bool(abs(metrics["tv_estimator"] - metrics["tv_exact"]) <= gap))
