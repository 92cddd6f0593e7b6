"""Pieces every training loop shares: CPU thread pinning and the step-size schedule."""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch

__all__ = ["cpu_threads", "cosine_lr"]


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
