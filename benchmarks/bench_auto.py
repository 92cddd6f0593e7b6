"""Wall time of method="auto" against exact and chebyshev across latent sizes (issue 7, item 5).

DCGAN-like generator (benchmarks/bench_core.py, 3x64x64 output), batch 1, chebyshev order 20,
4 probes, 20 power iterations: the cost model switches to the estimator above
d = AUTO_PRODUCT_COST * (20 + 1 + 80) = 2525. Prints the times and auto's overhead over the
faster of the two.

    python benchmarks/bench_auto.py [--sizes 32 128 256 512]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import sbp
from sbp.logdet import auto_method

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import DCGANLike, timed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 512, 1024])
    args = ap.parse_args()
    kw = dict(order=20, probes=4, generator=0)
    print(f"{'d':>5s} {'exact s':>8s} {'cheb s':>8s} {'auto picks':>10s} {'auto s':>8s} {'over best':>9s}")
    for d in args.sizes:
        f = DCGANLike(d, width=16).eval()
        z = torch.randn(1, d, generator=torch.Generator().manual_seed(0))
        t_ex, _ = timed(lambda: sbp.logdet_metric(f, z, method="exact"), repeats=1)
        t_ch, _ = timed(lambda: sbp.logdet_metric(f, z, **kw), repeats=1)
        t_au, _ = timed(lambda: sbp.logdet_metric(f, z, method="auto", **kw), repeats=1)
        pick = auto_method(d, order=20, probes=4, power_iters=20)
        print(f"{d:5d} {t_ex:8.3f} {t_ch:8.3f} {pick:>10s} {t_au:8.3f} {t_au / min(t_ex, t_ch) - 1:8.0%}", flush=True)


if __name__ == "__main__":
    main()
