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

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_speed.py [--sizes 256 512 1024] [--repeats 3]
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch

import sbp
from sbp.experiments.benchmark import DCGANLike, timed
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = [r for d in args.sizes for r in rows_for(d, args.repeats)]
    write_table(rows, "bench_speed", OUT)


if __name__ == "__main__":
    main()
