"""Shared test fixtures: linear maps with designed spectra."""
from __future__ import annotations

import torch
from torch import nn

from sbp.experiments.benchmark import designed_map  # noqa: F401  (re-exported for the tests)


def zscores(samples: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(mean - truth) / standard error, elementwise, over the first axis of ``samples``."""
    n = samples.shape[0]
    se = samples.std(0) / n ** 0.5
    return (samples.mean(0) - truth) / se


def mlp(d: int, D: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Module:
    """A small tanh MLP R^d -> R^D with seeded weights: a nonlinear map to test against exact."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, D)).to(dtype)
