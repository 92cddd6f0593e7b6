"""The loss log that ``train_gan`` writes next to its checkpoint (``<checkpoint>.csv``), read back for plots.

One row per ``log_every`` iterations, columns ``LOG_COLUMNS`` (iteration, loss_d, loss_g,
d_real, d_fake), each loss the mean over the iterations since the previous row.
``block_average`` averages blocks of rows into a readable curve.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import torch
from torch import Tensor

from sbp.experiments.gan.train import LOG_COLUMNS

__all__ = ["read_training_log", "block_average"]


def read_training_log(path: str | os.PathLike) -> dict[str, Tensor]:
    """The columns of a ``train_gan`` loss log: ``iteration`` int64, the others float32 (the file holds
    6 significant digits), each of length "rows"."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {str(path)!r} (train_gan writes <checkpoint>.csv)")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in LOG_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{str(path)!r} is not a train_gan log: columns {missing} missing")
        rows = list(reader)
    if not rows:
        raise ValueError(f"training log {str(path)!r} has no rows")
    out = {"iteration": torch.tensor([int(r["iteration"]) for r in rows], dtype=torch.int64)}
    for c in LOG_COLUMNS[1:]:
        out[c] = torch.tensor([float(r[c]) for r in rows], dtype=torch.float32)
    return out


def block_average(iteration: Tensor, values: Tensor, blocks: int = 50) -> tuple[Tensor, Tensor]:
    """Means of consecutive blocks of k = max(1, len // blocks) log rows, and each block's last iteration.

    Returns (iterations (len // k,), means (len // k,)): at most about ``blocks`` points, a
    trailing partial block dropped. Means are taken in the dtype of ``values``; a NaN loss (a
    diverged run) makes its block's mean NaN, a gap in the plot.
    """
    if not isinstance(iteration, Tensor) or not isinstance(values, Tensor) or iteration.dim() != 1 \
            or values.dim() != 1 or iteration.shape != values.shape or values.numel() == 0:
        raise ValueError("iteration and values must be 1-D tensors of the same positive length, got "
                         f"{getattr(iteration, 'shape', type(iteration).__name__)} and "
                         f"{getattr(values, 'shape', type(values).__name__)}")
    if not values.is_floating_point():
        raise TypeError(f"values must be floating point, got {values.dtype}")
    if not isinstance(blocks, int) or isinstance(blocks, bool) or blocks < 1:
        raise ValueError(f"blocks must be a positive int, got {blocks!r}")
    n = values.numel()
    k = max(1, n // blocks)
    m = n // k
    return iteration[k - 1::k][:m], values[: m * k].view(-1, k).mean(1)
