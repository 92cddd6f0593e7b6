"""The set-up every notebook calls: profile checked, RNGs seeded, folders, data and model specs resolved.

    nb = setup(profile, seed, figures_dir=figures_dir, cache_dir=cache_dir, data_dir=data_dir)
    nb.generator, nb.figures, nb.shipped, nb.cache, nb.data, nb.specs

Figures of a notebook's default profile go to ``figures_dir`` (what the main job writes and
the repository commits); any other profile writes to ``figures_dir/<profile>/`` (for
example ``figures/paper/``), so a paper-profile run never overwrites the committed figures.
The environment variable ``SBP_FIGURES_DIR`` replaces ``figures_dir``: the test command sets
it (``conftest.py``), so that nbval's re-execution never rewrites the committed figures.
``nb.shipped`` is always ``figures_dir`` itself (the repository's committed figures): what a
notebook reads to compare with earlier runs (``zoo_compare``), whatever ``nb.figures`` is.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sbp.data.folder import ImageFolder
from sbp.experiments.gan.zoo import model_grid, model_specs
from sbp.infra.profiles import PROFILES, check_profile

__all__ = ["Notebook", "setup", "figures_folder", "PROFILES"]


@dataclass
class Notebook:
    """What ``setup`` resolved for one notebook run."""

    profile: str
    seed: int
    generator: torch.Generator  # seeded with ``seed``, for explicit draws
    figures: Path  # where this run's figures and tables go
    shipped: Path  # the committed figures (``figures_dir``, never redirected): earlier runs' tables to compare with
    cache: Path  # trained models, reused within and across runs
    data: ImageFolder | None  # a local CelebA / LSUN folder, or None for the generated shapes
    specs: dict[str, dict] = field(default_factory=dict)  # every zoo model of this profile (grid and extras), by name
    grid: list[dict] = field(default_factory=list)  # the grid of Figures 5-6: widths at fixed d, then d at fixed width


def figures_folder(figures_dir: str | os.PathLike, profile: str, default_profile: str = "quick") -> Path:
    """``figures_dir`` for the default profile, ``figures_dir/<profile>`` for any other."""
    base = Path(figures_dir)
    return base if profile == default_profile else base / profile


def _seed_everything(seed: int, threads: int | None) -> torch.Generator:
    import matplotlib

    backend = matplotlib.get_backend().lower()
    if "ipykernel" not in backend and "inline" not in backend:
        matplotlib.use("agg")
    # fixed thread count (default 2, the CI machine's cores; SBP_THREADS overrides): CPU reductions may
    # sum in another order with another count, and nbval compares printed numbers across runs
    torch.set_num_threads(int(os.environ.get("SBP_THREADS", threads or torch.get_num_threads())))
    random.seed(seed)
    torch.manual_seed(seed)
    import numpy as np

    np.random.seed(seed)
    return torch.Generator().manual_seed(seed)


def setup(profile: str, seed: int = 0, *, figures_dir: str = "../figures", cache_dir: str = "../build/cache",
          data_dir: str = "", resolution: int = 64, models: list[str] | tuple[str, ...] = (),
          default_profile: str = "quick", threads: int | None = 2) -> Notebook:
    """Check ``profile``, seed every RNG, create the folders, open ``data_dir`` and look up ``models``.

    ``data_dir``: a local image folder (CelebA, LSUN Bedroom) read at ``resolution``; empty:
    the generated shapes (``data`` is None). ``models``: names that must be in the zoo's
    grid of this profile (a clear error lists the known ones). ``threads``: torch's CPU
    thread count for the notebook.
    """
    check_profile(profile)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    generator = _seed_everything(seed, threads)
    shipped = Path(figures_dir).resolve()
    figures = figures_folder(os.environ.get("SBP_FIGURES_DIR", figures_dir), profile, default_profile).resolve()
    cache = Path(cache_dir).resolve()
    figures.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    data = ImageFolder(data_dir, resolution) if data_dir else None
    specs = {s["name"]: s for s in model_specs(profile)}
    unknown = [m for m in models if m not in specs]
    if unknown:
        raise ValueError(f"model(s) {unknown} are not in the {profile!r} grid; known: {sorted(specs)}")
    return Notebook(profile=profile, seed=seed, generator=generator, figures=figures, shipped=shipped, cache=cache, data=data,
                    specs=specs, grid=model_grid(profile))
