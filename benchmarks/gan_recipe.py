"""Recipe search for the reference zoo: Frechet distance curves of training recipes.

Each candidate trains one generator of the zoo's architecture on the generated shapes
(32x32) with ``train_gan``, in chunks of ``--eval-every`` iterations; after each chunk the
EMA generator's Frechet distance to real samples in the factor network's features is
appended to ``<out>/<candidate>.csv``. Checkpoints make every candidate resumable: rerun
the same command after an interruption and it continues. One thread per process: run two
processes with disjoint ``--only`` lists to use both cores.

    python benchmarks/gan_recipe.py --out build/recipe --only adam rms_cos
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from sbp.experiments.gan.factors import factor_features, frechet_distance, generated_features
from sbp.data.shapes import make_shapes
from sbp.experiments.gan.train import load_checkpoint, load_generator, train_gan
from sbp.experiments.gan.zoo import get_factor_net

BASE = {"resolution": 32, "batch_size": 32, "seed": 0, "decay": 0.9, "ema": 0.99, "lr": 1e-3}
CANDIDATES = {
    "quick": {},  # today's quick recipe: RMSProp 1e-3, EMA 0.99, constant step size
    "adam": {"optimizer": "adam", "lr": 2e-4, "beta1": 0.5, "decay": 0.999, "ema": 0.999},
    "adam_cos_r1": {"optimizer": "adam", "lr": 2e-4, "beta1": 0.5, "decay": 0.999, "ema": 0.999,
                    "lr_final": 0.0, "r1": 0.1},
    "rms_cos": {"lr_final": 1e-5, "ema": 0.999},
    "rms_cos_r1": {"lr_final": 1e-5, "ema": 0.999, "r1": 1.0},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="build/recipe")
    p.add_argument("--cache", default="build/cache")
    p.add_argument("--only", nargs="*", default=list(CANDIDATES))
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--iters", type=int, default=8000)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--n-eval", type=int, default=1000)
    a = p.parse_args()
    torch.set_num_threads(1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    net = get_factor_net(a.cache, resolution=32, profile="quick")
    real = factor_features(net, make_shapes(a.n_eval, 32, seed=10_000).images)
    for name in a.only:
        spec = {**BASE, **CANDIDATES[name], "name": name, "width": a.width, "latent_dim": a.latent_dim,
                "iters": a.iters, "ckpt_every": a.eval_every}
        tag = f"{name}_w{a.width}_d{a.latent_dim}_{a.iters}"
        ckpt, log = out / f"{tag}.pt", out / f"{tag}_fd.csv"
        done = {int(r["iteration"]) for r in csv.DictReader(open(log))} if log.exists() else set()
        for it in range(a.eval_every, a.iters + 1, a.eval_every):
            if it in done:
                continue
            t0 = time.perf_counter()
            start = load_checkpoint(ckpt)["iteration"] if ckpt.exists() else 0
            if it > start:
                train_gan(spec, ckpt, max_steps=it - start, progress_bar=False)
            fd = frechet_distance(real, generated_features(load_generator(ckpt), net, a.n_eval, seed=0))
            new = not log.exists()
            with open(log, "a") as fh:
                if new:
                    fh.write("iteration,frechet,seconds\n")
                fh.write(f"{it},{fd:.3f},{time.perf_counter() - t0:.1f}\n")
            print(f"{tag}: iteration {it}, Frechet {fd:.2f}", flush=True)


if __name__ == "__main__":
    main()
