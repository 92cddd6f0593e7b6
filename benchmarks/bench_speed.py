"""Speed against exact with and without a graph, and what ``auto`` with ``rtol=0.01`` costs.

64x64 DCGAN-like generator (width 32, float32, random weights; as ``bench_core.py --only speed``),
batch 1, at each latent size d:
- no graph (``torch.no_grad``): exact against chebyshev order 20, 4 probes, 20 Krylov steps;
- with a graph (z requires grad, the estimate is built for backpropagation): the call alone, and
  the call plus ``backward()``, for exact and the same chebyshev estimate;
- ``method="auto"`` with ``rtol=0.01`` (confidence 0.95), with and without a graph: its wall time
  against exact (target: at most as slow), the method it took and its true relative error.
Times are the shortest of ``--repeats`` calls after one warm-up (``timed``), one thread.
Writes ``benchmarks/results/bench_speed.md`` / ``.json`` / ``.csv``.

``bench_speed_auto_exact``: where ``auto`` with ``rtol=0.01`` takes exact (the tolerance problems of
``bench_fair``: designed spectra and a DCGAN-like generator metric, 4 rows, float64, no graph), its wall
time against ``method="exact"``: calls alternate, ``--calls`` of each, medians (target: at most as slow).

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_speed.py [--sizes 256 512 1024] [--repeats 3] [--calls 16]
       [--only speed|auto_exact]
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import torch

import sbp
from sbp.experiments.benchmark import DCGANLike, timed
from sbp.experiments.benchmark.problems import tolerance_problems
from sbp.infra.io import write_table

OUT = Path(__file__).parent / "results"


def run(G, z, graph: bool, backward: bool, **kw):
    zz = z.clone().requires_grad_(graph)
    with torch.enable_grad() if graph else torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = sbp.logdet_metric(G, zz, jvp_mode="reverse", **kw)
        if backward:
            est.logdet.sum().backward()
    return est


def rows_for(d: int, repeats: int) -> list[dict]:
    G = DCGANLike(d, width=32).eval().requires_grad_(False)
    z = torch.randn(1, d, generator=torch.Generator().manual_seed(1))
    cheb = dict(method="chebyshev", order=20, probes=4, power_iters=20, generator=0)
    auto = dict(method="auto", rtol=0.01, generator=0)
    exact = run(G, z, False, False, method="exact").logdet
    rows = []
    for graph, backward in ((False, False), (True, False), (True, True)):
        t_ex, _ = timed(lambda: run(G, z, graph, backward, method="exact"), repeats)
        t_ch, ch = timed(lambda: run(G, z, graph, backward, **cheb), repeats)
        t_au, au = timed(lambda: run(G, z, graph, backward, **auto), repeats)
        mode = "no graph" if not graph else ("graph" if not backward else "graph + backward")
        rel = lambda e: ((e.logdet.detach().double() - exact.double()).abs() / exact.double().abs()).item()
        rows.append({"d": d, "mode": mode, "exact_s": t_ex, "chebyshev20x4_s": t_ch, "speedup": t_ex / t_ch,
                     "chebyshev_error": rel(ch), "auto_rtol0.01_s": t_au, "auto_over_exact": t_au / t_ex,
                     "auto_method": au.method, "auto_error": rel(au),
                     "auto_converged": bool(au.converged.all())})
        print(rows[-1], flush=True)
    return rows


def overhead_rows(d: int, calls: int) -> list[dict]:
    """auto (rtol 0.01) against exact on ``tolerance_problems(d)``: alternating calls, median wall times."""
    rows = []
    for make in tolerance_problems(d, (1e1, 1e3, 1e6)):
        p = make()
        kinds = {"exact": dict(method="exact"), "auto": dict(method="auto", rtol=0.01, generator=0)}
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for i in range(calls + 1):  # the first round warms up
            for kind, kw in kinds.items():
                t0 = time.perf_counter()
                auto = run(p.f, p.z, False, False, **kw)  # the last call is auto's
                if i:
                    times[kind].append(time.perf_counter() - t0)
        ex, au = statistics.median(times["exact"]), statistics.median(times["auto"])
        rows.append({"problem": p.name, "d": d, "exact_ms": 1e3 * ex, "auto_ms": 1e3 * au, "auto_over_exact": au / ex,
                     "auto_method": auto.method, "auto_products": auto.products, "calls": calls})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--calls", type=int, default=16)
    ap.add_argument("--only", choices=["speed", "auto_exact"], default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.only != "speed":
        write_table([r for d in (64, 256) for r in overhead_rows(d, args.calls)], "bench_speed_auto_exact", OUT)
    if args.only != "auto_exact":
        write_table([r for d in args.sizes for r in rows_for(d, args.repeats)], "bench_speed", OUT)


if __name__ == "__main__":
    main()
