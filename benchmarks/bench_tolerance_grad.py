"""Bias of the gradient when log det(J^T J) is estimated to a tolerance.

With ``rtol`` the estimator stops adaptively (Lanczos steps per probe, probe blocks), so its gradient need
not be unbiased. Here: a small smooth generator f: R^8 -> R^32 (tanh MLP, float64, fixed weights) at 4 codes;
over ``--seeds`` probe seeds, the gradient of sum_rows log det(J^T J) with respect to f's parameters, against
the exact gradient (dense Jacobian). Reported per (method, rtol): the relative bias ||mean - exact|| / ||exact||
with its standard error over seeds, and the relative root-mean-square error. A fixed budget is the reference.

Run: ``PYTHONPATH=. python benchmarks/bench_tolerance_grad.py [--seeds 100]`` (a few minutes, one thread).
"""
from __future__ import annotations

import argparse
import math
import warnings

import torch

import sbp
from sbp.infra.io import markdown_table, write_table


def generator() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(),
                               torch.nn.Linear(32, 32)).double()


def gradient(f: torch.nn.Module, z: torch.Tensor, **kw) -> torch.Tensor:
    f.zero_grad()
    sbp.logdet_metric(f, z, **kw).logdet.sum().backward()
    return torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).flatten() for p in f.parameters()])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    f = generator()
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    exact = gradient(f, z, method="exact")
    configs = [("chebyshev", None, dict(order=30, probes=8)), ("slq", None, dict(order=20, probes=8))]
    configs += [(m, r, {}) for m in ("slq", "chebyshev") for r in (0.1, 0.03, 0.01)]
    rows = []
    for method, rtol, kw in configs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a missed tolerance is counted below, not printed
            gs = torch.stack([gradient(f, z, method=method, rtol=rtol, generator=s, **kw) for s in range(args.seeds)])
            conv = [bool(sbp.logdet_metric(f, z, method=method, rtol=rtol, generator=s, **kw).converged.all())
                    for s in range(min(args.seeds, 20))] if rtol is not None else []
        bias = (gs.mean(0) - exact).norm() / exact.norm()
        bias_se = gs.std(0).norm() / math.sqrt(args.seeds) / exact.norm()
        rmse = ((gs - exact) ** 2).sum(1).mean().sqrt() / exact.norm()
        rows.append(dict(method=method, rtol="fixed " + ", ".join(f"{k} {v}" for k, v in kw.items()) if rtol is None
                         else rtol, seeds=args.seeds, rel_bias=float(bias), rel_bias_stderr=float(bias_se),
                         rel_rmse=float(rmse), converged_share=sum(conv) / len(conv) if conv else float("nan")))
        print(rows[-1], flush=True)
    print(markdown_table(rows, digits=3))
    write_table(rows, "bench_tolerance_grad", "benchmarks/results", digits=3)


if __name__ == "__main__":
    main()
