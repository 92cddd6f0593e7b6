"""Figure 1's fit quality (binned TV, ``sbp.experiments.density2d.fit_quality``) over training settings.

Each row trains one model of the paper's architecture (``ResNet2d``: 4 residual bottleneck
blocks of width 32, LeakyReLU, Adam; the ``activation`` and ``smooth*`` grids swap in a smooth
activation, ours) by reverse KL on one energy and scores 10,000 samples:
TV to the box-restricted target, fraction outside the box, KL(q || p), the split share of U3/U4
and seconds per step. Settings vary batch, steps, the cosine step size, annealing the energy
(Rezende & Mohamed 2015), Eq. 8's weight and threshold, and a wall confining samples to the box.

Resumable: rows are appended to ``--out`` (JSON lines) and a (grid, energy, method, seed, setting)
already there is skipped, so an interrupted run loses at most the row in progress.

Run (one CPU thread each; the exact log det by default, ``--method chebyshev`` to confirm):
    PYTHONPATH=. nice -n 5 python benchmarks/fig1_fit_sweep.py --grid coarse --energies U1 U2
    PYTHONPATH=. python benchmarks/fig1_fit_sweep.py --report   # tables of every row so far, and the seed spread
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch

import sbp.experiments.density2d.energies as E
import sbp.experiments.density2d.fit as D
from sbp.experiments.density2d.fit_quality import folded_share, tv_distance
from sbp.experiments.density2d.sweep import load_sweep, seed_spread, sweep_table

OUT = Path("benchmarks/results/fig1_fit_sweep.jsonl")
BASE = dict(iterations=600, batch=64, lr=3e-3, lr_final=3e-5, reg_weight=0.0, reg_threshold=16.0)
QUICK_PROFILE = dict(lr=1e-3, lr_final=1e-5, batch=256, iterations=2000, confine=0.1)
ESTIMATOR = dict(order=20, probes=2, power_iters=2, jvp_mode="dense", grad_mode="backprop")  # a setting may change it


def _grid(name: str) -> list[dict]:
    """Named settings, each a dict of ``fit_reverse_kl`` keywords over BASE (Eq. 8 is added per energy)."""
    if name == "coarse":  # the step size first: 3e-3 (the old quick profile) drifts uphill after ~600 steps
        return [dict(lr=lr, lr_final=lr / 100, batch=batch, iterations=its, confine=confine)
                for lr, batch, its, confine in itertools.product((1e-3, 3e-4), (64, 256), (1000, 2000), (0.0, 0.1))]
    if name == "anneal":  # annealing the energy (beta 0.05 -> 1 over the first half) on the coarse grid's budgets
        return [dict(lr=1e-3, lr_final=1e-5, batch=batch, iterations=its, confine=confine, anneal_iters=its // 2,
                     beta0=0.05) for batch, its, confine in itertools.product((64, 256), (1000, 2000), (0.0, 0.1))]
    if name == "reg":  # Eq. 8 (weight, threshold) on every energy: it bounds the stretch that folding needs
        return [dict(lr=1e-3, lr_final=1e-5, batch=256, iterations=2000, confine=c, reg_weight=w, reg_threshold=t)
                for c in (0.0, 0.1) for w, t in ((0.0, 16.0), (1.0, 16.0), (1.0, 9.0), (1.0, 4.0), (10.0, 9.0))]
    if name == "model":  # ours, not the paper's: a deeper or wider network on the best budget of the paper's model
        return [dict(lr=1e-3, lr_final=1e-5, batch=256, iterations=2000, confine=0.1, width=w, blocks=b)
                for w, b in ((32, 8), (64, 4), (64, 8))]  # (128, 8) on U2 only: 134 ms a step, TV 0.341
    if name == "deep":  # the model grid's one change that learned U3's split (8 blocks), for more seeds
        return [dict(lr=1e-3, lr_final=1e-5, batch=256, iterations=2000, confine=0.1, width=32, blocks=8)]
    if name == "activation":  # ours: a smooth activation, so that the pathwise gradient is the loss's (fig1_gradient_bias.py)
        return [dict(QUICK_PROFILE, iterations=its, activation=act)
                for act in ("smooth_leaky_relu", "elu", "silu", "tanh") for its in (1000, 2000)]
    if name == "smooth_split":  # U3/U4 with tanh: Eq. 8 off, 8 blocks, more steps (the splits)
        return [dict(QUICK_PROFILE, activation="tanh", reg_weight=0.0),
                dict(QUICK_PROFILE, activation="tanh", blocks=8),
                dict(QUICK_PROFILE, activation="tanh", iterations=3000)]
    if name == "smooth_budget":  # tanh: can a larger step or a smaller batch buy the 5-minute notebook?
        return [dict(QUICK_PROFILE, activation="tanh", **kw) for kw in (
            dict(lr=3e-3, lr_final=3e-5, iterations=1000), dict(lr=3e-3, lr_final=3e-5), dict(batch=128),
            dict(lr=2e-3, lr_final=2e-5, iterations=1500))]
    if name == "smooth_fast":  # tanh, lr 3e-3 -> 3e-5, 1500 steps: 3 seeds, both methods
        return [dict(QUICK_PROFILE, activation="tanh", lr=3e-3, lr_final=3e-5, iterations=1500)]
    if name == "smooth_order":  # the estimator-trained tanh models fold at order 20 (U2): the polynomial's bias near folds
        return [dict(QUICK_PROFILE, activation="tanh", lr=3e-3, lr_final=3e-5, iterations=1500, order=o) for o in (40, 80)]
    if name == "smooth_order_1000":  # U2 is stretched along x1 by up to ~20x: cond(J^T J) ~ 1e3-1e5 in the tails
        return [dict(QUICK_PROFILE, activation="tanh", lr=3e-3, lr_final=3e-5, iterations=1000, order=o) for o in (100, 200)]
    if name == "smooth_order_2000":  # the one U3 seed that folds at order 20
        return [dict(QUICK_PROFILE, activation="tanh", lr=3e-3, lr_final=3e-5, iterations=2000, order=100)]
    if name == "smooth_probes":  # ... or Hutchinson's variance, which grows with log(J^T J)'s off-diagonal near a fold
        return [dict(QUICK_PROFILE, activation="tanh", lr=3e-3, lr_final=3e-5, iterations=1500, probes=p) for p in (8, 32)]
    if name in ("smooth_1000", "smooth_2000"):  # tanh, lr 3e-3 -> 3e-5, 1000 steps for U1 / U2 and 2000 for U3 / U4
        # (the splits): 3 seeds, both methods
        return [dict(QUICK_PROFILE, activation="tanh", lr=3e-3, lr_final=3e-5, iterations=int(name[-4:]))]
    if name in ("tanh_1000", "tanh_2000"):  # tanh, lr 3e-3 -> 3e-5, Chebyshev order 100 with the low-memory gradient,
        # 1000 steps for U1 / U2 and 2000 for U3 / U4 (the splits): 3 seeds
        return [dict(QUICK_PROFILE, activation="tanh", lr=3e-3, lr_final=3e-5, iterations=int(name[-4:]), order=100,
                     grad_mode="lowmem")]
    if name in ("tanh4_1000", "tanh4_2000"):  # notebook 01's quick profile: the same with 4 probes (the low-memory
        # gradient's variance; no dearer in 2-D): 3 seeds
        return [dict(QUICK_PROFILE, activation="tanh", lr=3e-3, lr_final=3e-5, iterations=int(name[-4:]), order=100,
                     grad_mode="lowmem", probes=4)]
    if name == "tanh_probes":  # U2 with the low-memory gradient at order 100: does a second pair of probes help?
        return [dict(QUICK_PROFILE, activation="tanh", lr=3e-3, lr_final=3e-5, iterations=1000, order=100,
                     grad_mode=g, probes=4) for g in ("lowmem", "backprop")]
    if name == "smooth":  # the paper's model's quick profile with tanh: 3 seeds, both methods
        return [dict(QUICK_PROFILE, activation="tanh")]
    if name == "chosen":  # notebook 01's quick profile (Eq. 8 on U3 and U4 as in the paper): run with 3 seeds, both methods
        return [dict(QUICK_PROFILE)]
    if name == "long":  # more steps and a larger batch, as public reverse-KL fits do
        return [dict(batch=b, iterations=i, lr=lr, lr_final=lr / 100, confine=c)
                for b, i, lr in ((256, 3000, 3e-3), (512, 3000, 3e-3), (256, 3000, 1e-2)) for c in (0.0, 0.1)]
    raise ValueError(f"unknown grid {name!r}")


def _key(row: dict) -> str:
    return json.dumps({k: row[k] for k in ("grid", "energy", "method", "seed", "setting")}, sort_keys=True)


def run_one(energy: str, setting: dict, method: str, seed: int, eq8: bool) -> dict:
    cfg = dict(BASE, **({"reg_weight": 1.0} if eq8 and energy in ("U3", "U4") else {}))
    cfg.update(setting)
    est = {k: cfg.pop(k) for k in list(cfg) if k in ESTIMATOR}  # a setting may change the estimator
    kw = {**ESTIMATOR, **est} if method != "exact" else {}
    t0 = time.perf_counter()
    r = D.fit_reverse_kl(energy, method=method, seed=seed, monitor=False, show_progress=False, **cfg, **kw)
    s_per_it = (time.perf_counter() - t0) / cfg["iterations"]
    ev = D.reverse_kl(r.model, energy, n=10_000, seed=seed + 1000)
    row = dict(tv=tv_distance(ev["samples"], energy), outside=ev["outside"], kl=ev["kl"], s_per_it=s_per_it,
               folded=folded_share(r.model, ev["codes"]), config=cfg)
    if energy in E.SPLIT_WINDOWS:
        row["split_lower"] = E.split_share(energy, torch.from_numpy(ev["samples"]))["lower"]
    return row


def sweep(grid: str, energies: list[str], method: str, seeds: list[int], out: Path) -> None:
    done = set()
    if out.exists():
        done = {_key(json.loads(line)) for line in out.read_text().splitlines() if line.strip()}
    out.parent.mkdir(parents=True, exist_ok=True)
    for energy, setting, seed in itertools.product(energies, _grid(grid), seeds):
        head = dict(grid=grid, energy=energy, method=method, seed=seed, setting=setting)
        if _key(head) in done:
            continue
        row = dict(head, **run_one(energy, setting, method, seed, eq8=True))
        with out.open("a") as fh:  # one line per row: a crash loses at most the row in progress
            fh.write(json.dumps(row) + "\n")
        print(f"{energy} {method} s{seed} {setting}: TV {row['tv']:.3f} outside {row['outside']:.3f} "
              f"KL {row['kl']:.3f} folded {row['folded']:.3f} split {row.get('split_lower', float('nan')):.2f} {row['s_per_it'] * 1e3:.1f} ms/it",
              flush=True)


def report(out: Path) -> None:
    """Print the tables and write them beside the sweep file (``RESULTS.md`` carries them)."""
    from sbp.infra.io import markdown_table, write_table
    rows = load_sweep(out)
    table = sweep_table(rows)
    grids = ("chosen", "smooth", "smooth_fast", "smooth_1000", "smooth_2000", "tanh_1000", "tanh_2000", "tanh4_1000",
             "tanh4_2000")
    spread = [r for g in grids for r in seed_spread(rows, g)]
    print(markdown_table(table))
    write_table(table, "fig1_fit_sweep_table", out.parent, digits=3)
    if spread:
        print(markdown_table(spread))
        write_table(spread, "fig1_fit_sweep_seeds", out.parent, digits=3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="coarse", choices=("coarse", "anneal", "reg", "model", "deep", "chosen", "long",
                                                           "activation", "smooth", "smooth_split", "smooth_budget",
                                                           "smooth_fast", "smooth_order", "smooth_probes",
                                                           "smooth_1000", "smooth_2000", "smooth_order_1000",
                                                           "smooth_order_2000", "tanh_1000", "tanh_2000",
                                                           "tanh_probes", "tanh4_1000", "tanh4_2000"))
    ap.add_argument("--energies", nargs="*", default=["U1", "U2", "U3", "U4"])
    ap.add_argument("--method", default="exact")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    if args.report:
        return report(args.out)
    torch.set_num_threads(1)
    sweep(args.grid, args.energies, args.method, args.seeds, args.out)


if __name__ == "__main__":
    main()
