"""The fair benchmark: products, wall time and true error of sbp's own choice for a tolerance
(``method="auto"`` with rtol; ``"slq"`` with rtol as sbp's stochastic route), against GPyTorch's SLQ as
a user would configure it (its defaults, and 100 probes) and the dense exact value.

Problems: designed spectra (``designed_problem``, condition 1e1-1e6) at d = 64 and 256, and DCGAN-like
generator metrics (``DCGANLike``, random weights, float64, N(0, I) codes), 4 rows of z each. Raw rows are
appended to ``benchmarks/results/bench_fair.jsonl`` one (problem, seed) at a time, so an interrupted run
resumes where it stopped; the summary (``fair_summary``) is written to ``bench_fair_all.md`` (every configuration) and,
side by side per (problem, rtol), ``bench_fair_d<d>.md`` (``fair_wide``).
Wall times are single calls on one thread of a shared 2-core CPU (medians over seeds): rough.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_fair.py [--seeds 10] [--d 64 256] [--summary-only]
       OMP_NUM_THREADS=1 python benchmarks/bench_fair.py --rerun-auto TAG   # new sbp auto and exact rows only
``--rerun-auto TAG`` (after a change to ``method="auto"``; TAG names the change; needs no GPyTorch) replaces the raw rows of
``sbp auto`` and ``exact``, measured in the same run, and keeps the others.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from sbp.experiments.benchmark.fair import fair_raw, fair_summary, fair_wide
from sbp.experiments.benchmark.gpytorch_slq import gpytorch_available
from sbp.experiments.benchmark.problems import tolerance_problems
from sbp.infra.io import write_table

RTOLS = (0.1, 0.03, 0.01)
CONDITIONS = (1e1, 1e2, 1e3, 1e4, 1e5, 1e6)
OUT = Path(__file__).parent / "results"


def problems(dims):
    for d in dims:
        yield from tolerance_problems(d, CONDITIONS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--d", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--raw", default=str(OUT / "bench_fair.jsonl"))
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument("--rerun-auto", metavar="TAG", default=None,
                    help="replace the sbp auto and exact rows only; rows tagged TAG are kept, so that a rerun resumes")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not gpytorch_available() and not (args.summary_only or args.rerun_auto is not None):
        raise SystemExit("gpytorch is not installed: pip install -c requirements/lock.txt -e '.[compare]'")
    raw_path = Path(args.raw)
    raw = [json.loads(l) for l in raw_path.read_text().splitlines()] if raw_path.exists() else []
    kw = {}
    if args.rerun_auto is not None:  # other auto/exact rows out; this rerun's (tagged) stay: it resumes
        raw = [r for r in raw if r["config"] not in ("sbp auto", "exact") or r.get("rerun") == args.rerun_auto]
        raw_path.write_text("".join(json.dumps(r) + "\n" for r in raw))
        kw = dict(sbp_methods=("auto",), gpytorch=False)
    done = {(r["problem"], r["d"], r["seed"]) for r in raw
            if args.rerun_auto is None or r.get("rerun") == args.rerun_auto}
    for make in problems(args.d) if not args.summary_only else ():
        problem = make()
        fair_raw(problem, rtols=RTOLS, seed=10_000, **kw)  # warm-up, not recorded
        for seed in range(args.seeds):
            if (problem.name, problem.z.shape[1], seed) in done:
                continue
            rows = fair_raw(problem, rtols=RTOLS, seed=seed, **kw)
            if args.rerun_auto is not None:
                rows = [{**r, "rerun": args.rerun_auto} for r in rows]
            with raw_path.open("a") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in rows)
            raw += rows
        print(f"{problem.name} (d={problem.z.shape[1]}): {args.seeds} seeds", flush=True)
    summary = fair_summary(raw, RTOLS)
    write_table(summary, "bench_fair_all", OUT)  # every (problem, configuration, rtol)
    wide = fair_wide(summary)
    for d in sorted({r["d"] for r in wide}):
        write_table([r for r in wide if r["d"] == d], f"bench_fair_d{d}", OUT, digits=3)
    for r in summary:
        print(f"{r['problem']:28s} {r['config']:20s} rtol {r['rtol']:<5g} {r['products']:7.0f} products "
              f"{r['wall_s']:7.3f} s  error median {r['median_error']:.2g} p95 {r['p95_error']:.2g} "
              f"within rtol {r['within_rtol']:.0%}  picked {r['picked']}")


if __name__ == "__main__":
    main()
