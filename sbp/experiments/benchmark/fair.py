"""The fair benchmark: what sbp's own choice (``method="auto"`` with a tolerance) costs against GPyTorch and exact.

A user who wants log det to 1 % cannot pick the best of five methods per problem in advance; they
pass ``rtol`` to sbp, or take GPyTorch's SLQ with its default settings (or more probes), or the
dense exact value. ``fair_raw`` runs each of these once per seed on a ``Problem`` and records the
products (counted, not computed from a formula), the wall time and the true relative error;
``fair_summary`` turns the raw rows into one row per problem, configuration and tolerance.

Products per row of z: sbp's JVP+VJP pairs (the auto pilot's included) plus the dense Jacobian
columns of its exact route (the gate's J v among them), counted by wrapping the operator that
``logdet_operator`` is given (``sbp.numerics.jacobian.counted``); GPyTorch's vectors through the matrix-free metric; exact: d columns.
"""
from __future__ import annotations

import statistics
import time
import warnings
from typing import Sequence

import torch

import sbp.numerics.logdet as logdet_module
from sbp.experiments.benchmark.gpytorch_slq import gpytorch_matrix_free_logdet
from sbp.experiments.benchmark.problems import Problem
from sbp.numerics.jacobian import ProductCounts, counted, metric_operator

__all__ = ["GPYTORCH_CONFIGS", "Counts", "fair_raw", "fair_summary", "fair_wide"]

# GPyTorch as a user would take it for log det: its defaults (num_trace_samples 10,
# max_lanczos_quadrature_iterations 20 in gpytorch 1.15), and ten times the probes.
GPYTORCH_CONFIGS = {"gpytorch default": {}, "gpytorch 100 probes": {"probes": 100}}

Counts = ProductCounts  # vectors through J, J^T and dense Jacobian columns, per row



def _row(problem: Problem, config: str, rtol, seed: int, logdet, products: int, wall: float, picked: str,
         converged=None) -> dict:
    err = ((logdet.double() - problem.exact).abs() / problem.exact.abs()).tolist()
    return {"problem": problem.name, "family": problem.family, "d": problem.z.shape[1],
            "condition": problem.condition, "config": config, "rtol": rtol, "seed": seed, "products": products,
            "wall_s": wall, "picked": picked, "errors": err,
            "converged": None if converged is None else [bool(c) for c in converged]}


def fair_raw(problem: Problem, *, rtols: Sequence[float], seed: int, sbp_methods: Sequence[str] = ("auto", "slq"),
             gpytorch: bool = True, jvp_mode: str = "reverse") -> list[dict]:
    """One seed of every configuration on ``problem``: sbp ``method`` in ``sbp_methods`` with each
    ``rtol`` (confidence 0.95, default cap), GPyTorch's configurations (``GPYTORCH_CONFIGS``) and exact."""
    rows = []
    for method in sbp_methods:
        for rtol in rtols:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the unconverged warning: recorded in ``converged``
                t0 = time.perf_counter()
                op, c = counted(metric_operator(problem.f, problem.z, jvp_mode=jvp_mode))  # counted by wrapping J
                est = logdet_module.logdet_operator(op, method=method, rtol=rtol, generator=seed)
                wall = time.perf_counter() - t0
            rows.append(_row(problem, f"sbp {method}", rtol, seed, est.logdet, c.products, wall, est.method,
                             est.converged))
    B, d = problem.z.shape
    for name, cfg in GPYTORCH_CONFIGS.items() if gpytorch else ():
        t0 = time.perf_counter()
        op = metric_operator(problem.f, problem.z, jvp_mode=jvp_mode)
        ld, n = gpytorch_matrix_free_logdet(op.matvec, B, d, op.output.dtype, seed=seed, **cfg)
        rows.append(_row(problem, name, None, seed, ld, n, time.perf_counter() - t0, "slq"))
    with torch.no_grad():
        t0 = time.perf_counter()
        est = logdet_module.logdet_metric(problem.f, problem.z, method="exact", jvp_mode=jvp_mode)
        rows.append(_row(problem, "exact", None, seed, est.logdet, d, time.perf_counter() - t0, "exact"))
    return rows


def _quantile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def fair_summary(raw: Sequence[dict], rtols: Sequence[float]) -> list[dict]:
    """One row per (problem, d, configuration, rtol): median products and wall time per call, median and
    95th-percentile relative error over rows x seeds, the share of rows with error <= rtol, and for sbp
    the share of rows it reported converged. GPyTorch and exact take no tolerance: their rows are judged
    against each rtol."""
    out = []
    keys = list(dict.fromkeys((r["problem"], r["d"], r["config"]) for r in raw))  # names repeat across d
    for problem, d, config in keys:
        rs = [r for r in raw if (r["problem"], r["d"], r["config"]) == (problem, d, config)]
        for rtol in rtols:
            sel = [r for r in rs if r["rtol"] in (None, rtol)]
            if not sel:
                continue
            errs = [e for r in sel for e in r["errors"]]
            conv = [c for r in sel for c in (r["converged"] or [])]
            out.append({"problem": problem, "d": sel[0]["d"], "condition": sel[0]["condition"], "config": config,
                        "rtol": rtol, "seeds": len(sel), "picked": "/".join(sorted({r["picked"] for r in sel})),
                        "products": statistics.median(r["products"] for r in sel),
                        "wall_s": statistics.median(r["wall_s"] for r in sel),
                        "median_error": statistics.median(errs), "p95_error": _quantile(errs, 0.95),
                        "within_rtol": sum(e <= rtol for e in errs) / len(errs),
                        "converged": sum(conv) / len(conv) if conv else None})
    return out


_WIDE = {"sbp auto": "auto", "sbp slq": "slq", "gpytorch default": "gpt", "gpytorch 100 probes": "gpt100",
         "exact": "exact"}


def fair_wide(summary: Sequence[dict]) -> list[dict]:
    """The summary with one row per (problem, rtol) and the configurations side by side: products, wall
    time, 95th-percentile error and share within rtol (auto, slq, GPyTorch's two), products and time (exact)."""
    out: dict[tuple, dict] = {}
    for r in summary:
        row = out.setdefault((r["problem"], r["d"], r["rtol"]), {"problem": r["problem"], "d": r["d"],
                                                          "cond": r["condition"], "rtol": r["rtol"]})
        k = _WIDE[r["config"]]
        row[f"{k} products"] = r["products"]
        row[f"{k} s"] = r["wall_s"]
        if k != "exact":
            row[f"{k} p95 err"] = r["p95_error"]
            row[f"{k} within"] = r["within_rtol"]
        if k == "auto":
            row["auto took"] = r["picked"]
    return list(out.values())
