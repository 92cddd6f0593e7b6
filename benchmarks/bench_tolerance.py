"""Error bars that mean what they say: coverage of the reported intervals over many seeds.

1. Fixed budget: how often estimate +- t stderr (Student-t for the probes, at 95 % and 99.7 %)
   contains the exact log det (chebyshev order 60 and slq 40 steps, 8 probes).
2. Tolerance mode (``method="slq"``, the stochastic route that ``auto`` takes when it does not take
   exact; ``auto`` itself picks exact at d = 64): with rtol in (0.1, 0.03) and confidence 0.95 and
   0.997, the share of rows reported ``converged``, and among those the share whose true error is
   within the tolerance (the kept share, target: >= confidence), with its binomial standard error.

Problems: designed spectra (d = 64, condition 1e1, 1e3, 1e4, 1e5; the same rotation for every
condition, so the probe noise is the same up to scale and only the quadrature differs) and a
DCGAN-like generator metric (random weights, float64, d = 64), 4 rows of z each; seeds 0..N-1.
Each cell is appended to ``benchmarks/results/bench_tolerance.jsonl`` when done (resumable: cells
already there are skipped); the summary tables are ``bench_tolerance_coverage.md`` /
``bench_tolerance_kept.md``. Products: JVP+VJP vector pairs per row, counted.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_tolerance.py [--seeds 200] [--rtols 0.1 0.03] [--tag LABEL]
"""
from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import torch

import sbp
from sbp.experiments.benchmark.problems import tolerance_problems
from sbp.infra.io import write_table
from sbp.numerics.jacobian import counted
from sbp.numerics.logdet import logdet_operator
from sbp.numerics.trace import student_t_quantile

OUT = Path(__file__).parent / "results"
CONDITIONS = (1e1, 1e3, 1e4, 1e5)


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


def tolerance_run(problem, seeds: int, method: str, rtol: float, confidence: float) -> dict:
    ok = conv = rows = products = 0
    wall = 0.0
    for seed in range(seeds):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            op, count = counted(sbp.metric_operator(problem.f, problem.z, jvp_mode="reverse"))
            est = logdet_operator(op, method=method, rtol=rtol, confidence=confidence, generator=seed)
        wall += time.perf_counter() - t0
        err = (est.logdet - problem.exact).abs()
        c = est.converged
        conv += int(c.sum())
        ok += int(((err <= rtol * problem.exact.abs()) & c).sum())
        rows += c.numel()
        products += count.products
    kept = ok / max(conv, 1)
    return {"converged_share": conv / rows, "kept_given_converged": kept, "converged_rows": conv,
            "kept_stderr": math.sqrt(kept * (1 - kept) / max(conv, 1)), "products_per_row": products / seeds,
            "wall_s_per_call": wall / seeds, "samples": rows}


def problems(d: int):
    yield from tolerance_problems(d, CONDITIONS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--rtols", type=float, nargs="+", default=[0.1, 0.03])
    ap.add_argument("--raw", default=str(OUT / "bench_tolerance.jsonl"))
    ap.add_argument("--tag", default="", help="label of the code version, part of each cell's key (before/after a fix)")
    ap.add_argument("--summary-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    raw_path = Path(args.raw)
    raw = [json.loads(l) for l in raw_path.read_text().splitlines()] if raw_path.exists() else []
    key = lambda r: (r["problem"], r["mode"], r["method"], r["rtol"], r["confidence"], r["seeds"], r.get("tag", ""))
    done = {key(r) for r in raw}

    def record(row):
        if key(row) not in done:
            with raw_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            raw.append(row)
        print(row, flush=True)

    for make in problems(args.d) if not args.summary_only else ():
        problem = make()
        base = {"problem": problem.name, "d": args.d, "condition": round(problem.condition, 1), "seeds": args.seeds,
                "tag": args.tag}
        for method, order in (("chebyshev", 60), ("slq", 40)):
            row = {**base, "mode": "fixed", "method": method, "rtol": None, "confidence": None}
            if key(row) not in done:
                record(row | coverage(problem, args.seeds, method, order, probes=8))
        for rtol in args.rtols:
            for confidence in (0.95, 0.997):
                row = {**base, "mode": "tolerance", "method": "slq", "rtol": rtol, "confidence": confidence}
                if key(row) not in done:
                    record(row | tolerance_run(problem, args.seeds, "slq", rtol, confidence))
    fixed = [r for r in raw if r["mode"] == "fixed"]
    kept = [r for r in raw if r["mode"] == "tolerance"]
    if fixed:
        write_table(fixed, "bench_tolerance_coverage", OUT)
    if kept:
        write_table(kept, "bench_tolerance_kept", OUT)


if __name__ == "__main__":
    main()
