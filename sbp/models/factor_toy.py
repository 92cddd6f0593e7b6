"""A generator with known explanatory factors, to calibrate ``sbp.experiments.latent.disentangle``.

``stripe_generator(M)`` maps z (B, d) to factors y = M z and renders factor j as the
intensity ``gain_j * tanh(y_j)`` of its own horizontal stripe of the image. The
renderer's Jacobian columns are disjoint, hence orthogonal, so for an orthogonal M = Q
the eigenvectors of J^T J are exactly the pure factor directions Q^T e_j
(the calibration of ``tests/test_disentangle.py``); for a generic M they mix
factors. ``stripe_predictor`` reads the factors back (mean intensity of each stripe).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.checks import as_generator

__all__ = ["random_rotation", "stripe_generator", "stripe_predictor"]


def random_rotation(d: int, *, generator: torch.Generator | int | None, dtype: torch.dtype = torch.float64
                    ) -> Tensor:
    """A Haar-random orthogonal d x d matrix."""
    gen = as_generator(generator, torch.device("cpu"))
    Q, R = torch.linalg.qr(torch.randn((d, d), generator=gen, dtype=torch.float64))
    return (Q * torch.sign(torch.diagonal(R))).to(dtype)


def _stripes(n_factors: int, resolution: int) -> list[slice]:
    if resolution < n_factors:
        raise ValueError(f"resolution must be >= the number of factors {n_factors}, got {resolution}")
    edges = torch.linspace(0, resolution, n_factors + 1).round().long().tolist()
    return [slice(edges[j], edges[j + 1]) for j in range(n_factors)]


def stripe_generator(mixing: Tensor, resolution: int = 12, gains: Tensor | None = None
                     ) -> Callable[[Tensor], Tensor]:
    """z (B, d) -> images (B, 1, resolution, resolution); factors y = z @ mixing.T (F = mixing rows)."""
    if mixing.dim() != 2:
        raise ValueError(f"mixing must be a matrix (F, d), got shape {tuple(mixing.shape)}")
    F = mixing.shape[0]
    rows = _stripes(F, resolution)
    gains = torch.linspace(2.0, 1.0, F, dtype=mixing.dtype) if gains is None else gains
    mask = torch.zeros(F, resolution, dtype=mixing.dtype)
    for j, s in enumerate(rows):
        mask[j, s] = gains[j]

    def G(z: Tensor) -> Tensor:
        y = torch.tanh(z @ mixing.T.to(z.dtype))  # (B, F)
        col = y @ mask.to(z.dtype)  # (B, R): row intensities
        return col[:, None, :, None].expand(-1, 1, -1, resolution)

    return G


def stripe_predictor(n_factors: int, resolution: int = 12) -> Callable[[Tensor], Tensor]:
    """images (B, 1, R, R) -> (B, F): mean intensity of each factor's stripe."""
    rows = _stripes(n_factors, resolution)

    def P(x: Tensor) -> Tensor:
        return torch.stack([x[:, :, s, :].mean(dim=(1, 2, 3)) for s in rows], dim=-1)

    return P
