"""The reference zoo: generators and factor network we trained, shipped in ``models/reference/``.

Each model is three files: ``<name>.pt`` (float32 state dict of the EMA generator, or of
the factor network; inference only), ``<name>.csv`` (its training log) and ``<name>.json``,
the manifest: the exact command that trained it, the spec, seed, iterations, device,
training wall time, final Frechet distance, the project commit that trained it and
whether the working tree was clean, and the SHA-256 of the weights. Nothing is downloaded:
``load_generator(name)`` reads the files, checks the hash and the spec, and names the file
and the command that retrains it when something is missing or damaged.

    python -m sbp.experiments.gan.reference factor-net          # train + export the factor network
    python -m sbp.experiments.gan.reference train w16_d16       # train + export one generator
    python -m sbp.experiments.gan.reference verify              # check every manifest
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from sbp.experiments.gan import curve
from sbp.experiments.gan.factors import (FactorNet, factor_features, frechet_distance, generated_features,
                                        train_factor_net)
from sbp.experiments.gan.train import DEFAULTS, TRAINING_KEYS, load_generator as load_trained
from sbp.data.shapes import make_shapes
from sbp.infra.checkpoint import load_checkpoint, spec_mismatch
from sbp.infra.io import atomic_write_bytes, write_json
from sbp.models.dcgan import Generator

__all__ = ["REFERENCE_DIR", "train_command", "sha256", "load_generator", "load_factor_net", "manifest",
           "manifest_rows", "recipe_search", "export_generator", "verify"]

ROOT = Path(__file__).resolve().parents[3]
REFERENCE_DIR = ROOT / "models" / "reference"
FACTOR_NET = "factor_net"
# The command-line flags of ``python -m sbp.experiments.gan.train`` for the spec keys that it takes.
_FLAGS = {"latent_dim": "--latent-dim", "width": "--width", "resolution": "--resolution", "iters": "--iters",
          "seed": "--seed", "lr": "--lr", "decay": "--decay", "batch_size": "--batch-size",
          "ckpt_every": "--ckpt-every", "ema": "--ema", "activation": "--activation", "optimizer": "--optimizer",
          "beta1": "--beta1", "lr_final": "--lr-final", "r1": "--r1"}


def train_command(spec: dict, ckpt: str | Path) -> list[str]:
    """The argv of ``python -m sbp.experiments.gan.train`` that trains ``spec`` into ``ckpt`` (CPU)."""
    cmd = ["python", "-m", "sbp.experiments.gan.train", str(ckpt), "--device", "cpu"]
    for key, flag in _FLAGS.items():
        if key in spec and spec[key] is not None and spec[key] != DEFAULTS.get(key):
            cmd += [flag, str(spec[key])]
    return cmd


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def manifest(name: str, folder: Path = REFERENCE_DIR) -> dict:
    """The manifest of shipped model ``name``; a clear error names a missing or unreadable one."""
    path = folder / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no manifest {str(path)!r} for reference model {name!r}; train and export it "
                                f"with: python -m sbp.experiments.gan.reference "
                                f"{'factor-net' if name == FACTOR_NET else 'train ' + name}")
    return json.loads(path.read_text())


def _checked_weights(name: str, folder: Path) -> tuple[dict, dict]:
    man = manifest(name, folder)
    path = folder / f"{name}.pt"
    retrain = f"retrain it with: {man['command']}"
    if not path.is_file():
        raise FileNotFoundError(f"reference weights {str(path)!r} are missing; {retrain}")
    if sha256(path) != man["sha256"]:
        raise ValueError(f"reference weights {str(path)!r} are corrupt: SHA-256 {sha256(path)[:12]}... differs "
                         f"from the manifest's {man['sha256'][:12]}...; {retrain}")
    return man, torch.load(path, map_location="cpu", weights_only=True)


def load_generator(name: str, spec: dict | None = None, folder: Path = REFERENCE_DIR) -> Generator:
    """Shipped generator ``name`` (eval mode, frozen, CPU); ``spec``: the zoo's spec it must match."""
    man, state = _checked_weights(name, folder)
    if spec is not None:
        diff = spec_mismatch(man["spec"], spec, TRAINING_KEYS + ("iters",), DEFAULTS)
        if diff:
            raise ValueError(f"reference model {name!r} was trained with another spec than the zoo's "
                             f"(key: (shipped, zoo)): {diff}; retrain it with: {man['command']}")
    s = man["spec"]
    G = Generator(s["latent_dim"], s["width"], s["resolution"], s.get("activation", "lrelu"))
    G.load_state_dict(state)
    return G.eval().requires_grad_(False)


def load_factor_net(folder: Path = REFERENCE_DIR) -> FactorNet:
    """The shipped factor network (eval mode, frozen)."""
    man, state = _checked_weights(FACTOR_NET, folder)
    net = FactorNet(man["spec"]["resolution"])
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


def _provenance() -> dict:
    """The commit and whether the tree was clean (the shipped folder itself, being written, excluded)."""
    try:
        dirty = _git("status", "--porcelain", "--", ".", ":!models/reference")
        return {"commit": _git("rev-parse", "HEAD"), "tree_clean": dirty == ""}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "tree_clean": None}


def _save_state(state: dict, path: Path) -> str:
    buf = io.BytesIO()
    torch.save({k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return sha256(path)


def export_generator(name: str, spec: dict, ckpt: Path, command: list[str], wall_time: float,
                     folder: Path = REFERENCE_DIR, n_eval: int = 1000, provenance: dict | None = None) -> dict:
    """Write ``<name>.pt``, ``.csv`` and ``.json`` from the finished checkpoint ``ckpt``; return the manifest."""
    G = load_trained(ckpt)
    net = load_factor_net(folder)
    real = factor_features(net, make_shapes(n_eval, spec["resolution"], seed=10_000).images)
    fd = frechet_distance(real, generated_features(G, net, n_eval, seed=0))
    folder.mkdir(parents=True, exist_ok=True)
    digest = _save_state(G.state_dict(), folder / f"{name}.pt")
    shutil.copyfile(ckpt.with_suffix(".csv"), folder / f"{name}.csv")
    ck = load_checkpoint(ckpt)
    man = {"name": name, "command": shlex.join(command), "spec": ck["spec"], "seed": ck["spec"]["seed"],
           "iterations": ck["iteration"], "device": "cpu", "threads": ck["spec"]["cpu_threads"],
           "wall_time_s": round(wall_time, 1), "frechet": round(fd, 3), "frechet_n": n_eval,
           "sha256": digest, "torch": torch.__version__, **(provenance or _provenance())}
    write_json(man, folder / f"{name}.json", digits=None)
    return man


def export_factor_net(iters: int, resolution: int = 32, folder: Path = REFERENCE_DIR) -> dict:
    t0 = time.perf_counter()
    net = train_factor_net(resolution, iters=iters)
    wall = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    man = {"name": FACTOR_NET, "command": f"python -m sbp.experiments.gan.reference factor-net --iters {iters}",
           "spec": {"resolution": resolution, "iters": iters}, "seed": 0, "iterations": iters, "device": "cpu",
           "threads": 1, "wall_time_s": round(wall, 1), "sha256": _save_state(net.state_dict(), folder / f"{FACTOR_NET}.pt"),
           "torch": torch.__version__, **_provenance()}
    write_json(man, folder / f"{FACTOR_NET}.json", digits=None)
    return man


def manifest_rows(folder: Path = REFERENCE_DIR) -> list[dict]:
    """One row per shipped model: what its manifest says of how it was made (for tables)."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        m = json.loads(path.read_text())
        rows.append({"model": m["name"], "iterations": m["iterations"], "device": m["device"],
                     "wall_time_s": m["wall_time_s"], "frechet": m.get("frechet", float("nan")),
                     "commit": (m["commit"] or "")[:10], "tree_clean": m["tree_clean"], "sha256": m["sha256"][:12]})
    return rows


def recipe_search(folder: Path = REFERENCE_DIR) -> dict[str, tuple[list[int], list[float], str]]:
    """The recipe search that chose the reference recipe (``recipe_search.csv``, written from
    ``benchmarks/gan_recipe.py``): per candidate, iterations, Frechet distances and its description."""
    import csv

    out: dict[str, tuple[list[int], list[float], str]] = {}
    with open(folder / "recipe_search.csv") as fh:
        for r in csv.DictReader(fh):
            its, fds, _ = out.setdefault(r["candidate"], ([], [], r["recipe"]))
            its.append(int(r["iteration"]))
            fds.append(float(r["frechet"]))
    return out


def verify(folder: Path = REFERENCE_DIR) -> list[str]:
    """Names of the shipped models whose files match their manifests (raises on the first that does not)."""
    names = sorted(p.stem for p in folder.glob("*.json"))
    for name in names:
        _checked_weights(name, folder)
    return names


def _train(name: str, cache: str) -> dict:
    """Train (or resume) ``name`` one checkpoint interval at a time, measuring ``curve.quality`` at every
    checkpoint into ``<cache>/<name>_curve.csv`` (with the training seconds so far), then export it.
    The chunks resume the manifest's command, so the weights are those of one uninterrupted run."""
    from sbp.experiments.gan.zoo import model_spec

    spec = model_spec(name, "reference")
    ckpt = Path(cache) / f"{name}.pt"  # relative to the repository root, as the manifest's command says
    command = train_command(spec, ckpt)
    prov = _provenance()
    torch.set_num_threads(1)
    net = load_factor_net()
    real = curve.real_features(net, resolution=spec["resolution"])
    curve_file = curve.curve_path(ROOT / ckpt)
    rows = curve.read_curve(curve_file)
    wall = rows[-1]["wall_time_s"] if rows else 0.0
    while True:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *command[1:], "--max-steps", str(spec["ckpt_every"])], cwd=ROOT, check=True)
        wall += time.perf_counter() - t0
        ck = load_checkpoint(ROOT / ckpt)
        rows = curve.append_curve(curve_file, {"iteration": ck["iteration"], "wall_time_s": wall,
                                               **curve.quality(load_trained(ROOT / ckpt), net, real)})
        print(f"{name}: iteration {ck['iteration']}, Frechet {rows[-1]['frechet']:.2f}, "
              f"confident share {rows[-1]['confident_share']:.3f}, {wall:.0f} s", flush=True)
        if ck.get("done"):
            break
    shutil.copyfile(curve_file, curve.curve_path(REFERENCE_DIR / f"{name}.pt"))
    return export_generator(name, spec, ROOT / ckpt, command, wall, provenance=prov)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sbp.experiments.gan.reference", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("train", help="train (or resume) and export reference generators")
    t.add_argument("names", nargs="+")
    t.add_argument("--cache", default="build/reference", help="checkpoints while training (relative to the repository)")
    f = sub.add_parser("factor-net", help="train and export the factor network")
    f.add_argument("--iters", type=int, default=6000)
    sub.add_parser("verify", help="check every shipped file against its manifest")
    a = p.parse_args(argv)
    if a.what == "train":
        for name in a.names:
            man = _train(name, a.cache)
            print(f"{name}: Frechet {man['frechet']:.2f}, {man['iterations']} iterations, {man['wall_time_s']} s")
    elif a.what == "factor-net":
        print(export_factor_net(a.iters))
    else:
        print("verified:", ", ".join(verify()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
