"""Checkpoints of long runs: atomic, fsynced, with the previous good one kept.

Both training loops (``sbp.experiments.gan.train`` and ``sbp.experiments.density2d.fit``)
save through ``save_checkpoint`` and resume through ``resume_checkpoint``:

- ``save_checkpoint(path, state)`` serializes ``state`` with ``torch.save`` into memory,
  keeps the current checkpoint (if any) as ``<path>.prev`` (a hard link, renamed into
  place) and writes the new one through ``sbp.infra.io.atomic_write_bytes`` (temporary
  file, fsync, rename). ``path`` is a complete file at every moment: the old one or the new.
- ``load_checkpoint(path)`` reads one file and raises ``CheckpointError`` naming it when it
  is truncated or corrupt (instead of torch's zip-reader traceback).
- ``resume_checkpoint(path, check)`` loads ``path`` for resuming; when it is damaged it
  warns, names it, and falls back to ``<path>.prev``, so a damaged file loses at most one
  checkpoint interval. ``check(state)`` (for example a spec comparison) may raise.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from sbp.infra.io import atomic_write_bytes

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "resume_checkpoint", "remove_checkpoint",
           "previous_path", "spec_mismatch"]


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read (truncated, corrupt, or not a checkpoint)."""


def previous_path(path: str | os.PathLike) -> Path:
    """Where ``save_checkpoint`` keeps the checkpoint before the current one: ``<path>.prev``."""
    path = Path(path)
    return path.with_name(path.name + ".prev")


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` atomically to ``path``, keeping the current file as ``previous_path(path)``."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(state, buf)
    if path.exists():
        prev = previous_path(path)
        tmp = prev.with_name(prev.name + ".tmp")
        tmp.unlink(missing_ok=True)
        os.link(path, tmp)
        os.replace(tmp, prev)
    return atomic_write_bytes(path, buf.getvalue())


def remove_checkpoint(path: str | os.PathLike) -> None:
    """Delete the checkpoint at ``path`` and the previous one kept beside it."""
    Path(path).unlink(missing_ok=True)
    previous_path(path).unlink(missing_ok=True)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The state saved at ``path`` (tensors on the CPU); ``CheckpointError`` names a damaged file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises RuntimeError / EOFError / UnpicklingError on damaged files
        raise CheckpointError(f"checkpoint {str(path)!r} is truncated or corrupt ({path.stat().st_size} bytes; "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                              "delete it to start over") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds a {type(state).__name__}, not a checkpoint dict")
    return state


def resume_checkpoint(path: str | os.PathLike, check: Callable[[dict], None] | None = None) -> dict | None:
    """The state to resume from: ``path``, or ``previous_path(path)`` when ``path`` is damaged; None if neither exists.

    Raises ``CheckpointError`` naming both files when neither can be read.
    """
    path, prev = Path(path), previous_path(path)
    try:
        state = load_checkpoint(path) if path.exists() else None
    except CheckpointError as exc:
        if not prev.exists():
            raise
        try:
            state = load_checkpoint(prev)
        except CheckpointError as exc_prev:
            raise CheckpointError(f"{exc}; and the previous one: {exc_prev}") from exc_prev
        warnings.warn(f"{exc}; resuming from the previous checkpoint {str(prev)!r} "
                      f"(iteration {state.get('iteration', '?')})", RuntimeWarning, stacklevel=2)
    if state is not None and check is not None:
        check(state)
    return state


def spec_mismatch(saved: dict, spec: dict, keys: tuple[str, ...], defaults: dict[str, Any] | None = None
                  ) -> dict[str, tuple[Any, Any]]:
    """``{key: (saved value, spec value)}`` for the ``keys`` on which ``saved`` differs from ``spec``;
    a key absent from either (a checkpoint older than the key) counts as its ``defaults`` value."""
    defaults = defaults or {}
    value = lambda d, k: d.get(k, defaults.get(k))  # noqa: E731
    return {k: (value(saved, k), value(spec, k)) for k in keys if value(saved, k) != value(spec, k)}
