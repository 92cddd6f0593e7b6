"""Progress bars that stay out of regression-checked notebook outputs.

``progress`` wraps tqdm writing to stderr (nbval does not compare stderr in this
project, see the root conftest.py). ``SBP_PROGRESS=0`` turns bars off entirely.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, enabled: bool | None = None, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)`` on stderr, disabled when ``SBP_PROGRESS=0`` or ``enabled=False``."""
    if enabled is None:
        enabled = os.environ.get("SBP_PROGRESS", "1") != "0"
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("mininterval", 1.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, disable=not enabled, **kwargs)
