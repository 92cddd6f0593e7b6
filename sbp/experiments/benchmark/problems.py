"""Benchmark problems: maps with designed spectra, any map with exact values, a DCGAN-like generator."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from sbp.numerics.checks import check_latent, check_positive_int
from sbp.numerics.dense import metric_dense
from sbp.numerics.dense import logdet_dense

F64 = torch.float64


def designed_map(singular_values: Tensor, out_dim: int, seed: int = 0) -> Tensor:
    """A (D x d) matrix A = U diag(s) V^T with random orthonormal U, V; log det(A^T A) = 2 sum log s."""
    d = singular_values.numel()
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(out_dim, d, generator=g, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    return U @ torch.diag(singular_values.to(F64)) @ V.T


@dataclass(frozen=True)
class Problem:
    """log det(J^T J) of ``f`` at the rows of ``z`` with its exact value and spectrum."""

    name: str
    family: str
    f: Callable[[Tensor], Tensor]
    z: Tensor  # (B, d)
    exact: Tensor  # (B,) float64, dense Jacobian + Cholesky
    eigenvalues: Tensor  # (B, d) float64, increasing
    gram: Tensor  # (B, d, d) float64, J^T J (for the GPyTorch comparison)

    @property
    def condition(self) -> float:
        """Median condition number of J^T J over the rows."""
        return (self.eigenvalues[:, -1] / self.eigenvalues[:, 0]).median().item()


def metric_problem(name: str, family: str, f: Callable[[Tensor], Tensor], z: Tensor,
                   jvp_mode: str = "reverse") -> Problem:
    """A ``Problem`` from any map ``f`` and codes ``z`` (B, d): exact values from the dense Jacobian."""
    check_latent(z)
    with torch.no_grad():
        G = metric_dense(f, z, jvp_mode=jvp_mode)
        return Problem(name=name, family=family, f=f, z=z, exact=logdet_dense(G),
                       eigenvalues=torch.linalg.eigvalsh(G), gram=G)


def designed_problem(d: int, condition: float, rows: int = 4, seed: int = 0) -> Problem:
    """J = A (d x d) with log-spaced eigenvalues of J^T J from 1 down to 1/condition.

    The map is linear, so every row of z (zeros) has the same metric and the rows are
    independent repetitions: each gets its own probes.
    """
    check_positive_int(d, "d", minimum=2)
    if not (condition >= 1 and math.isfinite(condition)):
        raise ValueError(f"condition must be a finite number >= 1, got {condition}")
    lam = torch.logspace(0, -math.log10(condition), d, dtype=F64)
    A = designed_map(lam.sqrt(), d, seed=seed)
    return metric_problem(f"designed cond {condition:.0e}", "designed", lambda z: z @ A.T,
                          torch.zeros(rows, d, dtype=F64))



class DCGANLike(nn.Module):
    """Linear -> 4x4 -> stride-2 transposed convolutions -> 3 x resolution x resolution (no batch norm).

    ``resolution`` 64 (four upsamplings, 8w -> w channels) or 32 (three, 4w -> w). Weights
    from ``torch.manual_seed(seed)``.
    """

    def __init__(self, d: int, width: int = 32, seed: int = 0, resolution: int = 64):
        super().__init__()
        ups = {32: 3, 64: 4}.get(resolution)
        if ups is None:
            raise ValueError(f"resolution must be 32 or 64, got {resolution}")
        torch.manual_seed(seed)
        self.c0 = width * 2 ** (ups - 1)
        self.fc = nn.Linear(d, self.c0 * 16)
        layers, c = [], self.c0
        for i in range(ups):
            out = 3 if i == ups - 1 else c // 2
            layers += [nn.LeakyReLU(0.2), nn.ConvTranspose2d(c, out, 4, 2, 1)]
            c = out
        self.net = nn.Sequential(*layers, nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.fc(z).view(z.shape[0], self.c0, 4, 4))


def tolerance_problems(d: int, conditions: tuple[float, ...], rows: int = 4) -> list[Callable[[], Problem]]:
    """The tolerance benchmarks' problems at latent size d, each built on call: designed spectra at
    ``conditions`` and the metric of a DCGAN-like generator (width 8, 32 x 32, random weights,
    float64) at ``rows`` N(0, I) codes (seed 0)."""
    def generator() -> Problem:
        f = DCGANLike(d, width=8, seed=0, resolution=32).double().eval().requires_grad_(False)
        z = torch.randn(rows, d, generator=torch.Generator().manual_seed(0), dtype=F64)
        return metric_problem(f"dcgan-like w8 d{d} N(0,I)", "generator", f, z)
    return [(lambda c=c: designed_problem(d, c, rows=rows)) for c in conditions] + [generator]
