"""Independent runs (fits of Figure 2, seeds of a sweep) on worker processes, one CPU thread each.

Small models train fastest on one thread (``sbp.infra.training.cpu_threads``), so a 2-core
machine runs two of them at once. ``process_map`` gives the same results, bit for bit, on any
number of processes: each task runs on one torch thread whether it runs here or in a worker.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

from sbp.infra.training import cpu_threads

__all__ = ["process_map", "default_processes"]


def default_processes(tasks: int) -> int:
    """One worker per CPU core this process may use, at most one per task, at least one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(tasks, cores))


def _one_thread(fn: Callable[..., Any], task: dict) -> Any:
    with cpu_threads(1):
        return fn(**task)


def process_map(fn: Callable[..., Any], tasks: Sequence[dict], *, processes: int | None = None) -> list:
    """``[fn(**task) for task in tasks]``, each on one torch thread, on ``processes`` spawned workers
    (``None``: ``default_processes``; 1: in this process, no worker).

    ``fn`` must be importable by name (a module-level function) and its results picklable; put the
    longest tasks first, workers take them in order. Warnings raised in a worker stay there: return
    what the caller should see (``FitResult.warnings``).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    tasks = list(tasks)
    if not all(isinstance(t, dict) for t in tasks):
        raise TypeError("every task must be a dict of keyword arguments for fn")
    n = default_processes(len(tasks)) if processes is None else int(processes)
    if n < 1:
        raise ValueError(f"processes must be >= 1, got {processes!r}")
    if n == 1 or len(tasks) <= 1:
        return [_one_thread(fn, t) for t in tasks]
    with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_one_thread, [fn] * len(tasks), tasks))
