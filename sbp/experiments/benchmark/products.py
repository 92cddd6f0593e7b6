"""Error against counted Jacobian products (notebook 08): counted estimates, budgets, best method per budget."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from sbp.numerics.errors import relative_error
from sbp.numerics.checks import check_latent, check_positive_int
from sbp.numerics.jacobian import ProductCounts, counted, metric_operator
from sbp.experiments.benchmark.gpytorch_slq import GPYTORCH, gpytorch_available, gpytorch_slq_logdet
from sbp.experiments.benchmark.problems import Problem
from sbp.numerics.logdet import LogdetEstimate, logdet_operator

F64 = torch.float64

# The estimators compared, as keyword arguments of ``logdet_metric``.
METHODS: dict[str, dict] = {
    "chebyshev": {"method": "chebyshev"},
    "taylor": {"method": "taylor"},
    "hutch++": {"method": "chebyshev", "variance_reduction": "hutchpp"},
    "slq": {"method": "slq"},
    "bidiag": {"method": "bidiag"},
}

ProductCounter = ProductCounts  # vectors through J, J^T (and dense columns: none here), per sample


def counted_estimate(f: Callable[[Tensor], Tensor], z: Tensor, *, method: str, order: int, probes: int,
                     power_iters: int = 20, generator: torch.Generator | int | None = None,
                     variance_reduction: str = "none", grad_mode: str = "backprop",
                     jvp_mode: str = "reverse") -> tuple[LogdetEstimate, ProductCounter]:
    """``logdet_metric(f, z, ...)`` (same numbers) with its Jacobian products counted.

    Runs ``logdet_operator`` on the operator of ``metric_operator(f, z)`` wrapped by
    ``sbp.numerics.jacobian.counted``: its ``jvp``/``vjp`` add the number of vectors of every block they
    receive (blocks are (P, B, d): P vectors for each of the B samples) to the returned counts.
    """
    check_latent(z)
    op, count = counted(metric_operator(f, z, jvp_mode=jvp_mode))
    est = logdet_operator(op, method=method, order=order, probes=probes,
                          power_iters=power_iters, generator=generator, grad_mode=grad_mode,
                          variance_reduction=variance_reduction)
    return est, count


def plan_for_budget(method: str, budget: int, *, probes: int, d: int) -> tuple[int, int]:
    """(order or Lanczos steps, power_iters) spending at most ``budget`` JVP+VJP pairs per
    sample on a value without a graph (how ``error_vs_products`` runs every method).

    chebyshev/taylor: k = min(d, budget // probes) Lanczos steps from every probe give the
    interval and, by Gauss quadrature, the value of any order < 2k: order 2k - 1, k probes
    pairs each. Hutch++: half the budget on the interval's Lanczos steps, the rest on the
    order (sketch + deflated probes: order * probes pairs). slq/bidiag: steps * probes + 1
    (steps <= d); GPyTorch: steps * probes. At least 1 everywhere.
    """
    check_positive_int(budget, "budget")
    per_probe = budget // probes
    if method == GPYTORCH:
        return max(1, min(d, per_probe)), 1
    spec = METHODS.get(method)
    if spec is None:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS) + [GPYTORCH]}")
    if spec["method"] in ("slq", "bidiag"):
        return max(1, min(d, (budget - 1) // probes)), 1
    if spec.get("variance_reduction") == "hutchpp":
        k = max(1, min(d, per_probe // 2))
        return max(1, per_probe - k), k
    k = max(1, min(d, per_probe))
    return 2 * k - 1, k



def _error_row(problem: Problem, method: str, budget: int, order: int, probes: int, pairs: list[int],
               errs: list[Tensor], noise: list[Tensor]) -> dict:
    e = torch.cat(errs).double()
    return {"problem": problem.name, "family": problem.family, "d": problem.z.shape[1],
            "condition": problem.condition, "method": method, "budget": int(budget), "order": int(order),
            "probes": int(probes), "matvecs": int(max(pairs)), "samples": e.numel(),
            "median_error": e.median().item(), "q25_error": e.quantile(0.25).item(),
            "q75_error": e.quantile(0.75).item(), "median_stderr": torch.cat(noise).double().median().item()}


def error_vs_products(problem: Problem, *, budgets: Sequence[int], probes: int = 8, seeds: Sequence[int] = (0, 1, 2),
                      methods: Sequence[str] = tuple(METHODS), gpytorch: bool = True,
                      jvp_mode: str = "reverse") -> list[dict]:
    """Relative error (``sbp.numerics.errors.relative_error``) of each method at each budget of
    JVP+VJP pairs per sample, over the rows of ``problem.z`` x ``seeds``.

    One row per (method, budget): the order or number of Lanczos steps used
    (``plan_for_budget``, which also sets the Lanczos steps of the interval), the *counted* pairs per sample (``matvecs``), the median and
    quartiles of the error, the median Hutchinson standard error relative to |exact|.
    With ``gpytorch=True`` and GPyTorch installed, rows for ``"gpytorch-slq"`` too
    (its products counted as steps * probes).
    """
    d = problem.z.shape[1]
    rows = []
    for name in methods:
        spec = METHODS[name]
        for budget in budgets:
            order, power_iters = plan_for_budget(name, budget, probes=probes, d=d)
            errs, noise, pairs = [], [], []
            for seed in seeds:
                with torch.no_grad():
                    est, count = counted_estimate(problem.f, problem.z, order=order, probes=probes,
                                                  power_iters=power_iters, generator=seed, jvp_mode=jvp_mode, **spec)
                errs.append(relative_error(est.logdet.double(), problem.exact))
                noise.append(est.stderr.double() / problem.exact.abs().clamp_min(1.0))
                pairs.append(count.products)  # JVP+VJP pairs: no dense columns here
            rows.append(_error_row(problem, name, budget, order, probes, pairs, errs, noise))
    if gpytorch and gpytorch_available():
        for budget in budgets:
            steps, _ = plan_for_budget(GPYTORCH, budget, probes=probes, d=d)
            errs = [relative_error(gpytorch_slq_logdet(problem.gram, steps=steps, probes=probes, seed=s), problem.exact)
                    for s in seeds]
            nan = [torch.full_like(problem.exact, math.nan)]
            rows.append(_error_row(problem, GPYTORCH, budget, steps, probes, [steps * probes], errs, nan))
    return rows


def best_by_budget(rows: Sequence[dict], methods: Sequence[str] = tuple(METHODS)) -> list[dict]:
    """For each (problem, budget): the sbp method with the smallest median error, and GPyTorch's
    error and the ratio best / GPyTorch where GPyTorch rows exist (nan otherwise)."""
    out = []
    for key in dict.fromkeys((r["problem"], r["budget"]) for r in rows):
        group = [r for r in rows if (r["problem"], r["budget"]) == key]
        ours = min((r for r in group if r["method"] in methods), key=lambda r: r["median_error"])
        gp = [r["median_error"] for r in group if r["method"] == GPYTORCH]
        gp_err = gp[0] if gp else math.nan
        out.append({"problem": key[0], "family": ours["family"], "budget": key[1], "best": ours["method"],
                    "best_error": ours["median_error"], "best_matvecs": ours["matvecs"], "gpytorch_error": gp_err,
                    "best_over_gpytorch": ours["median_error"] / gp_err if gp else math.nan})
    return out


def hutchpp_gain(rows: Sequence[dict], plain: str = "chebyshev", reduced: str = "hutch++") -> list[dict]:
    """For each (problem, budget): median error of ``plain`` Hutchinson over that of ``reduced``
    (Hutch++) at the same budget and polynomial: > 1 means Hutch++ helps, 2 halves the error."""
    out = []
    for key in dict.fromkeys((r["problem"], r["budget"]) for r in rows):
        by = {r["method"]: r for r in rows if (r["problem"], r["budget"]) == key}
        if plain in by and reduced in by:
            a, b = by[plain], by[reduced]
            out.append({"problem": key[0], "family": a["family"], "budget": key[1], "plain_error": a["median_error"],
                        "hutchpp_error": b["median_error"], "gain": a["median_error"] / max(b["median_error"], 1e-300)})
    return out


def deflation_share(eigenvalues: Tensor, k: int) -> Tensor:
    """Share of ||log G - c I||_F^2 carried by its k largest eigenvalues in magnitude, c the mean
    log eigenvalue, per row of ``eigenvalues`` (B, d).

    Hutch++ (shifted by c, as in ``sbp.logdet``) computes the trace on a rank-k sketch exactly
    and Hutchinson only sees the rest: the Frobenius norm that drives the variance can fall
    at most by this share (about k/d for a flat spectrum, near 1 when a few eigenvalues dominate).
    """
    check_positive_int(k, "k")
    m = eigenvalues.to(F64).log()
    dev = (m - m.mean(-1, keepdim=True)) ** 2
    return dev.sort(-1, descending=True).values[..., :k].sum(-1) / dev.sum(-1).clamp_min(1e-300)


def hutchpp_ideal_gain(share: float, probes: int) -> float:
    """The most Hutch++ can gain in error over plain Hutchinson with the same ``probes`` P,
    given the top-k share of ``deflation_share`` (k = P // 3): sqrt(m / (P (1 - share))),
    m = P - 2k the probes left for the remainder. Plain Hutchinson's variance is about
    ||M||_F^2 / P; with a perfect rank-k sketch Hutch++'s is (1 - share) ||M||_F^2 / m. Halving
    the error needs share >= 1 - m / (4 P) (0.875 for P = 8)."""
    check_positive_int(probes, "probes", minimum=3)
    m = probes - 2 * (probes // 3)
    return math.sqrt(m / (probes * max(1.0 - float(share), 1e-300)))
