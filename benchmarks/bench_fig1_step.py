"""Cost of one Figure 1 training step: estimator-trained against exact-trained, monitoring off.

One step = draw z (batch, 2), estimate log det(J^T J) (Chebyshev, 2 probes, power_iters 2),
form the reverse-KL loss, backward, Adam. Times are medians over ``--steps`` steps after 10
warm-up steps (no compilation is involved, so warm-up is only allocator and dispatch caches),
one CPU thread, interleaved between the variants so that machine load hits them alike. The
autograd-engine calls per step (``torch.autograd.grad`` and ``Tensor.backward``) show where
the time goes: every product J^T J v is two engine calls through the network.

The model is ``ResNet2d`` with the paper's LeakyReLU and with notebook 01's tanh (ours).

Run: ``PYTHONPATH=. python benchmarks/bench_fig1_step.py [--batch 64 256] [--steps 60] [--activation leaky_relu tanh]``
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from sbp.experiments.density2d.energies import ENERGIES
from sbp.models.resnet2d import ResNet2d
from sbp.numerics.density import log_normal
from sbp.numerics.logdet import logdet_metric

VARIANTS = {  # name: logdet_metric keywords
    "exact": dict(method="exact", jvp_mode="reverse"),
    "chebyshev-20 backprop": dict(order=20, probes=2, power_iters=2, jvp_mode="reverse", grad_mode="backprop"),
    "chebyshev-20 lowmem": dict(order=20, probes=2, power_iters=2, jvp_mode="reverse", grad_mode="lowmem"),
    "chebyshev-10 lowmem": dict(order=10, probes=2, power_iters=2, jvp_mode="reverse", grad_mode="lowmem"),
    "chebyshev-20 forward lowmem": dict(order=20, probes=2, power_iters=2, jvp_mode="forward", grad_mode="lowmem"),
    # the same estimate and gradient to rounding, products through the 2 x 2 Jacobian formed once
    "chebyshev-20 dense backprop": dict(order=20, probes=2, power_iters=2, jvp_mode="dense", grad_mode="backprop"),
    "chebyshev-20 dense lowmem": dict(order=20, probes=2, power_iters=2, jvp_mode="dense", grad_mode="lowmem"),
    # notebook 01's quick profile (with tanh): order 100, 4 probes
    "chebyshev-100x4 dense backprop": dict(order=100, probes=4, power_iters=2, jvp_mode="dense", grad_mode="backprop"),
    "chebyshev-100x4 dense lowmem": dict(order=100, probes=4, power_iters=2, jvp_mode="dense", grad_mode="lowmem"),
}


class EngineCalls:
    """Counts autograd-engine entries (torch.autograd.grad, Tensor.backward) while active."""

    def __enter__(self):
        self.n, self._grad, self._backward = 0, torch.autograd.grad, torch.Tensor.backward

        def grad(*a, **k):
            self.n += 1
            return self._grad(*a, **k)

        def backward(t, *a, **k):
            self.n += 1
            return self._backward(t, *a, **k)
        torch.autograd.grad, torch.Tensor.backward = grad, backward
        return self

    def __exit__(self, *exc):
        torch.autograd.grad, torch.Tensor.backward = self._grad, self._backward


def make_step(batch: int, kw: dict, activation: str):
    model = ResNet2d(seed=0, activation=activation)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(1)

    def step() -> None:
        z = torch.randn(batch, 2, generator=gen, dtype=torch.float64)
        est = logdet_metric(model, z, generator=gen, **kw)
        loss = (log_normal(z) - 0.5 * est.logdet + ENERGIES["U1"](model(z))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", nargs="*", type=int, default=[64, 256])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--activation", nargs="*", default=["leaky_relu", "tanh"],
                    help="ResNet2d activations: the paper's LeakyReLU and notebook 01's tanh (ours)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for activation, batch in [(a, b) for a in args.activation for b in args.batch]:
        steps = {name: make_step(batch, kw, activation) for name, kw in VARIANTS.items()}
        times = {name: [] for name in VARIANTS}
        calls = {}
        for name, step in steps.items():
            for _ in range(10):
                step()
            with EngineCalls() as c:
                step()
            calls[name] = c.n
        for _ in range(args.steps):
            for name, step in steps.items():
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
        ref = statistics.median(times["exact"])
        for name in VARIANTS:
            med = statistics.median(times[name])
            rows.append(dict(activation=activation, batch=batch, variant=name, ms_per_step=med * 1e3, over_exact=med / ref,
                             engine_calls_per_step=calls[name]))
            print(rows[-1], flush=True)
    from sbp.infra.io import markdown_table, write_table
    print(markdown_table(rows, digits=3))
    write_table(rows, "bench_fig1_step", "benchmarks/results", digits=3)


if __name__ == "__main__":
    main()
