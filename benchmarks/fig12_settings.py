"""Measurements behind the reconstructed Section 3 settings (notebooks 01 and 02, final Measurements cell).

Sections (``--only NAME``, several allowed; default: all, about an hour of one CPU core):

- ``interval``: in 2-D the core's default spectral interval is exact (Lanczos with d <= power_iters):
  ratio of ``lower``/``upper`` to the exact extreme eigenvalues of J^T J on a trained model.
- ``accuracy``: bias and spread of the Chebyshev/Hutchinson estimate of log det(J^T J) vs order,
  probes, on models trained (exact log det) on U1, U2 and U4; seconds per training step.
- ``schedule``: exact-trained KL(q||p) for step-size schedules x iterations x seeds (Figure 1),
  and KL(p||q) for Figure 2: the step size and budget of the quick profile.
- ``reg``: Eq. 8 on U3/U4: weight x threshold, KL and fraction of samples outside the box.
- ``order``: KL of estimator-trained vs exact-trained models (same seed, batches, budget) for
  (order, probes): is the gap bias (order) or variance (probes)?
- ``split``: is U3's / U4's split learned (``sbp.experiments.density2d.energies.split_share``) by exact-trained models under
  longer runs, a larger batch, annealing the energy (Rezende & Mohamed 2015), a wall confining
  samples to the box, no Eq. 8? About 8 minutes.
- ``activation``: Figure 2 (maximum likelihood) with the smooth activations that fit Figure 1
  (``sbp.models.activations``, ours): KL(p||q), q's mass on the box, TV(q / M, p), exact-trained, for
  notebook 02's quick profile (batch 64, constant lr 1e-3, 1000 steps), seed 0. About 2 minutes.

Run: ``PYTHONPATH=. nice -n 10 python benchmarks/fig12_settings.py --only order`` (CPU).
Timings depend on machine load. Sample histograms go to ``build/fig12_settings/`` with ``--plots``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import sbp
import sbp.experiments.density2d.fit as D

SECTIONS = ("interval", "accuracy", "schedule", "reg", "order", "split", "activation")
ENERGIES = ("U1", "U2", "U3", "U4")
# the quick profile's choices (notebooks 01 and 02), the baseline every section varies
QUICK = dict(iterations=600, lr=3e-3, lr_final=3e-5, order=20, probes=2, power_iters=2)
REG = dict(reg_weight=1.0, reg_threshold=16.0)  # Eq. 8 on U3 and U4


def _reg(energy: str, weight: float = REG["reg_weight"], threshold: float = REG["reg_threshold"]) -> dict:
    return dict(reg_weight=weight if energy in ("U3", "U4") else 0.0, reg_threshold=threshold)


def _save_samples(plots: Path | None, name: str, x: np.ndarray) -> None:
    if plots is None:
        return
    import matplotlib
    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    plots.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 3))
    e = np.linspace(-4, 4, 61)
    ax.hist2d(x[:, 0], x[:, 1], bins=[e, e])
    ax.set_title(name, fontsize=7)
    ax.set_aspect("equal")
    fig.savefig(plots / f"{name}.png", dpi=60)
    plt.close(fig)


def _train_kl(kind: str, name: str, method: str, *, seed: int = 0, plots: Path | None = None, **kw) -> dict:
    """Train one model and return its KL (reverse: KL(q||p) and fraction outside the box; forward: KL(p||q))."""
    cfg = dict(QUICK, **kw)
    if method == "exact":
        cfg.pop("order"), cfg.pop("probes"), cfg.pop("power_iters")
    t0 = time.perf_counter()
    if kind == "reverse":
        r = D.fit_reverse_kl(name, method=method, seed=seed, show_progress=False, monitor=method != "exact", **cfg)
        k = D.reverse_kl(r.model, name, n=10_000, seed=seed + 1000)
        _save_samples(plots, f"{name}_{method}_" + "_".join(f"{a}{b}" for a, b in sorted(kw.items())) + f"_s{seed}",
                      k["samples"])
    else:
        r = D.fit_forward_kl(name, method=method, seed=seed, show_progress=False, monitor=method != "exact", **cfg)
        k = D.forward_kl(r.model, name, n=10_000, seed=seed + 1000)
        k["outside"] = float("nan")
    return dict(kl=k["kl"], outside=k["outside"], s_per_it=(time.perf_counter() - t0) / cfg["iterations"],
                rel=float(np.nanmedian(r.rel_error)) if method != "exact" else 0.0, samples=k.get("samples"))


def interval() -> None:
    sched = {k: QUICK[k] for k in ("iterations", "lr", "lr_final")}
    f = D.fit_reverse_kl("U2", method="exact", show_progress=False, **sched).model
    z = torch.randn(512, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    J = torch.func.vmap(torch.func.jacrev(lambda v: f(v[None])[0]))(z)
    ev = torch.linalg.eigvalsh(J.mT @ J)
    est = sbp.logdet_metric(f, z, order=20, probes=2, power_iters=2, jvp_mode="reverse", generator=0)
    lo, hi = est.lower / ev[:, 0], est.upper / ev[:, 1]
    print("\n## interval: core default spectral interval vs exact eigenvalues (U2 model, 512 codes, power_iters=2)")
    print(f"lower / lambda_min in [{lo.min():.7f}, {lo.max():.7f}], "
          f"upper / lambda_max in [{hi.min():.7f}, {hi.max():.7f}]; "
          f"condition number median {(ev[:, 1] / ev[:, 0]).median():.1f}, max {(ev[:, 1] / ev[:, 0]).max():.1f}")


def accuracy() -> None:
    print("\n## accuracy: estimate of log det(J^T J) on exact-trained models (512 codes, 32 probe draws each)")
    print("| energy | order | probes | polynomial bias (mean abs) | Hutchinson std (mean) | s / training step |")
    print("|---|---|---|---|---|---|")
    for e in ("U1", "U2", "U4"):
        f = D.fit_reverse_kl(e, method="exact", show_progress=False, **_reg(e),
                             **{k: QUICK[k] for k in ("iterations", "lr", "lr_final")}).model
        z = torch.randn(512, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
        ex = D.exact_logdet(f, z)
        zb = z[:64]
        for order in (5, 10, 20, 30):
            # polynomial bias alone: in 2-D, Hutch++ with 3 probes gives the exact trace of p(G) (the sketch's
            # residual direction is orthogonal to p(G) s), so its error is the polynomial's
            poly = sbp.logdet_metric(f, z, order=order, probes=3, power_iters=2, jvp_mode="reverse", generator=0,
                                     variance_reduction="hutchpp").logdet.detach()
            for probes in (1, 2, 4, 8):
                ests = torch.stack([sbp.logdet_metric(f, z, order=order, probes=probes, power_iters=2,
                                                      jvp_mode="reverse", generator=s).logdet.detach()
                                    for s in range(32)])
                t0 = time.perf_counter()
                for _ in range(5):
                    sbp.logdet_metric(f, zb, order=order, probes=probes, power_iters=2, jvp_mode="reverse",
                                      generator=0).logdet.sum().backward()
                print(f"| {e} | {order} | {probes} | {(poly - ex).abs().mean():.3f} | {ests.std(0).mean():.3f} | "
                      f"{(time.perf_counter() - t0) / 5:.3f} |", flush=True)
        t0 = time.perf_counter()
        for _ in range(5):
            sbp.logdet_metric(f, zb, method="exact", jvp_mode="reverse").logdet.sum().backward()
        print(f"| {e} | exact | - | 0 | 0 | {(time.perf_counter() - t0) / 5:.3f} |")


def schedule(plots: Path | None, seeds=(0, 1, 2)) -> None:
    print("\n## schedule: exact-trained KL (nats) per step-size schedule, iterations and seed")
    print("| figure | target | lr -> lr_final | iterations | KL per seed | mean | outside box (mean) |")
    print("|---|---|---|---|---|---|---|")
    for kind, names in (("reverse", ENERGIES), ("forward", ("ring8", "U1"))):
        for name in names:
            for lr, lr_final in ((1e-3, None), (3e-3, None), (3e-3, 3e-5), (1e-2, 1e-4)):
                for its in ((200, 400, 600) if kind == "reverse" else (400, 1000)):
                    rs = [_train_kl(kind, name, "exact", seed=s, plots=plots, lr=lr, lr_final=lr_final,
                                    iterations=its, **(_reg(name) if kind == "reverse" else {})) for s in seeds]
                    kls = [r["kl"] for r in rs]
                    print(f"| {'1' if kind == 'reverse' else '2'} | {name} | {lr:g} -> {lr_final} | {its} | "
                          + " / ".join(f"{k:.3f}" for k in kls)
                          + f" | {np.mean(kls):.3f} | {np.mean([r['outside'] for r in rs]):.4f} |", flush=True)


def reg(plots: Path | None, seeds=(0, 1)) -> None:
    print("\n## reg: Eq. 8 on U3/U4 (exact-trained, quick schedule)")
    print("| energy | weight | threshold | KL per seed | outside box per seed |")
    print("|---|---|---|---|---|")
    for e in ("U3", "U4"):
        for w, th in ((0.0, 4.0), (1.0, 4.0), (0.1, 4.0), (1.0, 16.0), (0.1, 16.0)):
            rs = [_train_kl("reverse", e, "exact", seed=s, plots=plots, **_reg(e, w, th)) for s in seeds]
            print(f"| {e} | {w} | {th} | " + " / ".join(f"{r['kl']:.3f}" for r in rs) + " | "
                  + " / ".join(f"{r['outside']:.4f}" for r in rs) + " |", flush=True)


def order(plots: Path | None, seeds=(0,)) -> None:
    print("\n## order: KL of estimator-trained vs exact-trained models (same seed, batches, budget)")
    print("| figure | target | method | order | probes | seed | KL | outside box | median rel. error | s / it |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind, name in (("reverse", "U2"), ("reverse", "U4"), ("forward", "U1")):
        for seed in seeds:
            for method, o, p in (("exact", 0, 0), ("chebyshev", 10, 2), ("chebyshev", 10, 8), ("chebyshev", 20, 2),
                                 ("chebyshev", 30, 2)):
                kw = dict(order=o, probes=p) if method != "exact" else {}
                r = _train_kl(kind, name, method, seed=seed, plots=plots,
                              **kw, **(_reg(name) if kind == "reverse" else {}))
                print(f"| {'1' if kind == 'reverse' else '2'} | {name} | {method} | {o or '-'} | {p or '-'} | {seed} | "
                      f"{r['kl']:.3f} | {r['outside']:.4f} | {r['rel']:.3f} | {r['s_per_it']:.3f} |", flush=True)


def split(plots: Path | None, seeds=(0, 1)) -> None:
    import sbp.experiments.density2d.energies as E
    print("\n## split: share of samples on the lower branch in the split window (exact-trained models)")
    for e in ("U3", "U4"):
        ref = E.split_share(e, E.sample_energy(e, 200_000, generator=0))
        print(f"target {e}: window {E.SPLIT_WINDOWS[e]} holds {ref['window']:.3f} of the mass, lower branch {ref['lower']:.3f}")
    print("| energy | variant | iterations | batch | KL per seed | outside box | window share | lower-branch share |")
    print("|---|---|---|---|---|---|---|---|")
    variants = (("quick profile", dict()),
                ("longer", dict(iterations=1500)),
                ("anneal beta 0.05 -> 1 over 750", dict(iterations=1500, anneal_iters=750, beta0=0.05)),
                ("wall 0.1 at the box", dict(iterations=1500, confine=0.1)),
                ("anneal + wall", dict(iterations=1500, anneal_iters=750, beta0=0.05, confine=0.1)),
                ("anneal + wall, no Eq. 8", dict(iterations=1500, anneal_iters=750, beta0=0.05, confine=0.1,
                                                 reg_weight=0.0)),
                ("batch 512", dict(iterations=1500, batch=512)),
                ("20000 steps, lr 1e-3 -> 1e-5", dict(iterations=20_000, lr=1e-3, lr_final=1e-5)))
    for e in ("U3", "U4"):
        for name, kw in variants:
            rs = []
            for s in (seeds if kw.get("iterations", 0) < 20_000 else seeds[:1]):
                r = _train_kl("reverse", e, "exact", seed=s, plots=plots, **{**_reg(e), **kw})
                rs.append(dict(r, **E.split_share(e, torch.from_numpy(r["samples"]))))
            cfg = {**QUICK, **kw}
            print(f"| {e} | {name} | {cfg['iterations']} | {cfg.get('batch', 64)} | "
                  + " / ".join(f"{r['kl']:.3f}" for r in rs) + " | "
                  + " / ".join(f"{r['outside']:.3f}" for r in rs) + " | "
                  + " / ".join(f"{r['window']:.3f}" for r in rs) + " | "
                  + " / ".join(f"{r['lower']:.3f}" for r in rs) + " |", flush=True)


def activation(plots: Path | None, seeds=(0,)) -> None:
    from sbp.experiments.density2d.fit_quality import tv_density_grid
    print("\n## activation: Figure 2 (forward KL), exact-trained, batch 64, lr 1e-3 constant, 1000 steps")
    print("| target | activation | seed | KL(p\\|\\|q) | mass on the box | TV(q / M, p) |")
    print("|---|---|---|---|---|---|")
    for target in ("ring8", "U1"):
        for act in ("leaky_relu", "elu", "silu", "tanh"):
            for seed in seeds:
                r = D.fit_forward_kl(target, method="exact", iterations=1000, batch=64, lr=1e-3, seed=seed,
                                     activation=act, show_progress=False)
                log_q, mass = D.model_log_density_grid(r.model)
                kl = D.forward_kl(r.model, target, n=10_000, seed=seed + 1000)["kl"]
                print(f"| {target} | {act} | {seed} | {kl:.3f} | {mass:.3f} | {tv_density_grid(log_q, target):.3f} |",
                      flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=SECTIONS, default=list(SECTIONS))
    ap.add_argument("--plots", action="store_true", help="save sample histograms to build/fig12_settings/")
    args = ap.parse_args()
    torch.set_num_threads(1)
    plots = Path("build/fig12_settings") if args.plots else None
    print(f"quick profile under test: {QUICK}, Eq. 8 on U3/U4: {REG}")
    for s in args.only:
        t0 = time.perf_counter()
        {"interval": interval, "accuracy": accuracy}.get(s, lambda: globals()[s](plots))()
        print(f"({s}: wall time {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
