"""Peak memory of one training step (estimate + backward) against the order (issue 7, item 4).

Each configuration runs in a fresh subprocess; the number reported is the peak resident set
size (``ru_maxrss``) during one ``logdet_metric(...).logdet.sum().backward()`` minus the
resident size just before it (model built, one plain forward done). ``backprop`` keeps the
graph of every step of the recurrence; ``lowmem`` runs it without a graph and keeps one
product's graph. CPU only; RSS includes allocator slack, so small differences are noise.

    python benchmarks/bench_memory.py            # orders 10, 30, 100
    python benchmarks/bench_memory.py --quick    # orders 10, 100, chebyshev only
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys, time
import torch
from torch import nn
torch.set_num_threads(1)
import sbp
method, mode, order, d, B, probes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.manual_seed(0)
w = 16
f = nn.Sequential(nn.Linear(d, 4 * w * 16), nn.Unflatten(1, (4 * w, 4, 4)), nn.LeakyReLU(0.2),
                  nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
                  nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.LeakyReLU(0.2),
                  nn.ConvTranspose2d(w, 3, 4, 2, 1), nn.Tanh())
z = torch.randn(B, d, generator=torch.Generator().manual_seed(1))
f(z).sum().backward()
f.zero_grad()
page = os.sysconf("SC_PAGE_SIZE")
rss0 = int(open("/proc/self/statm").read().split()[1]) * page
t0 = time.perf_counter()
est = sbp.logdet_metric(f, z, method=method, order=order, probes=probes, generator=0, grad_mode=mode)
est.logdet.sum().backward()
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(peak_mb=(peak - rss0) / 2**20, wall=wall, logdet=est.logdet.mean().item(),
                      products=est.products)))
"""


def run(method: str, mode: str, order: int, d: int, B: int, probes: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, method, mode, str(order), str(d), str(B), str(probes)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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
                r = run(method, mode, order, args.d, args.batch, args.probes)
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
