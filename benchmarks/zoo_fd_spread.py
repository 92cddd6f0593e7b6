"""How much a zoo model's Frechet distance moves without the model getting better or worse.

The zoo's schedule rule (double while the distance falls > 5 %, ``curve.doubling_rows``) and its goals
(FD <= 15 / <= 10) read one number per model: the distance of 1,000 samples (seed 0) at the last
checkpoint of one training run. This prints, per shipped model:

``curve.noise_row``: ``frechet_seed0`` (that number), ``frechet_mean`` / ``frechet_sd`` over sample seeds 0-4 (the
sampling noise of the number) and ``last5_min`` / ``last5_max`` over the last five checkpoints of its curve
(2,000 steps apart; the learning rate is near its floor there); and the same for
``models/reference_rerun/`` (``w8_d16`` and ``w16_d16`` retrained from their manifests' commands on another
CPU, see ``models/reference/README.md``), the run-to-run spread of one recipe.

Run (one thread, about a minute):
    python benchmarks/zoo_fd_spread.py   # writes benchmarks/results/zoo_fd_spread.{csv,md,json}
"""
from __future__ import annotations

from pathlib import Path

import torch

from sbp.experiments.gan import curve
from sbp.experiments.gan.reference import REFERENCE_DIR, load_factor_net, load_generator, manifest
from sbp.infra.io import write_table

RERUN_DIR = REFERENCE_DIR.parent / "reference_rerun"
SEEDS = range(5)


def spread_row(name: str, folder: Path, run: str, net, real) -> dict:
    """One model's ``curve.noise_row``, with where it comes from."""
    man = manifest(name, folder)
    return {"model": name, "run": run, "iterations": man["iterations"], "commit": man["commit"][:10],
            **curve.noise_row(load_generator(name, folder=folder), net, real,
                              curve.read_curve(folder / f"{name}_curve.csv"), seeds=SEEDS)}


def main() -> None:
    torch.set_num_threads(1)
    net = load_factor_net()
    real = curve.real_features(net)
    names = sorted(p.stem for p in REFERENCE_DIR.glob("*.json") if (REFERENCE_DIR / f"{p.stem}_curve.csv").is_file())
    rows = [spread_row(n, REFERENCE_DIR, "shipped", net, real) for n in names]
    rows += [spread_row(p.stem, RERUN_DIR, "rerun", net, real) for p in sorted(RERUN_DIR.glob("*.json"))]
    for r in rows:
        print(f"{r['model']:>15} {r['run']:>8} {r['iterations']:>6}: FD {r['frechet_seed0']:6.2f} | seeds "
              f"{r['frechet_mean']:6.2f} +- {r['frechet_sd']:.2f} | last 5 checkpoints "
              f"{r['last5_min']:6.2f}-{r['last5_max']:6.2f}")
    write_table(rows, "zoo_fd_spread", Path(__file__).resolve().parent / "results")


if __name__ == "__main__":
    main()
