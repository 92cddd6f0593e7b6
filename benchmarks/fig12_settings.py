"""Measurements behind the reconstructed Section 3 settings (notebooks 01 and 02, first cell).

1. Estimator accuracy and cost vs (order, probes) on a model trained on U1 with the
   exact log det: relative error of the log-likelihood (``sbp.density_fit.relative_error``)
   over 2,048 latent codes, and seconds per training step (forward + backward, batch 64).
2. How often the exact log-likelihood is near 0 during training (why the relative error
   divides by max(|exact|, 1) rather than |exact|).
3. Eq. 8: fraction of U3 samples leaving the box [-4, 4]^2 and KL, with and without the
   spectral-norm penalty, after the same training.

Run: ``PYTHONPATH=. python benchmarks/fig12_settings.py [iterations]`` (CPU, a few minutes).
Timings depend on machine load.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch

import sbp
from sbp import density_fit as D
from sbp.density import log_normal


def main(iterations: int = 500) -> None:
    torch.set_num_threads(int(__import__("os").environ.get("SBP_THREADS", "1")))
    base = D.fit_reverse_kl("U1", method="exact", iterations=iterations, show_progress=False)
    f = base.model
    z = torch.randn(2048, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    ll_ex = log_normal(z) - 0.5 * D.exact_logdet(f, z)
    print(f"exact-trained U1 model ({iterations} its): |log-lik| < 0.1 for "
          f"{(ll_ex.abs() < 0.1).double().mean():.3f} of samples, < 1 for {(ll_ex.abs() < 1).double().mean():.3f}")
    print("\n| order | probes | rel. error (mean) | s / training step |\n|---|---|---|---|")
    zb = z[:64]
    for order in (5, 10, 20, 40):
        for probes in (1, 2, 4, 8):
            est = sbp.logdet_metric(f, z, order=order, probes=probes, power_iters=2, jvp_mode="reverse", generator=0)
            rel = D.relative_error((log_normal(z) - 0.5 * est.logdet).detach(), ll_ex).item()
            t0 = time.perf_counter()
            for _ in range(5):
                e = sbp.logdet_metric(f, zb, order=order, probes=probes, power_iters=2, jvp_mode="reverse", generator=0)
                e.logdet.sum().backward()
            print(f"| {order} | {probes} | {rel:.3f} | {(time.perf_counter() - t0) / 5:.3f} |")
    t0 = time.perf_counter()
    for _ in range(5):
        sbp.logdet_metric(f, zb, method="exact", jvp_mode="reverse").logdet.sum().backward()
    print(f"| exact | - | 0 | {(time.perf_counter() - t0) / 5:.3f} |")
    print("\n| energy | reg_weight | KL (exact-trained) | outside box |\n|---|---|---|---|")
    for e in ("U3", "U4"):
        for w in (0.0, 1.0):
            r = D.fit_reverse_kl(e, method="exact", iterations=iterations, reg_weight=w, reg_threshold=4.0,
                                 show_progress=False)
            k = D.reverse_kl(r.model, e)
            print(f"| {e} | {w} | {k['kl']:.3f} | {k['outside']:.4f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
