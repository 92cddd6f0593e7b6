"""The reference zoo: generators and factor network we trained, shipped in ``models/reference/``.

Each model is four files: ``<name>.pt`` (float32 state dict of the EMA generator, or of
the factor network; inference only), ``<name>.csv`` (its training log), ``<name>_curve.csv``
(Frechet distance and confident share every checkpoint, ``sbp.experiments.gan.curve``) and
``<name>.json``, the manifest: the exact command that trained it, the spec, seed, iterations,
device, training wall time, final Frechet distance, the project commit that trained it and
whether the working tree was clean, and the SHA-256 of the weights. Nothing is downloaded:
``load_generator(name)`` reads the files, checks the hash and the spec, and names the file
and the command that retrains it when something is missing or damaged. Training and export:
``sbp.experiments.gan.ship``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from sbp.experiments.gan.config import CACHE_KEYS, DEFAULTS
from sbp.experiments.gan.factors import FactorNet
from sbp.infra.checkpoint import spec_mismatch
from sbp.models.dcgan import Generator

__all__ = ["REFERENCE_DIR", "FACTOR_NET", "RETRAIN", "sha256", "load_generator", "load_factor_net", "manifest",
           "manifest_rows", "recipe_search", "verify"]

ROOT = Path(__file__).resolve().parents[3]
REFERENCE_DIR = ROOT / "models" / "reference"
FACTOR_NET = "factor_net"
RETRAIN = "python -m sbp.experiments.gan.ship"  # the command that trains and exports the zoo


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest(name: str, folder: Path = REFERENCE_DIR) -> dict:
    """The manifest of shipped model ``name``; a clear error names a missing or unreadable one."""
    path = folder / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no manifest {str(path)!r} for reference model {name!r}; train and export it "
                                f"with: {RETRAIN} "
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
        diff = spec_mismatch(man["spec"], spec, CACHE_KEYS, DEFAULTS)
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
