"""Test energies and sampleable 2-D targets of Section 3 (Figures 1 and 2).

U1-U4 are the energies of Rezende & Mohamed (2015), Table 1: p(x) ~ exp(-U(x)).
U2-U4 do not decay along x1 (exp(-U) has infinite mass on R^2), so, as in the
figures of both papers, every target is the density restricted to the box
``BOX = [-4, 4]^2``; its log-normalizer is computed by quadrature on that box
(``log_normalizer``). For U1 the mass outside the box is below 1e-6 of the total
(``mass_outside``), so the box changes nothing there.

Figure 2 needs targets that can be sampled exactly (the paper's are unknown to us):
``ring8`` (a mixture of eight isotropic Gaussians on a circle: closed-form density,
exact sampler) and ``U1`` (ring with two modes; exact rejection sampler, since
exp(-U1) <= 2 everywhere).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

__all__ = ["ENERGIES", "BOX", "target_batches", "POOL", "u1", "u2", "u3", "u4", "log_normalizer", "mass_outside",
           "sample_energy", "SPLIT_WINDOWS", "split_share", "TARGETS", "target_log_density", "sample_target", "grid",
           "check_box"]

Energy = Callable[[Tensor], Tensor]
BOX = (-4.0, 4.0)


def _check_points(x: object, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 2), got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {x.dtype}")
    return x


def _w1(x1: Tensor) -> Tensor:
    return torch.sin(2 * math.pi * x1 / 4)


def _w2(x1: Tensor) -> Tensor:
    return 3 * torch.exp(-0.5 * ((x1 - 1) / 0.6) ** 2)


def _w3(x1: Tensor) -> Tensor:
    return 3 * torch.sigmoid((x1 - 1) / 0.3)


def u1(x: Tensor) -> Tensor:
    """Ring with two modes: ((|x| - 2)/0.4)^2/2 - log(e^{-((x1-2)/0.6)^2/2} + e^{-((x1+2)/0.6)^2/2})."""
    x = _check_points(x)
    r = x.norm(dim=1)
    a = -0.5 * ((x[:, 0] - 2) / 0.6) ** 2
    b = -0.5 * ((x[:, 0] + 2) / 0.6) ** 2
    return 0.5 * ((r - 2) / 0.4) ** 2 - torch.logaddexp(a, b)


def u2(x: Tensor) -> Tensor:
    """Sine wave: ((x2 - w1)/0.4)^2/2."""
    x = _check_points(x)
    return 0.5 * ((x[:, 1] - _w1(x[:, 0])) / 0.4) ** 2


def u3(x: Tensor) -> Tensor:
    """Sine with a split: -log(e^{-((x2-w1)/0.35)^2/2} + e^{-((x2-w1+w2)/0.35)^2/2})."""
    x = _check_points(x)
    d = x[:, 1] - _w1(x[:, 0])
    return -torch.logaddexp(-0.5 * (d / 0.35) ** 2, -0.5 * ((d + _w2(x[:, 0])) / 0.35) ** 2)


def u4(x: Tensor) -> Tensor:
    """Sine with a sigmoid split: -log(e^{-((x2-w1)/0.4)^2/2} + e^{-((x2-w1+w3)/0.35)^2/2})."""
    x = _check_points(x)
    d = x[:, 1] - _w1(x[:, 0])
    return -torch.logaddexp(-0.5 * (d / 0.4) ** 2, -0.5 * ((d + _w3(x[:, 0])) / 0.35) ** 2)


ENERGIES: dict[str, Energy] = {"U1": u1, "U2": u2, "U3": u3, "U4": u4}


def _energy(energy: str | Energy) -> Energy:
    if isinstance(energy, str):
        if energy not in ENERGIES:
            raise ValueError(f"unknown energy {energy!r}; choose one of {sorted(ENERGIES)}")
        return ENERGIES[energy]
    if not callable(energy):
        raise TypeError(f"energy must be a name in {sorted(ENERGIES)} or a callable, got {type(energy).__name__}")
    return energy


def check_box(box: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(b) for b in box)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"box must be (lo, hi) with finite lo < hi, got {box}")
    return lo, hi


def grid(box: tuple[float, float] = BOX, n: int = 400, dtype=torch.float64) -> tuple[Tensor, Tensor, float]:
    """Midpoints of an n x n grid on box^2: returns (points (n*n, 2), 1-D centers (n,), cell area)."""
    lo, hi = check_box(box)
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"grid size n must be an int >= 2, got {n!r}")
    h = (hi - lo) / n
    c = lo + h * (torch.arange(n, dtype=dtype) + 0.5)
    X1, X2 = torch.meshgrid(c, c, indexing="xy")  # row i: x2 = c[i]; column j: x1 = c[j]
    return torch.stack([X1.reshape(-1), X2.reshape(-1)], 1), c, h * h


def log_normalizer(energy: str | Energy, box: tuple[float, float] = BOX, n: int = 1000) -> float:
    """log of the integral of exp(-U) over box^2 by the midpoint rule on an n x n grid (float64).

    With the default n = 1000 on [-4, 4]^2 (cell 0.008) the result agrees with n = 2000
    to better than 1e-6 for U1-U4 (tests/test_energies.py checks 1e-4).
    """
    U = _energy(energy)
    pts, _, area = grid(box, n)
    return float(torch.logsumexp(-U(pts), 0) + math.log(area))


def mass_outside(energy: str | Energy, box: tuple[float, float] = BOX, outer: float = 3.0, n: int = 1000) -> float:
    """Fraction of the mass of exp(-U) on the box scaled by ``outer`` that lies outside ``box``.

    Meaningful for U1 (decays in every direction); for U2-U4 it grows with ``outer``.
    """
    lo, hi = check_box(box)
    big = log_normalizer(energy, (lo * outer, hi * outer), int(n * outer))
    return float(1 - math.exp(log_normalizer(energy, box, n) - big))


def sample_energy(energy: str | Energy, n: int, *, generator: torch.Generator | int, box: tuple[float, float] = BOX,
                  bound: float = 2.0, dtype=torch.float64) -> Tensor:
    """Exact samples of exp(-U) restricted to box^2 by rejection from the uniform law on the box.

    Requires exp(-U) <= ``bound`` on the box: true with bound = 2 for U1-U4 (each is
    minus the log of a sum of at most two terms <= 1). Raises if a proposal violates it.
    """
    U = _energy(energy)
    lo, hi = check_box(box)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    gen = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
    if not isinstance(gen, torch.Generator):
        raise TypeError("generator must be a torch.Generator or an int seed")
    out, have = [], 0
    while have < n:
        x = lo + (hi - lo) * torch.rand(max(4 * n, 4096) * 8, 2, generator=gen, dtype=dtype)
        p = torch.exp(-U(x))
        if bool((p > bound).any()):
            raise ValueError(f"exp(-U) exceeds bound={bound} on the box; rejection sampling would be biased")
        keep = torch.rand(x.shape[0], generator=gen, dtype=dtype) * bound < p
        out.append(x[keep])
        have += int(keep.sum())
    return torch.cat(out)[:n]


# x1-windows where the two branches of U3 / U4 are apart by >= 2.1 (U3: w2 >= 2.12) and >= 2.5
# (U4: w3 >= 2.52), i.e. by more than 5 branch widths: there a point is unambiguously on one branch.
SPLIT_WINDOWS: dict[str, tuple[float, float]] = {"U3": (0.5, 1.5), "U4": (1.5, 4.0)}


def split_share(energy: str, x: Tensor) -> dict:
    """How samples x (N, 2) share the two branches of U3's or U4's split: a number for "the split is learned".

    Among the samples whose x1 lies in ``SPLIT_WINDOWS[energy]``, the fraction nearer the lower
    branch (x2 = w1 - w2 for U3, w1 - w3 for U4) than the upper one (x2 = w1). Returns
    ``lower`` (that fraction; nan when no sample is in the window) and ``window`` (the fraction
    of all samples in the window). Exact samples of the box-restricted target (``sample_energy``)
    give the reference: a model that learned one branch only has ``lower`` near 0 or 1.
    """
    if energy not in SPLIT_WINDOWS:
        raise ValueError(f"split_share is defined for {sorted(SPLIT_WINDOWS)} (the energies with a split), got {energy!r}")
    x = _check_points(x)
    x1, x2 = x[:, 0], x[:, 1]
    lo, hi = SPLIT_WINDOWS[energy]
    inside = (x1 >= lo) & (x1 <= hi)
    shift = _w2(x1) if energy == "U3" else _w3(x1)
    d = x2 - _w1(x1)
    lower = ((d + shift).abs() < d.abs()) & inside
    n_in = int(inside.sum())
    return dict(lower=float(lower.sum()) / n_in if n_in else float("nan"),
                window=n_in / max(x.shape[0], 1))


# ---------------------------------------------------------------- Figure 2 targets
RING8_RADIUS, RING8_STD, RING8_MODES = 2.5, 0.25, 8


def _ring8_centers(dtype) -> Tensor:
    t = 2 * math.pi * torch.arange(RING8_MODES, dtype=dtype) / RING8_MODES
    return RING8_RADIUS * torch.stack([torch.cos(t), torch.sin(t)], 1)


def _ring8_log_density(x: Tensor) -> Tensor:
    c = _ring8_centers(x.dtype)
    sq = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    return (torch.logsumexp(-0.5 * sq / RING8_STD ** 2, 1) - math.log(RING8_MODES)
            - math.log(2 * math.pi * RING8_STD ** 2))


TARGETS = ("ring8", "U1")


def target_log_density(name: str, x: Tensor) -> Tensor:
    """Normalized log density of a Figure 2 target at x (N, 2).

    ``ring8``: (1/8) sum_k N(x; 2.5 (cos 2 pi k/8, sin 2 pi k/8), 0.25^2 I), exact.
    ``U1``: -U1(x) - log Z, Z by quadrature on BOX (mass outside the box < 1e-6).
    """
    x = _check_points(x)
    if name == "ring8":
        return _ring8_log_density(x)
    if name == "U1":
        return -u1(x) - log_normalizer("U1")
    raise ValueError(f"unknown target {name!r}; choose one of {TARGETS}")


def sample_target(name: str, n: int, *, generator: torch.Generator | int, dtype=torch.float64) -> Tensor:
    """n exact samples (n, 2) of a Figure 2 target, seeded."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    gen = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
    if not isinstance(gen, torch.Generator):
        raise TypeError("generator must be a torch.Generator or an int seed")
    if name == "ring8":
        k = torch.randint(RING8_MODES, (n,), generator=gen)
        return _ring8_centers(dtype)[k] + RING8_STD * torch.randn(n, 2, generator=gen, dtype=dtype)
    if name == "U1":
        return sample_energy("U1", n, generator=gen, dtype=dtype)
    raise ValueError(f"unknown target {name!r}; choose one of {TARGETS}")


POOL = 32  # U1's batches come in pools of this many


def target_batches(target: str, batch: int, seed: int) -> Callable[[torch.Generator, int], Tensor]:
    """``batch_at(gen, it)``: iteration it's batch of exact target samples. ring8 draws from ``gen``; U1's
    rejection sampler makes at least 32k proposals a call, so its batches come from pools of ``POOL``
    batches, pool k drawn from its own seed (so a resumed run sees the same batches)."""
    pool: dict[int, Tensor] = {}

    def batch_at(gen: torch.Generator, it: int) -> Tensor:
        if target != "U1":
            return sample_target(target, batch, generator=gen)
        k, i = divmod(it, POOL)
        if k not in pool:
            pool.clear()
            pool[k] = sample_target(target, batch * POOL, generator=(seed + 1) * 1_000_003 + k)
        return pool[k][i * batch:(i + 1) * batch]
    return batch_at
