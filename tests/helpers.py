"""Shared test fixtures: linear maps with designed spectra, a small MLP, z-scores.

The fixtures are the tests' own: the numerics tests do not depend on the experiments layer
(``sbp.experiments.benchmark`` builds its designed problems the same way, on purpose
independently).
"""
from __future__ import annotations

import torch
from torch import nn


def designed_map(singular_values: torch.Tensor, out_dim: int, seed: int = 0) -> torch.Tensor:
    """A (D x d) float64 matrix U diag(s) V^T with seeded random orthonormal U, V: log det(A^T A) = 2 sum log s."""
    g = torch.Generator().manual_seed(seed)
    d = singular_values.numel()
    left = torch.linalg.qr(torch.randn(out_dim, d, generator=g, dtype=torch.float64)).Q
    right = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64)).Q
    return left @ torch.diag(singular_values.to(torch.float64)) @ right.T


def zscores(samples: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(mean - truth) / standard error, elementwise, over the first axis of ``samples``."""
    n = samples.shape[0]
    se = samples.std(0) / n ** 0.5
    return (samples.mean(0) - truth) / se


def mlp(d: int, D: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Module:
    """A small tanh MLP R^d -> R^D with seeded weights: a nonlinear map to test against exact."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, D)).to(dtype)
