"""Is the pathwise gradient of E_z[log |det J_f(z)|] the gradient of the expectation? (Figure 1's loss, Eq. 1-3)

Training by reverse KL differentiates log det(J^T J) at fixed codes z (the reparameterization
gradient). With the paper's LeakyReLU the Jacobian jumps across every unit's kink, so
log |det J| is piecewise constant in z along the kinks' moving boundaries, and the expectation's
derivative has a boundary term that the pathwise gradient lacks. This script measures that, per
activation of ``ResNet2d`` (``sbp.models.activations``):

- L(theta) = mean over N fixed codes z ~ N(0, I) of log |det J_f(z)| (exact 2 x 2 determinant);
- ``pathwise``: the autograd directional derivative of L along K random unit directions u in
  parameter space, at those same codes;
- ``central difference``: (L(theta + h u) - L(theta - h u)) / (2 h) with the same codes (common
  random numbers), which includes the codes that change linear region;
- their difference, relative to the central difference and in units of its standard error over
  20 chunks of the codes. For a smooth activation the difference is the central difference's
  O(h^2) truncation (relative ~1e-7): tiny, and many standard errors, since it does not vary
  between chunks; for LeakyReLU it is the missing boundary term: large, and noisy (it comes
  from the few codes that cross a kink).

Models: ``ResNet2d(seed=s, last_scale=1.0)`` (branches at full scale, so that the kinks matter)
and the same network after a short reverse-KL fit to U1 (600 steps). Prints a table and writes
``benchmarks/results/fig1_gradient_bias.{md,csv,json}``.

Run: ``PYTHONPATH=. python benchmarks/fig1_gradient_bias.py [--n 200000] [--directions 6]``
"""
from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

import torch
from torch.func import functional_call, jacfwd, vmap

import sbp.experiments.density2d.fit as D
from sbp.infra.io import write_table
from sbp.models.activations import ACTIVATIONS
from sbp.models.resnet2d import ResNet2d

OUT = Path(__file__).parent / "results"
CHUNKS = 20


def per_code_logdet(model: ResNet2d, params: dict, z: torch.Tensor) -> torch.Tensor:
    """log |det J_f(z_i)| (N,) with the parameters ``params`` (exact 2 x 2 determinant)."""
    f = lambda x: functional_call(model, params, (x[None],))[0]
    return torch.linalg.slogdet(vmap(jacfwd(f))(z))[1]


def directional(model: ResNet2d, z: torch.Tensor, u: dict, h: float) -> dict:
    """Pathwise and central-difference derivatives of the chunk means of log |det J| along u (both (CHUNKS,))."""
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    chunks = z.chunk(CHUNKS)
    pathwise, central = [], []
    for zc in chunks:
        ld = per_code_logdet(model, params, zc).mean()
        g = torch.autograd.grad(ld, list(params.values()), allow_unused=True)  # the last bias moves no Jacobian
        pathwise.append(sum(float((gi * u[k]).sum()) for gi, k in zip(g, params) if gi is not None))
        with torch.no_grad():
            plus = per_code_logdet(model, {k: v + h * u[k] for k, v in params.items()}, zc).mean()
            minus = per_code_logdet(model, {k: v - h * u[k] for k, v in params.items()}, zc).mean()
        central.append(((plus - minus) / (2 * h)).item())
    return dict(pathwise=torch.tensor(pathwise, dtype=torch.float64), central=torch.tensor(central, dtype=torch.float64))


def measure(model: ResNet2d, name: str, n: int, directions: int, h: float, seed: int) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    rows = []
    for k in range(directions):
        u = {key: torch.randn(p.shape, generator=gen, dtype=p.dtype) for key, p in model.named_parameters()}
        norm = math.sqrt(sum(float((v ** 2).sum()) for v in u.values()))
        u = {key: v / norm for key, v in u.items()}
        r = directional(model, z, u, h)
        diff = r["pathwise"] - r["central"]
        se = float(diff.std() / math.sqrt(CHUNKS))
        pw, cd = float(r["pathwise"].mean()), float(r["central"].mean())
        rows.append(dict(model=name, activation=model.activation, direction=k, pathwise=pw, central=cd,
                         difference=pw - cd, relative=abs(pw - cd) / max(abs(cd), 1e-12),
                         z_score=(pw - cd) / se if se > 0 else math.inf))
        print(f"{name:28s} {model.activation:18s} dir {k}: pathwise {pw:+.5f} central {cd:+.5f} "
              f"difference {pw - cd:+.2e} (relative {rows[-1]['relative']:.1e}, {rows[-1]['z_score']:+.1f} s.e.)", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--directions", type=int, default=6)
    ap.add_argument("--h", type=float, default=1e-3)
    ap.add_argument("--fit-steps", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for act in ACTIVATIONS:
        rows += measure(ResNet2d(seed=0, last_scale=1.0, activation=act), "init (last_scale 1)", args.n,
                        args.directions, args.h, seed=1)
        fit = D.fit_reverse_kl("U1", method="exact", iterations=args.fit_steps, batch=256, lr=1e-3, lr_final=1e-5,
                               confine=0.1, activation=act, seed=0, show_progress=False)
        rows += measure(fit.model, f"U1 fit ({args.fit_steps} steps)", args.n, args.directions, args.h, seed=2)
    write_table(rows, "fig1_gradient_bias", OUT)
    summary = {}
    for r in rows:
        summary.setdefault((r["model"], r["activation"]), []).append(r)
    for (m, a), rs in summary.items():
        print(f"{m:28s} {a:18s} median |pathwise - central| / |central| "
              f"{statistics.median(x['relative'] for x in rs):.1e}, max |z| {max(abs(x['z_score']) for x in rs):.1f}")


if __name__ == "__main__":
    main()
