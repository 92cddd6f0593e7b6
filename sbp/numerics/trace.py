"""Trace estimation (Algorithm 1, step 3): Hutchinson and Hutch++, each with its standard error.

tr(M) ~ mean_i v_i^T M v_i for v_i with independent +-1 entries (Hutchinson 1990); its
variance is 2 (||M||_F^2 - sum_i M_ii^2). Hutch++ (Meyer, Musco, Musco & Woodruff 2021) takes
the trace of a sketched range exactly and runs Hutchinson on the deflated rest. The sampler is
passed in (``rademacher_sampler``), and so is what to average: the estimators know no operator.
``interval_halfwidth`` turns a standard error into the half-width of a Student-t interval at a
given confidence. ``trace_loop`` is the one loop of every stochastic log det method: an integrand
(``sbp.numerics.integrands``) on blocks of probes from a sampler, one block for a fixed budget, blocks
until a tolerance is met otherwise.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

if TYPE_CHECKING:  # the loop only reads these; importing them here would be circular
    from sbp.numerics.estimators import Block
    from sbp.numerics.tolerance import Tolerance

__all__ = ["rademacher", "peek_rademacher", "rademacher_sampler", "TraceEstimate", "hutchpp", "mean_stderr",
           "student_t_quantile", "interval_halfwidth", "TraceRun", "trace_loop"]

Sampler = Callable[[tuple[int, ...]], Tensor]


def rademacher(shape: tuple[int, ...], *, generator: torch.Generator | None, dtype: torch.dtype,
               device: torch.device) -> Tensor:
    """Entries +-1 with equal probability, drawn from ``generator`` (on its own device)."""
    gen_device = generator.device if generator is not None else device
    bits = torch.randint(0, 2, shape, generator=generator, device=gen_device)
    return (bits.to(device=device, dtype=dtype) * 2 - 1)


def peek_rademacher(generator: torch.Generator | None, shape: tuple[int, ...], dtype: torch.dtype,
                    device: torch.device) -> Tensor:
    """The block ``rademacher(shape, generator=generator, ...)`` would draw next, drawn without advancing
    ``generator`` (None: the global generator, whose state is restored)."""
    if generator is None:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return rademacher(shape, generator=None, dtype=dtype, device=device)
    clone = torch.Generator(device=generator.device)
    clone.set_state(generator.get_state())
    return rademacher(shape, generator=clone, dtype=dtype, device=device)


def rademacher_sampler(generator: torch.Generator | None, dtype: torch.dtype, device: torch.device) -> Sampler:
    """A sampler ``shape -> Rademacher block`` drawing from ``generator``."""
    return lambda shape: rademacher(shape, generator=generator, dtype=dtype, device=device)


@dataclass(frozen=True)
class TraceEstimate:
    """mean (B,), its standard error (B,) (nan with one sample) and the per-probe samples (P, B)."""

    mean: Tensor
    stderr: Tensor
    samples: Tensor


def mean_stderr(q: Tensor) -> TraceEstimate:
    """Mean over the probe axis 0 of samples q (P, B) and its standard error (detached)."""
    est = q.mean(0)
    stderr = q.std(0) / math.sqrt(q.shape[0]) if q.shape[0] > 1 else torch.full_like(est, math.nan)
    return TraceEstimate(mean=est, stderr=stderr.detach(), samples=q)


def hutchpp(apply: Callable[[Tensor], Tensor], sampler: Sampler, shape: tuple[int, int, int]) -> TraceEstimate:
    """Hutch++ for tr M with P = shape[0] vectors in all, on the shifted M - c I (c d added back exactly).

    ``apply`` maps a block X (n, B, d) to M X. k = P // 3 sketch vectors S give c = tr(S^T M S)/(k d)
    (a Hutchinson guess of the mean eigenvalue) and Q = orth((M - c) S), without a graph. The
    trace is c d + tr(Q^T (M - c) Q) exactly, plus Hutchinson on the deflated remainder with the
    other P - 2k vectors. The shift matters: Rademacher Hutchinson is exact on multiples of I,
    which a plain deflation would destroy (benchmarks/bench_variance.py). Unbiased for every fixed
    (c, Q), both from S only, so the gradient (through the second ``apply``) is unbiased too; the
    standard error is the Hutchinson part's.
    """
    P, B, d = shape
    k = P // 3
    m = P - 2 * k
    S = sampler((k, B, d))
    with torch.no_grad():
        Y = apply(S)
        c = (S * Y).sum((0, -1)) / (k * d)  # (B,)
        Q = torch.linalg.qr((Y - c[:, None] * S).permute(1, 2, 0)).Q.permute(2, 0, 1)  # (k, B, d) orthonormal
    R = sampler((m, B, d))
    R = R - torch.einsum("kbm,kbd->mbd", torch.einsum("kbd,mbd->kbm", Q, R), Q)
    Z = apply(torch.cat([Q, R]))
    exact_part = (Q * Z[:k]).sum((0, -1)) - c * k
    q = (R * Z[k:]).sum(-1) - c * (R * R).sum(-1)  # (m, B)
    rest = mean_stderr(q)
    return TraceEstimate(mean=c * d + exact_part + rest.mean, stderr=rest.stderr, samples=q)


def _t_cdf(t: float, df: int) -> float:
    """Student-t CDF for integer df, from the closed-form series in theta = atan(t / sqrt(df))."""
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 1:
        term, total = c, c if df > 1 else 0.0
        for j in range(3, df - 1, 2):
            term *= c * c * (j - 1) / j
            total += term
        a = 2 / math.pi * (theta + s * total)
    else:
        term, total = 1.0, 1.0
        for j in range(2, df, 2):
            term *= c * c * (j - 1) / j
            total += term
        a = s * total
    return 0.5 + a / 2


@functools.lru_cache(maxsize=4096)
def student_t_quantile(p: float, df: int) -> float:
    """The p-quantile (0.5 < p < 1) of Student's t with integer ``df`` >= 1 degrees of freedom (bisection;
    cached: the tolerance loops and ``auto`` ask for the same few quantiles at every call)."""
    if not 0.5 < p < 1:
        raise ValueError(f"p must be in (0.5, 1), got {p}")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def interval_halfwidth(stderr: Tensor, samples: int, confidence: float) -> Tensor:
    """Half-width t_{samples-1, (1+confidence)/2} stderr of the two-sided interval at ``confidence``
    (inf with fewer than 2 samples)."""
    if samples < 2:
        return torch.full_like(stderr, math.inf)
    return student_t_quantile((1 + confidence) / 2, samples - 1) * stderr


@dataclass(frozen=True)
class TraceRun:
    """What ``trace_loop`` found: per row (B,) the mean over all probes, its standard error (detached), whether
    the tolerance was met (None for a fixed budget), the blocks, vector products per row, and the bias bound
    (the blocks' mean; None where the integrand computes none)."""

    estimate: Tensor
    stderr: Tensor
    converged: Tensor | None
    blocks: list
    products: int
    bias: Tensor | None


def _any_unresolved(blocks: list, singular: Tensor) -> Tensor:
    flags = [b.unresolved for b in blocks if b.unresolved is not None]
    return torch.stack(flags).any(0) & ~singular if flags else torch.zeros_like(singular)


def trace_loop(integrand: Callable, sampler: Sampler, shape: tuple[int, int, int], tol: "Tolerance | None" = None, *,
               pilot: Callable[["Block", Tensor, Tensor], bool] | None = None) -> TraceRun | None:
    """Hutchinson's mean of ``integrand(V, target)`` over blocks V of ``shape`` = (P, B, d) from ``sampler``.

    ``tol`` None (fixed budget): one block; its standard error is the block's own where it has one (Hutch++).
    With ``tol``: blocks until every row's Student-t interval at ``tol.confidence`` plus bias bound fits
    atol + rtol |estimate| (``target``, passed to the next block), or the next block would pass
    ``tol.max_products``; rows whose bottom eigenvalues G does not resolve are never converged (no bound holds).
    ``integrand`` returns (None, None) when auto's pilot abandoned its block, and ``pilot(block, bias, target)``,
    asked after the first block, False to abandon the run: None is returned then."""
    values, biases, blocks, products, target = [], [], [], 0, None
    while True:
        block, bias = integrand(sampler(shape), target)
        if block is None:
            return None
        values.append(block.values)
        biases.append(bias)
        blocks.append(block)
        products += block.products
        run = mean_stderr(values[0] if len(values) == 1 else torch.cat(values))
        n, est, stderr = run.samples.shape[0], run.mean, run.stderr
        if tol is None:
            own = block.stderr if block.stderr is not None else stderr
            return TraceRun(est, own, None, blocks, products, bias)
        bias_bound = torch.stack(biases).mean(0)
        bound = bias_bound + interval_halfwidth(stderr, n, tol.confidence)
        target = tol.target(est)
        if pilot is not None and len(blocks) == 1 and not pilot(block, bias, target):
            return None
        singular = torch.stack([b.singular for b in blocks]).any(0)
        unresolved = _any_unresolved(blocks, singular)
        converged = ((bound <= target) | singular) & ~unresolved
        if bool((converged | unresolved).all()) or products + block.products > tol.max_products:
            return TraceRun(est, stderr, converged, blocks, products, bias_bound)
