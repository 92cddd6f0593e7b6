"""Measuring the "quasi-disentangled explanatory factors" of Section 5 (beyond the paper).

On data with known factors, a factor predictor P (image -> factor readings) reads the
factors of G(z +- eps u) for a direction u in latent space. The change of factor j is

    c_j(u) = || P_j(G(z + eps u)) - P_j(G(z - eps u)) || / (2 s_j),

where P_j are the predictor's outputs for factor j (two, cos and sin, for a periodic
factor) and s_j a spread of factor j in the data (so factors are comparable). Per
direction: the share of the total factor change taken by the largest factor
(max_j c_j / sum_j c_j; 1/F for an even mix, 1 for a pure direction), the purity
1 - H(c / sum c) / log F, and which factor is largest. Over the top-k directions: how
many distinct factors they move most (coverage). Each number is reported for the top
eigenvectors of J^T J and for random orthonormal directions at the same z (the null),
with standard errors over z and the paired difference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from sbp.numerics.checks import as_generator, check_latent
from sbp.experiments.latent.effective_dim import mean_stderr, perturbed_outputs

__all__ = ["factor_changes", "DirectionScores", "direction_scores", "coverage", "random_orthonormal",
           "compare_directions", "factor_profile", "factor_spread", "group_rms"]


def factor_changes(predictor: Callable[[Tensor], Tensor], f: Callable[[Tensor], Tensor], z: Tensor,
                   directions: Tensor, eps: float, *, groups: Sequence[Sequence[int]] | None = None,
                   scale: Tensor | Sequence[float] | None = None, chunk: int = 64) -> Tensor:
    """Factor changes c (B, K, F) along each column of ``directions`` (B, d, K), central differences.

    ``groups[j]`` lists the predictor's output columns of factor j (default: one column
    per factor); ``scale[j]`` is factor j's spread in the data (default 1).
    """
    B = check_latent(z).shape[0]
    with torch.no_grad():
        readings = []
        for sign in (1.0, -1.0):
            x = perturbed_outputs(f, z, sign * directions, eps, chunk)
            x = x.reshape(-1, *x.shape[2:])
            readings.append(torch.cat([predictor(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)]))
    K = directions.shape[2]
    if readings[0].dim() != 2 or readings[0].shape[0] != B * K:
        raise ValueError(f"predictor must map images to (N, outputs), got shape {tuple(readings[0].shape)}")
    diff = ((readings[0] - readings[1]) / 2).reshape(B, K, -1)
    n_out = diff.shape[-1]
    groups = [[j] for j in range(n_out)] if groups is None else [list(g) for g in groups]
    flat = sorted(i for g in groups for i in g)
    if not groups or any(not g for g in groups) or any(i < 0 or i >= n_out for i in flat):
        raise ValueError(f"groups must be non-empty lists of output columns in [0, {n_out}), got {groups}")
    c = torch.stack([diff[..., g].norm(dim=-1) for g in groups], dim=-1)  # (B, K, F)
    if scale is not None:
        s = torch.as_tensor(scale, dtype=c.dtype, device=c.device)
        if s.shape != (len(groups),) or not bool((s > 0).all()):
            raise ValueError(f"scale must have {len(groups)} entries > 0, got {scale}")
        c = c / s
    return c


@dataclass(frozen=True)
class DirectionScores:
    """Per (sample, direction): share of the largest factor, purity, largest factor, total change."""

    share: Tensor  # (B, K) in [1/F, 1]
    purity: Tensor  # (B, K) in [0, 1]
    top_factor: Tensor  # (B, K) long
    total: Tensor  # (B, K) sum_j c_j


def direction_scores(changes: Tensor) -> DirectionScores:
    """Scores of factor changes (B, K, F), F >= 2."""
    if changes.dim() != 3 or changes.shape[-1] < 2:
        raise ValueError(f"changes must have shape (B, K, F) with F >= 2, got {tuple(changes.shape)}")
    total = changes.sum(-1)
    p = changes / total.clamp_min(torch.finfo(changes.dtype).tiny)[..., None]
    ent = -(p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))).sum(-1)
    return DirectionScores(share=p.max(-1).values, purity=1 - ent / math.log(changes.shape[-1]),
                           top_factor=changes.argmax(-1), total=total)


def coverage(top_factor: Tensor, n_factors: int) -> Tensor:
    """Number of distinct factors among the largest factors of K directions: (B, K) -> (B,)."""
    onehot = torch.nn.functional.one_hot(top_factor, n_factors)  # (B, K, F)
    return (onehot.sum(1) > 0).sum(-1).to(torch.float64)


def random_orthonormal(batch: int, dim: int, count: int, *, generator: torch.Generator | int | None,
                       dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Tensor:
    """``count`` <= ``dim`` orthonormal directions per sample, Haar-distributed: (batch, dim, count)."""
    if count > dim:
        raise ValueError(f"count must be <= dim={dim}, got {count}")
    device = torch.device(device)
    gen = as_generator(generator, device)
    gen_device = gen.device if gen is not None else device
    A = torch.randn((batch, dim, count), generator=gen, device=gen_device, dtype=torch.float64)
    Q, R = torch.linalg.qr(A)
    Q = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))[:, None, :]  # Haar, not QR-biased
    return Q.to(device=device, dtype=dtype)


def factor_spread(readings: Tensor, groups: Sequence[Sequence[int]]) -> Tensor:
    """Spread s_j of each factor in data: root of the total variance of its reading columns (N, outputs).

    For a non-periodic factor this is its standard deviation; for a uniform angle read as
    (cos, sin) it is 1 (a change of one radian moves the reading by about 1).
    """
    var = readings.to(torch.float64).var(0)
    return torch.stack([var[list(g)].sum().sqrt() for g in groups])


def group_rms(x: Tensor, groups: Sequence[Sequence[int]]) -> Tensor:
    """Root mean over rows of the squared norm of each group's columns: (N, outputs) -> (F,).

    With x = readings - truth and ``groups`` the factors' columns, the RMS reading error of
    each factor (divide by ``factor_spread`` to compare factors).
    """
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] < 1:
        raise ValueError(f"x must be a (N >= 1, outputs) tensor, got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    groups = [list(g) for g in groups]
    if not groups or any(not g or min(g) < 0 or max(g) >= x.shape[1] for g in groups):
        raise ValueError(f"groups must be non-empty lists of columns in [0, {x.shape[1]}), got {groups}")
    return torch.stack([x[:, g].pow(2).sum(1).mean().sqrt() for g in groups])


def factor_profile(changes: Tensor) -> Tensor:
    """Mean over samples of each direction's normalised factor changes: (B, K, F) -> (K, F), rows sum to 1."""
    p = changes / changes.sum(-1, keepdim=True).clamp_min(torch.finfo(changes.dtype).tiny)
    return p.mean(0)


def _summary(x: Tensor) -> dict[str, float]:
    m, se = mean_stderr(x.to(torch.float64))
    return {"mean": float(m), "stderr": float(se)}


def compare_directions(predictor: Callable[[Tensor], Tensor], f: Callable[[Tensor], Tensor], z: Tensor,
                       eigvecs: Tensor, *, eps: float, groups: Sequence[Sequence[int]] | None = None,
                       scale: Tensor | Sequence[float] | None = None,
                       generator: torch.Generator | int | None = None, chunk: int = 64) -> dict:
    """Eigenvectors (B, d, K) of J^T J against K random orthonormal directions at the same z.

    Returns a dict with, for ``"eigen"``, ``"random"`` and their paired difference
    ``"eigen_minus_random"``: ``share``, ``purity`` (means over the K directions, then
    mean and standard error over z) and ``coverage`` (distinct factors moved most by
    the K directions); plus the raw changes and the factor profiles (K, F).
    """
    B, d = check_latent(z).shape
    K = eigvecs.shape[-1]
    rand = random_orthonormal(B, d, K, generator=generator, dtype=z.dtype, device=z.device)
    out: dict = {"K": K, "B": B, "eps": float(eps)}
    per_z = {}
    for name, dirs in (("eigen", eigvecs), ("random", rand)):
        c = factor_changes(predictor, f, z, dirs, eps, groups=groups, scale=scale, chunk=chunk)
        s = direction_scores(c)
        F = c.shape[-1]
        per_z[name] = {"share": s.share.mean(1), "purity": s.purity.mean(1),
                       "coverage": coverage(s.top_factor, F)}
        out[name] = {k: _summary(v) for k, v in per_z[name].items()}
        out[name]["total_change"] = _summary(s.total.mean(1))
        out[f"{name}_changes"] = c
        out[f"{name}_profile"] = factor_profile(c)
    out["eigen_minus_random"] = {k: _summary(per_z["eigen"][k] - per_z["random"][k]) for k in per_z["eigen"]}
    out["n_factors"] = F
    return out
