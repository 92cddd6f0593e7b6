"""Helpers shared by the notebooks: reproducible set-up, paths."""
from __future__ import annotations

import os
import random
from pathlib import Path

import torch

__all__ = ["setup", "paths"]


def setup(seed: int = 0, threads: int | None = 2) -> torch.Generator:
    """Seed every RNG, fix the CPU thread count and select the non-interactive plot backend.

    The thread count is fixed (default 2, the CI machine's cores; ``SBP_THREADS``
    overrides it) because CPU reductions may sum in a different order with a different
    number of threads, and nbval compares printed numbers across runs.
    Returns a ``torch.Generator`` seeded with ``seed`` for explicit draws.
    """
    import matplotlib

    if "ipykernel" not in matplotlib.get_backend().lower() and "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("agg")
    threads = int(os.environ.get("SBP_THREADS", threads or torch.get_num_threads()))
    torch.set_num_threads(threads)
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np
        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass
    return torch.Generator().manual_seed(seed)


def paths(figures_dir: str, cache_dir: str) -> tuple[Path, Path]:
    """Resolve and create the figures and cache folders (notebook parameters are plain str)."""
    fig, cache = Path(figures_dir).resolve(), Path(cache_dir).resolve()
    fig.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    return fig, cache
