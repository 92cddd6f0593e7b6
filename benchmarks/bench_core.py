"""Benchmark of the core estimators (issue: sbp core). Prints tables; asserts nothing.

1. Accuracy: relative error of Chebyshev and Taylor against exact, versus order and probes,
   on the metric of a 64x64 DCGAN-like generator (d=128).
2. Speed: wall time of ``logdet_metric`` (order 20, 4 probes) against ``method="exact"``
   at latent sizes 128, 512, 1024, and against the bare cost of the JVP+VJP products the
   estimator needs (measured by running exactly those products, nothing else). Without a
   graph the estimator's value comes from the Lanczos runs that gave the interval (Gauss
   quadrature, exact for order < 2 power_iters), so those are all the products it needs.
3. Lower-bound rule: Chebyshev error on designed spectra (condition 1e2-1e4) for the
   interval rules a = lambda_min (oracle), a = theta_min (bottom Ritz value) and the default.

    python benchmarks/bench_core.py            # everything (about 3 minutes on 2 cores)
    python benchmarks/bench_core.py --quick    # smaller
"""
from __future__ import annotations

import argparse
import math

import torch

import sbp
from sbp.experiments.benchmark import DCGANLike, timed
from sbp.numerics.bounds import lanczos_bounds
from sbp.numerics.trace import rademacher
from sbp.numerics.jacobian import metric_operator
from sbp.numerics.polynomials import chebyshev_eval, chebyshev_log_coeffs


def rel_err(est, exact) -> float:
    return ((est - exact).abs() / exact.abs().clamp_min(1.0)).mean().item()


def accuracy_table(quick: bool) -> None:
    d = 64 if quick else 128
    G = DCGANLike(d).eval().requires_grad_(False)
    z = torch.randn(2, d, generator=torch.Generator().manual_seed(0))
    exact = sbp.logdet_metric(G, z, method="exact")
    cond = (exact.lambda_max / exact.lower).tolist()
    print(f"\n## Accuracy on a DCGAN-like generator, d={d}, condition numbers {[f'{c:.3g}' for c in cond]}")
    print("| method | order | probes | rel. error (mean over 2 z, 3 seeds) | stderr/|exact| |")
    print("|---|---|---|---|---|")
    for method in ("chebyshev", "taylor"):
        for order in (5, 10, 20, 40) if quick else (5, 10, 20, 40, 80):
            for probes in (1, 4, 16):
                errs, ses = [], []
                for seed in range(3):
                    with torch.no_grad():
                        est = sbp.logdet_metric(G, z, method=method, order=order, probes=probes, generator=seed)
                    errs.append(rel_err(est.logdet, exact.logdet))
                    ses.append((est.stderr / exact.logdet.abs()).nanmean().item())
                print(f"| {method} | {order} | {probes} | {sum(errs) / 3:.4f} | {sum(ses) / 3:.4f} |")


def speed_table(quick: bool) -> None:
    sizes = (128, 512) if quick else (128, 512, 1024)
    order, probes, iters = 20, 4, 20
    print(f"\n## Wall time, 64x64 DCGAN-like generator (width 32), B=1, order {order}, {probes} probes, "
          f"{iters} Krylov steps, {torch.get_num_threads()} threads")
    print("Speed-up is against the faster of the two exact routes (dense Jacobian by forward-mode JVPs or by "
          "double VJPs, 256 columns per call); the default jvp_mode 'auto' is 'reverse' on CPU.")
    print("| d | jvp_mode | exact fwd (s) | exact rev (s) | estimator (s) | speed-up | rel. error | "
          "bare products (s) | estimator / bare |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in sizes:
        G = DCGANLike(d).eval().requires_grad_(False)
        z = torch.randn(1, d, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            t_fwd, exact = timed(lambda: sbp.logdet_metric(G, z, method="exact", jvp_mode="forward"), 2)
            t_rev, _ = timed(lambda: sbp.logdet_metric(G, z, method="exact", jvp_mode="reverse"), 2)
            t_exact = min(t_fwd, t_rev)
            for mode in ("forward", "reverse"):
                t_est, est = timed(lambda: sbp.logdet_metric(G, z, order=order, probes=probes,
                                                            power_iters=iters, generator=0, jvp_mode=mode))
                VP = torch.ones(probes, 1, d)

                def bare():  # the products a no-graph estimate needs: Lanczos over the probe block
                    op = metric_operator(G, z, jvp_mode=mode, check=False)
                    for _ in range(iters + (order if order >= 2 * iters else 0)):
                        op.matvec(VP)

                t_bare, _ = timed(bare)
                print(f"| {d} | {mode} | {t_fwd:.3f} | {t_rev:.3f} | {t_est:.3f} | {t_exact / t_est:.1f}x | "
                      f"{rel_err(est.logdet, exact.logdet):.4f} | {t_bare:.3f} | {t_est / t_bare:.2f} |")


def lower_bound_table(quick: bool) -> None:
    d = 256 if quick else 512
    print(f"\n## Chebyshev relative error (exact traces) by lower-bound rule, d={d}, 20 Krylov steps")
    print("| spectrum | condition | rule | order 20 | 50 | 100 | 200 | 400 |")
    print("|---|---|---|---|---|---|---|---|")
    for kappa in (1e2, 1e4):
        specs = {
            "log-spaced": torch.logspace(0, -math.log10(kappa), d, dtype=torch.float64),
            "uniform": torch.linspace(1, 1 / kappa, d, dtype=torch.float64),
        }
        for name, lam in specs.items():
            truth = lam.log().sum()
            v0 = rademacher((1, d), generator=torch.Generator().manual_seed(0), dtype=torch.float64,
                            device=torch.device("cpu"))
            sb = lanczos_bounds(lambda v: v * lam, v0, 20)
            a_def, b = sb.interval()
            rules = {"oracle lambda_min": lam.min().reshape(1), "theta_min": sb.theta_min, "default": a_def}
            for rule, a in rules.items():
                errs = []
                for order in (20, 50, 100, 200, 400):
                    c = chebyshev_log_coeffs(order, a, b)
                    est = chebyshev_eval(c, lam[None], a, b).sum()
                    errs.append(f"{abs((est - truth) / truth).item():.1e}")
                print(f"| {name} | {kappa:.0e} | {rule} | " + " | ".join(errs) + " |")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["accuracy", "speed", "bounds"])
    args = p.parse_args()
    torch.manual_seed(0)
    if args.only in (None, "bounds"):
        lower_bound_table(args.quick)
    if args.only in (None, "accuracy"):
        accuracy_table(args.quick)
    if args.only in (None, "speed"):
        speed_table(args.quick)
