"""Hutch++ against plain Hutchinson at equal numbers of vector products.

Error of ``logdet_metric`` against ``method="exact"`` over seeds, for the same polynomial
(chebyshev, same order) and the same total number of probe vectors pushed through the
recurrence (Hutch++ uses probes//3 of them for its sketch). Problems:
  flat       designed spectrum, log-eigenvalues spread evenly (cond 1e2): no dominant part
  decaying   designed spectrum, most eigenvalues near 1 and a few far (cond 1e2)
  generator  metric of a randomly initialised (untrained) DCGAN-like generator, d = 32

    python benchmarks/bench_variance.py [--seeds 30]
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

import sbp
from sbp.experiments.benchmark import designed_map

F64 = torch.float64


def problems():
    d, D = 32, 48
    flat = torch.logspace(0, -1, d, dtype=F64)
    decaying = torch.cat([torch.logspace(0, -1, 4, dtype=F64), torch.full((d - 4,), 0.97, dtype=F64)])
    for name, s in (("flat", flat), ("decaying", decaying)):
        A = designed_map(s, D)
        yield name, (lambda z, A=A: z @ A.T), torch.zeros(1, d, dtype=F64)
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(d, 64 * 16), nn.Unflatten(1, (64, 4, 4)), nn.LeakyReLU(0.2),
                      nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.LeakyReLU(0.2),
                      nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Tanh()).double()
    yield "generator", f, torch.randn(1, d, generator=torch.Generator().manual_seed(1), dtype=F64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--order", type=int, default=60)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"chebyshev order {args.order}, {args.seeds} seeds; median |error| against exact")
    print(f"{'problem':10s} {'probes':>6s} {'hutchinson':>11s} {'hutch++':>9s} {'ratio':>6s}")
    for name, f, z in problems():
        exact = sbp.logdet_metric(f, z, method="exact").logdet
        for probes in (6, 12, 24):
            med = {}
            for vr in ("none", "hutchpp"):
                errs = [(sbp.logdet_metric(f, z, order=args.order, probes=probes, generator=s,
                                           variance_reduction=vr).logdet - exact).abs().item()
                        for s in range(args.seeds)]
                med[vr] = torch.tensor(errs).median().item()
            print(f"{name:10s} {probes:6d} {med['none']:11.4f} {med['hutchpp']:9.4f} "
                  f"{med['none'] / max(med['hutchpp'], 1e-300):6.2f}x", flush=True)


if __name__ == "__main__":
    main()
