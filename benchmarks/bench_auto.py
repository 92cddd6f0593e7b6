"""Wall time of method="auto" against exact and chebyshev across latent sizes.

DCGAN-like generator (``sbp.experiments.benchmark.DCGANLike``, 3x64x64 output), batch 1, chebyshev order
20, 4 probes, 20 power iterations, no graph: the estimator then needs 20 x 4 vector products
(Lanczos from every probe; Gauss quadrature gives the order-20 value), and the cost model
switches to it above d = AUTO_PRODUCT_COST * 80 = 240. Prints the times and auto's overhead over the
faster of the two (``sbp.experiments.benchmark.wall_time_vs_exact``; notebook 08 plots the same).

    python benchmarks/bench_auto.py [--sizes 32 128 256 512] [--width 16]
"""
from __future__ import annotations

import argparse

from sbp.experiments.benchmark import wall_time_vs_exact


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 512, 1024])
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--jvp-mode", default="forward", choices=["forward", "reverse"])
    args = ap.parse_args()
    print(f"{'d':>5s} {'exact s':>8s} {'cheb s':>8s} {'auto picks':>10s} {'auto s':>8s} {'over best':>9s}")
    for d in args.sizes:
        r = wall_time_vs_exact([d], width=args.width, jvp_mode=args.jvp_mode)[0]
        print(f"{d:5d} {r['exact_s']:8.3f} {r['estimator_s']:8.3f} {r['auto_pick']:>10s} {r['auto_s']:8.3f} "
              f"{r['auto_over_best']:8.0%}", flush=True)


if __name__ == "__main__":
    main()
