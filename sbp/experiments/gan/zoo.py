"""The grid of trained DCGANs used by Figures 3-6, trained once into a cache and loaded after.

``model_grid(profile)`` lists the specs: at least 3 widths at a fixed latent size and 3
latent sizes at a fixed width. ``get_generator(name, cache_dir, profile)`` returns a
trained generator (eval mode, frozen), training it into ``cache_dir`` when its
checkpoint is absent (or resuming an interrupted one), and always loading from the
checkpoint file, so results are identical whether the model was trained in this run or
loaded. ``get_factor_net`` does the same for the factor-prediction network.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

from sbp.experiments.gan.factors import FactorNet, train_factor_net
from sbp.infra.io import atomic_write_bytes
from sbp.models.dcgan import Generator
from sbp.experiments.gan.train import DEFAULTS, load_generator, train_gan
from sbp.infra.checkpoint import load_checkpoint, remove_checkpoint, spec_mismatch

__all__ = ["model_grid", "grid_axes", "GridAxes", "get_generator", "get_factor_net", "checkpoint_path", "PROFILES"]

PROFILES = ("quick", "paper")

# quick: generated shapes at 32x32, sized to train on a 2-core CPU in minutes; samples are
# drawn from an EMA of the generator's weights (decay 0.99), which smooths the noise of the
# last steps at step size 1e-3 (notebook 03's first cell has the measurements).
# paper: 64x64 (CelebA / LSUN are 64x64 in the paper), the recipe's latent size 128 and
# DCGAN's usual widths; the paper's iteration count is lost from our copy, 100k is ours.
_GRIDS = {
    "quick": {"resolution": 32, "fixed_d": 16, "widths": (8, 16, 32), "fixed_w": 16, "latents": (8, 16, 32),
              "iters": 2000, "lr": 1e-3, "ema": 0.99, "factor_iters": 6000},
    "paper": {"resolution": 64, "fixed_d": 128, "widths": (32, 64, 128), "fixed_w": 64, "latents": (32, 64, 128),
              "iters": 100_000, "lr": 1e-4, "ema": 0.0, "factor_iters": 20_000},
}
# Bumped whenever the model, its initialization or the generated data change, so that cached
# checkpoints of an older version are retrained (2: stride gain of the generator's transposed
# convs, larger objects in make_shapes, EMA).
VERSION = 2


def _check_profile(profile: str) -> dict:
    if profile not in _GRIDS:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return _GRIDS[profile]


def model_grid(profile: str = "quick") -> list[dict]:
    """Specs (name, latent_dim, width, resolution, iters, seed, lr, ...): widths at fixed d, then d at fixed width."""
    g = _check_profile(profile)
    pairs = [(w, g["fixed_d"]) for w in g["widths"]] + [(g["fixed_w"], d) for d in g["latents"]]
    seen, specs = set(), []
    for w, d in pairs:
        if (w, d) in seen:
            continue
        seen.add((w, d))
        specs.append({"name": f"w{w}_d{d}", "latent_dim": d, "width": w, "resolution": g["resolution"],
                      "iters": g["iters"], "seed": 0, "lr": g["lr"], "decay": 0.9, "batch_size": 32,
                      "ema": g["ema"], "version": VERSION, "ckpt_every": max(100, g["iters"] // 10),
                      "profile": profile})
    return specs


class GridAxes(NamedTuple):
    """The two axes of a profile's grid: widths at a fixed latent size, latent sizes at a fixed width."""

    fixed_d: int
    widths: tuple[int, ...]
    fixed_w: int
    latents: tuple[int, ...]


def grid_axes(profile: str = "quick") -> GridAxes:
    """The fixed latent size, the widths varied at it, the fixed width and the latent sizes varied at it."""
    g = _check_profile(profile)
    return GridAxes(fixed_d=g["fixed_d"], widths=tuple(g["widths"]), fixed_w=g["fixed_w"],
                    latents=tuple(g["latents"]))


def _spec(name: str, profile: str) -> dict:
    for s in model_grid(profile):
        if s["name"] == name:
            return s
    raise ValueError(f"no model {name!r} in the {profile!r} grid; known: {[s['name'] for s in model_grid(profile)]}")


def checkpoint_path(name: str, cache_dir: str | os.PathLike, profile: str = "quick", data=None) -> Path:
    """``<cache_dir>/gan/<profile>_<data set>/<name>.pt``; the data set is "shapes" or the image folder's name."""
    tag = "shapes" if data is None else Path(getattr(data, "root", "data")).name
    return Path(cache_dir) / "gan" / f"{profile}_{tag}" / f"{name}.pt"


def get_generator(name: str, cache_dir: str | os.PathLike, profile: str = "quick", train_if_missing: bool = True,
                  *, data=None, device: str | torch.device | None = None) -> Generator:
    """The trained generator ``name`` of ``model_grid(profile)``, eval mode, requires_grad False, on the CPU.

    ``data``: None (the generated shapes, the quick profile's data) or an ``ImageFolder``
    (CelebA, LSUN Bedroom); training runs on ``device`` (default: CUDA when present).
    """
    spec = _spec(name, profile)
    path = checkpoint_path(name, cache_dir, profile, data)
    done = False
    if path.exists():
        ck = load_checkpoint(path)
        keys = ("latent_dim", "width", "resolution", "iters", "seed", "lr", "decay", "batch_size", "ema", "version")
        if spec_mismatch(ck["spec"], spec, keys, DEFAULTS):  # a cache from an older grid
            if not train_if_missing:
                raise ValueError(f"checkpoint {str(path)!r} was trained with another spec than the current "
                                 f"{profile!r} grid's {name!r}; delete it or pass train_if_missing=True")
            warnings.warn(f"retraining {name!r}: the cached checkpoint {str(path)!r} has an outdated spec",
                          RuntimeWarning, stacklevel=2)
            remove_checkpoint(path)
            path.with_suffix(".csv").unlink(missing_ok=True)
        else:
            done = bool(ck.get("done", False))
    if not done:
        if not train_if_missing:
            raise FileNotFoundError(f"no finished checkpoint for {name!r} at {str(path)!r} "
                                    "(pass train_if_missing=True to train it)")
        train_gan(spec, path, data=data, device=device)
    G = load_generator(path)
    G.requires_grad_(False)
    return G


def get_factor_net(cache_dir: str | os.PathLike, resolution: int = 32, profile: str = "quick",
                   train_if_missing: bool = True) -> FactorNet:
    """The factor-prediction network for ``make_shapes`` at ``resolution``, eval mode, frozen."""
    g = _check_profile(profile)
    path = Path(cache_dir) / "factor_net" / f"r{resolution}_{profile}_v{VERSION}_{g['factor_iters']}.pt"
    if not path.exists():
        if not train_if_missing:
            raise FileNotFoundError(f"no factor network at {str(path)!r} (pass train_if_missing=True to train it)")
        net = train_factor_net(resolution, iters=g["factor_iters"])
        import io

        buf = io.BytesIO()
        torch.save({"resolution": resolution, "state": net.state_dict()}, buf)
        atomic_write_bytes(path, buf.getvalue())
    ck = torch.load(path, map_location="cpu", weights_only=True)
    net = FactorNet(ck["resolution"])
    net.load_state_dict(ck["state"])
    net.eval().requires_grad_(False)
    return net
