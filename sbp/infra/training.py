"""Pieces every training loop shares: CPU thread pinning, the step-size schedule and one summary of the
warnings its steps raise."""
from __future__ import annotations

import contextlib
import math
import re
import warnings
from typing import Iterator

import torch

__all__ = ["cpu_threads", "cosine_lr", "summarized_warnings"]

_VARIABLE = re.compile(r"\([^)]*\)|\d+(\.\d+)?(e[-+]?\d+)?")  # row lists and numbers: the same kind of warning


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Temporarily run torch's CPU kernels on ``n`` threads (``None``: leave as is).

    Training runs single-threaded by default: reductions then sum in one fixed order, so a
    run gives the same bits whatever thread count the caller has set (a notebook's 2, a
    test's 1), and GAN training, which amplifies last-bit differences, stays reproducible
    between a fresh run and a cached one. For the tiny ops of the 2-D fits one thread is
    also the faster choice.
    """
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def cosine_lr(it: int, iterations: int, lr: float, lr_final: float | None) -> float:
    """Step size at iteration ``it`` (0-based): cosine decay from ``lr`` to ``lr_final`` over
    ``iterations`` steps (Loshchilov & Hutter 2017, one cycle); constant ``lr`` if ``lr_final`` is None."""
    if lr_final is None:
        return lr
    return lr_final + (lr - lr_final) * 0.5 * (1 + math.cos(math.pi * it / iterations))


@contextlib.contextmanager
def summarized_warnings(what: str) -> Iterator[list[str]]:
    """Collect the RuntimeWarnings raised inside (an estimator's, once per training step) and warn once on
    leaving, per kind of warning (its text without numbers and parenthesized row lists): how many times, and the first one.

    The summary lines are appended to the yielded list too (a training result keeps them); other
    warnings pass through unchanged."""
    summary: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield summary
    kinds: dict[str, list] = {}
    for w in caught:
        if not issubclass(w.category, RuntimeWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        kinds.setdefault(_VARIABLE.sub("#", str(w.message)), [0, str(w.message)])[0] += 1
    for n, first in kinds.values():
        summary.append(f"{what}: {n} warning{'s' if n > 1 else ''} like the first: {first}")
        warnings.warn(summary[-1], RuntimeWarning, stacklevel=3)
