"""Peak memory of one training step (estimate + backward) against the order.

Each configuration runs in a fresh subprocess (``sbp.experiments.benchmark.peak_rss_step``); the number
reported is the peak resident set size (``ru_maxrss``) during one ``logdet_metric(...).logdet.sum().backward()`` minus the
resident size just before it (model built, one plain forward done). ``backprop`` keeps the
graph of every step of the recurrence; ``lowmem`` runs it without a graph and keeps one
product's graph. CPU only; RSS includes allocator slack, so small differences are noise.

    python benchmarks/bench_memory.py            # orders 10, 30, 100
    python benchmarks/bench_memory.py --quick    # orders 10, 100, chebyshev only
"""
from __future__ import annotations

import argparse

from sbp.experiments.benchmark import peak_rss_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--probes", type=int, default=4)
    args = ap.parse_args()
    orders = [10, 100] if args.quick else [10, 30, 100]
    methods = ["chebyshev"] if args.quick else ["chebyshev", "slq"]
    print(f"DCGAN-like generator d={args.d} -> 3x32x32, batch {args.batch}, {args.probes} probes, 1 thread")
    print(f"{'method':10s} {'grad_mode':9s} {'order':>5s} {'products':>8s} {'peak MB':>8s} {'wall s':>7s} {'logdet':>10s}")
    rows = {}
    for method in methods:
        for mode in ("backprop", "lowmem"):
            for order in orders:
                r = peak_rss_step(method, mode, order, d=args.d, batch=args.batch, probes=args.probes)
                rows[(method, mode, order)] = r
                print(f"{method:10s} {mode:9s} {order:5d} {r['products']:8d} {r['peak_mb']:8.1f} {r['wall']:7.2f} "
                      f"{r['logdet']:10.3f}", flush=True)
    print("\nratio of peak memory, order", orders[-1], "/ order", orders[0])
    for method in methods:
        for mode in ("backprop", "lowmem"):
            hi, lo = rows[(method, mode, orders[-1])]["peak_mb"], rows[(method, mode, orders[0])]["peak_mb"]
            print(f"{method:10s} {mode:9s} {hi / max(lo, 1e-9):6.2f}x")


if __name__ == "__main__":
    main()
