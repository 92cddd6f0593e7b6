"""The grid of trained DCGANs used by Figures 3-6: shipped (``reference``) or trained once into a cache.

``model_grid(profile)`` lists the specs: at least 3 widths at a fixed latent size and 3
latent sizes at a fixed width; ``model_spec(name, profile)`` also knows the profile's extra
models (the reference zoo's smooth-activation generator for Figure 4).
``get_generator(name, cache_dir, profile)`` returns a trained generator (eval mode, frozen):
for ``profile="reference"`` the weights shipped in ``models/reference/`` (never trained
here; see ``sbp.experiments.gan.reference`` and ``sbp.experiments.gan.ship``); otherwise trained into ``cache_dir`` when its
checkpoint is absent (or resuming an interrupted one), and always loaded from the
checkpoint file, so results are identical whether the model was trained in this run or
loaded. ``get_factor_net`` does the same for the factor-prediction network.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

from sbp.experiments.gan import reference
from sbp.experiments.gan.factors import FactorNet, train_factor_net
from sbp.experiments.gan.config import CACHE_KEYS, DEFAULTS, full_spec
from sbp.experiments.gan.train import load_generator, train_gan
from sbp.infra.checkpoint import load_checkpoint, remove_checkpoint, spec_mismatch
from sbp.infra.io import atomic_write_bytes
from sbp.infra.profiles import PROFILES, check_profile
from sbp.models.dcgan import Generator

__all__ = ["model_grid", "model_specs", "model_spec", "grid_axes", "GridAxes", "get_generator", "get_factor_net",
           "checkpoint_path", "training_log_path", "PROFILES"]

# quick: generated shapes at 32x32, sized to train on a 2-core CPU in minutes; samples are
# drawn from an EMA of the generator's weights (decay 0.99), which smooths the noise of the
# last steps at step size 1e-3 (notebook 03's Measurements cell, its last, has the measurements).
# paper: 64x64 (CelebA / LSUN are 64x64 in the paper), the recipe's latent size 128 and
# DCGAN's usual widths; the paper's iteration count is lost from our copy, 100k is ours.
# reference: the quick grid trained for real and shipped in models/reference/ (recipe and its
# measurement: benchmarks/gan_recipe.py; departures from the paper's recipe, all ours: cosine
# decay of the step size, R1 penalty on the discriminator, EMA of the generator), plus the
# smooth-activation generator of Figure 4.
_GRIDS = {
    "quick": {"resolution": 32, "fixed_d": 16, "widths": (8, 16, 32), "fixed_w": 16, "latents": (8, 16, 32),
              "iters": 2000, "lr": 1e-3, "ema": 0.99, "factor_iters": 6000},
    "reference": {"resolution": 32, "fixed_d": 16, "widths": (8, 16, 32), "fixed_w": 16, "latents": (8, 16, 32),
                  "iters": 48_000, "ckpt_every": 2000, "lr": 1e-3, "ema": 0.999, "factor_iters": 6000,
                  "recipe": {"lr_final": 1e-5, "r1": 1.0},
                  # the shipped schedules (models/reference/README.md): 48k steps, w16_d8 96k, w32_d16 24k at half
                  # the step size; the doubling rule's next runs train with `ship train NAME --iters N [--lr L]`
                  # (staged in models/staging/) and their schedule comes here when they ship; a Frechet /
                  # confident-share row every 2,000 (<name>_curve.csv)
                  "schedules": {"w16_d8": {"iters": 96_000}, "w32_d16": {"iters": 24_000, "lr": 5e-4}},
                  "extras": (("w16_d16_smooth", 16, 16, "smooth"),)},
    "paper": {"resolution": 64, "fixed_d": 128, "widths": (32, 64, 128), "fixed_w": 64, "latents": (32, 64, 128),
              "iters": 100_000, "lr": 1e-4, "ema": 0.0, "factor_iters": 20_000},
}
# Bumped whenever the model, its initialization or the generated data change, so that cached
# checkpoints of an older version are retrained (2: stride gain of the generator's transposed
# convs, larger objects in make_shapes, EMA).
VERSION = 2


def _check_profile(profile: str) -> dict:
    return _GRIDS[check_profile(profile)]


def _make_spec(g: dict, profile: str, name: str, width: int, latent_dim: int, activation: str = "lrelu") -> dict:
    """A grid model's spec: the profile's knob values (``sbp.experiments.gan.config``) and the zoo's bookkeeping;
    the grid's ``schedules[name]`` gives a model its own ``iters`` / ``ckpt_every`` where they differ."""
    spec = {"name": name, "latent_dim": latent_dim, "width": width, "resolution": g["resolution"],
            "iters": g["iters"], "seed": 0, "lr": g["lr"], "decay": DEFAULTS["decay"],
            "batch_size": DEFAULTS["batch_size"], "ema": g["ema"], "version": VERSION,
            "ckpt_every": g.get("ckpt_every", max(100, g["iters"] // 10)), "profile": profile, **g.get("recipe", {}),
            **g.get("schedules", {}).get(name, {})}
    if activation != "lrelu":
        spec["activation"] = activation
    full_spec(spec)  # a knob the grid misspells is an error here, not a silent default
    return spec


def model_grid(profile: str = "quick") -> list[dict]:
    """Specs (name, latent_dim, width, resolution, iters, seed, lr, ...): widths at fixed d, then d at fixed width."""
    g = _check_profile(profile)
    pairs = [(w, g["fixed_d"]) for w in g["widths"]] + [(g["fixed_w"], d) for d in g["latents"]]
    seen, specs = set(), []
    for w, d in pairs:
        if (w, d) in seen:
            continue
        seen.add((w, d))
        specs.append(_make_spec(g, profile, f"w{w}_d{d}", w, d))
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


def model_specs(profile: str = "quick") -> list[dict]:
    """``model_grid(profile)`` and the profile's extra models (e.g. ``w16_d16_smooth`` in ``reference``)."""
    g = _check_profile(profile)
    return model_grid(profile) + [_make_spec(g, profile, *extra) for extra in g.get("extras", ())]


def model_spec(name: str, profile: str = "quick") -> dict:
    """The spec of model ``name`` of ``profile``; a clear error lists the known names."""
    specs = model_specs(profile)
    for s in specs:
        if s["name"] == name:
            return s
    raise ValueError(f"no model {name!r} in the {profile!r} grid; known: {[s['name'] for s in specs]}")


def checkpoint_path(name: str, cache_dir: str | os.PathLike, profile: str = "quick", data=None) -> Path:
    """``<cache_dir>/gan/<profile>_<data set>/<name>.pt``; the data set is "shapes" or the image folder's name."""
    tag = "shapes" if data is None else Path(getattr(data, "root", "data")).name
    return Path(cache_dir) / "gan" / f"{profile}_{tag}" / f"{name}.pt"


def training_log_path(name: str, cache_dir: str | os.PathLike, profile: str = "quick", data=None) -> Path:
    """The loss log (CSV) of model ``name``: shipped beside the reference weights, else beside the checkpoint."""
    if profile == "reference" and data is None:
        return reference.REFERENCE_DIR / f"{name}.csv"
    return checkpoint_path(name, cache_dir, profile, data).with_suffix(".csv")


def get_generator(name: str, cache_dir: str | os.PathLike, profile: str = "quick", train_if_missing: bool = True,
                  *, data=None, device: str | torch.device | None = None) -> Generator:
    """The trained generator ``name`` of ``model_specs(profile)``, eval mode, requires_grad False, on the CPU.

    ``profile="reference"`` with the generated shapes loads the shipped weights (a missing or
    corrupt file gets an error naming it and the command that retrains it); nothing is trained.
    ``data``: None (the generated shapes) or an ``ImageFolder`` (CelebA, LSUN Bedroom);
    training runs on ``device`` (default: CUDA when present).
    """
    spec = model_spec(name, profile)
    if profile == "reference" and data is None:
        return reference.load_generator(name, spec)
    path = checkpoint_path(name, cache_dir, profile, data)
    done = False
    if path.exists():
        ck = load_checkpoint(path)
        if spec_mismatch(ck["spec"], spec, CACHE_KEYS + ("version",), DEFAULTS):  # an older grid's cache
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
    """The factor-prediction network for ``make_shapes`` at ``resolution``, eval mode, frozen (shipped for ``reference``)."""
    g = _check_profile(profile)
    if profile == "reference":
        return reference.load_factor_net()
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
