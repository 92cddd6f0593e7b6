"""How aberrant are outputs? Nearest-neighbour distance to data against ordinary samples (Section 4).

The paper calls the outputs of likelihood ascent "aberrant" (Figure 4). Here that is a number:
each output's pixel distance to its nearest data image, placed among the same distances of
ordinary samples G(z), z ~ N(0, I): its quantile there (1.0: farther than every ordinary sample).
"""
from __future__ import annotations

import torch
from torch import Tensor

from sbp.experiments.latent.ascent import AscentTrace, nearest_neighbour_distance

__all__ = ["aberrance_quantile", "aberrance", "ascent_rows", "claim_check"]


def aberrance_quantile(distances: Tensor, ordinary: Tensor) -> Tensor:
    """Fraction (N,) of ``ordinary`` (M,) nearest-neighbour distances strictly below each of ``distances`` (N,)."""
    if not isinstance(distances, Tensor) or not isinstance(ordinary, Tensor) or distances.dim() != 1 \
            or ordinary.dim() != 1 or ordinary.numel() < 1:
        raise ValueError("distances and ordinary must be 1-D tensors, ordinary not empty")
    if not (torch.isfinite(distances).all() and torch.isfinite(ordinary).all()):
        raise ValueError("distances and ordinary must be finite")
    return (ordinary[None, :].float() < distances[:, None].float()).float().mean(1)


def aberrance(x: Tensor, reference: Tensor, ordinary_samples: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest-neighbour distance (N,) of outputs ``x`` to data ``reference`` and its quantile among the
    distances of ``ordinary_samples`` (M, ...) to the same data: (distance, quantile)."""
    dist = nearest_neighbour_distance(x, reference)
    return dist, aberrance_quantile(dist, nearest_neighbour_distance(ordinary_samples, reference))


def ascent_rows(trace: AscentTrace, reference: Tensor, ordinary_nn: Tensor, **labels: str) -> list[dict]:
    """Table 1 rows, one per trial of ``trace``: initial and final exact log-likelihood, cond(J^T J), ||z||,
    nearest-neighbour distance to ``reference`` and its quantile among ``ordinary_nn``, the change of
    log det and the part of it the gradient accounted for; ``labels`` (generator, ascent...) lead each row."""
    nn0, nn1 = (nearest_neighbour_distance(trace.images[i], reference) for i in (0, -1))
    q0, q1 = aberrance_quantile(nn0, ordinary_nn), aberrance_quantile(nn1, ordinary_nn)
    rows = []
    for i in range(trace.latents[0].shape[0]):
        rows.append({**labels, "trial": "abcdefghijklmnopqrstuvwxyz"[i % 26],
                     "loglik_initial": float(trace.loglik[0][i]), "loglik_final": float(trace.loglik[-1][i]),
                     "cond_initial": float(trace.condition[0][i]), "cond_final": float(trace.condition[-1][i]),
                     "z_norm_initial": float(trace.latents[0][i].norm()),
                     "z_norm_final": float(trace.latents[-1][i].norm()),
                     "nn_dist_initial": float(nn0[i]), "nn_dist_final": float(nn1[i]),
                     "nn_quantile_initial": float(q0[i]), "nn_quantile_final": float(q1[i]),
                     "logdet_change": float(trace.logdet[-1][i] - trace.logdet[0][i]),
                     "logdet_change_first_order": float(trace.logdet_first_order[-1][i])})
    return rows


def claim_check(rows: list[dict], aberrant_quantile: float = 0.95) -> dict:
    """The paper's three claims on ``ascent_rows``: does the likelihood rise (mean gain, nats), does
    cond(J^T J) grow (geometric-mean ratio), how many final outputs are farther from the data than
    ``aberrant_quantile`` of ordinary samples."""
    if not rows:
        raise ValueError("rows must not be empty")
    gain = torch.tensor([r["loglik_final"] - r["loglik_initial"] for r in rows])
    ratio = torch.tensor([r["cond_final"] / r["cond_initial"] for r in rows]).log().mean().exp()
    aberrant = sum(r["nn_quantile_final"] >= aberrant_quantile for r in rows)
    return {"loglik_gain_mean": float(gain.mean()), "loglik_rises_in": f"{int((gain > 0).sum())}/{len(rows)}",
            "cond_ratio_geomean": float(ratio), "cond_grows": bool(ratio > 1),
            "aberrant_final": f"{aberrant}/{len(rows)}",
            "nn_quantile_final_mean": sum(r["nn_quantile_final"] for r in rows) / len(rows)}
