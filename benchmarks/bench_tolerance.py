"""Error bars that mean what they say, and what a tolerance costs.

1. Coverage: over many seeds, how often the fixed-budget interval estimate +- z stderr (z for 95 %
   and 99.7 %) contains the exact log det, on designed spectra (d = 128, condition 1e1-1e4).
2. Tolerance mode: for rtol in (0.1, 0.03, 0.01), how often |error| <= rtol |log det| when
   ``converged`` says so, and the vector products / wall time of ``method="auto"`` and
   ``"slq"`` with that tolerance against exact (d JVP columns).

Usage: python benchmarks/bench_tolerance.py [--d 128] [--seeds 40] [--out figures/bench_tolerance.csv]
"""
from __future__ import annotations

import argparse
import csv
import time
import warnings

import torch

import sbp
from sbp.experiments.benchmark.problems import designed_problem
from sbp.numerics.trace import student_t_quantile


def coverage(problem, seeds: int, method: str, order: int, probes: int) -> dict:
    hits = {0.95: 0, 0.997: 0}
    n = 0
    for seed in range(seeds):
        est = sbp.logdet_metric(problem.f, problem.z, method=method, order=order, probes=probes, generator=seed,
                                jvp_mode="reverse")
        err = (est.logdet - problem.exact).abs()
        for c in hits:
            t = student_t_quantile((1 + c) / 2, probes - 1)
            hits[c] += int((err <= t * est.stderr).sum())
        n += err.numel()
    return {f"coverage_{c}": hits[c] / n for c in hits} | {"samples": n}


def tolerance_run(problem, seeds: int, method: str, rtol: float) -> dict:
    ok = conv = rows = products = 0
    wall = 0.0
    picks = set()
    for seed in range(seeds):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = sbp.logdet_metric(problem.f, problem.z, method=method, rtol=rtol, generator=seed, jvp_mode="reverse")
        wall += time.perf_counter() - t0
        picks.add(est.method)
        err = (est.logdet - problem.exact).abs()
        c = est.converged
        conv += int(c.sum())
        ok += int(((err <= rtol * problem.exact.abs()) & c).sum())
        rows += c.numel()
        products += problem.z.shape[1] if est.method == "exact" else est.products * 8  # blocks of 8 probes
    return {"converged_share": conv / rows, "met_given_converged": ok / max(conv, 1),
            "products_per_call": products / seeds, "wall_s_per_call": wall / seeds, "picked": "/".join(sorted(picks))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--out", default="figures/bench_tolerance.csv")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for cond in (1e1, 1e2, 1e3, 1e4):
        problem = designed_problem(args.d, cond, rows=4)
        for method, order in (("chebyshev", 60), ("slq", 40)):
            r = coverage(problem, args.seeds, method, order, probes=8)
            rows.append({"cond": cond, "mode": "fixed", "method": method, "rtol": "", **r})
            print(rows[-1], flush=True)
        for rtol in (0.1, 0.03, 0.01):
            for method in ("auto", "slq"):
                r = tolerance_run(problem, max(4, args.seeds // 4), method, rtol)
                rows.append({"cond": cond, "mode": "tolerance", "method": method, "rtol": rtol, **r})
                print(rows[-1], flush=True)
    keys = sorted({k for r in rows for k in r})
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
