"""Wall time against exact, autograd-graph and resident memory, and the benchmark's targets (notebook 08)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from sbp.numerics.errors import relative_error
from sbp.experiments.benchmark.problems import DCGANLike
from sbp.experiments.benchmark.products import best_by_budget, hutchpp_gain
from sbp.numerics.checks import check_positive_int
from sbp.numerics.logdet import auto_method, logdet_metric

def timed(fn: Callable[[], object], repeats: int = 3, warmup: bool = True) -> tuple[float, object]:
    """Shortest wall time of ``fn()`` over ``repeats`` calls (after one warm-up call), and its last result.

    The minimum, as ``timeit`` advises: on a shared machine the other calls measure the load.
    """
    check_positive_int(repeats, "repeats")
    out = fn() if warmup else None
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def wall_time_vs_exact(sizes: Sequence[int], *, width: int = 8, resolution: int = 64, order: int = 20,
                       probes: int = 4, power_iters: int = 20, repeats: int = 1, jvp_mode: str = "reverse",
                       seed: int = 0) -> list[dict]:
    """Wall time of one log det (batch 1, no graph) by ``"exact"`` and ``"chebyshev"`` on a
    ``DCGANLike`` generator at each latent size (``timed``; one warm-up of each method at the
    first size only), which is faster, and where ``method="auto"`` lands: the method that
    ``auto_method`` picks and its time. ``logdet_metric(method="auto")`` runs exactly that
    method (the pick is a formula), so its time is the picked method's; timing it again would
    only add the machine's noise. Also the estimator's relative error against exact."""
    rows = []
    kw = dict(order=order, probes=probes, power_iters=power_iters, generator=seed, jvp_mode=jvp_mode)
    for i, d in enumerate(sizes):
        f = DCGANLike(d, width=width, seed=seed, resolution=resolution).eval().requires_grad_(False)
        z = torch.randn(1, d, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            t_ex, ex = timed(lambda: logdet_metric(f, z, method="exact"), repeats, i == 0)  # its fastest route
            t_est, est = timed(lambda: logdet_metric(f, z, method="chebyshev", **kw), repeats, i == 0)
        pick = auto_method(d, order=order, probes=probes, power_iters=power_iters, graph=False)
        t_auto = t_ex if pick == "exact" else t_est
        rows.append({"d": d, "exact_s": t_ex, "estimator_s": t_est, "faster": "exact" if t_ex <= t_est else "chebyshev",
                     "auto_pick": pick, "auto_s": t_auto, "auto_over_best": t_auto / min(t_ex, t_est) - 1,
                     "exact_logdet": ex.logdet.item(),  # -inf where J is singular in float32 (the error is then nan)
                     "estimator_error": relative_error(est.logdet.double(), ex.logdet.double()).item()})
    return rows



def graph_bytes(t: Tensor) -> int:
    """Bytes of the tensors saved for the backward in the autograd graph of ``t`` (unique storages).

    Deterministic (sizes only, no allocator): what a training step holds between the
    estimate and its backward, the part of the memory that grows with the order.
    (``saved_tensors_hooks`` would be simpler but do not work under ``torch.func``.)
    """
    sizes: dict = {}

    def add(x: object) -> None:
        if isinstance(x, Tensor):
            try:
                s = x.untyped_storage()
                sizes[s.data_ptr()] = s.nbytes()
            except RuntimeError:  # functorch-wrapped tensors have no plain storage
                sizes[("tensor", id(x))] = x.numel() * x.element_size()
        elif isinstance(x, (tuple, list)):
            for y in x:
                add(y)

    seen, stack = set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        for name in dir(node):
            if name.startswith("_saved_") or name == "saved_tensors":
                try:
                    add(getattr(node, name))
                except RuntimeError:  # freed buffers or non-tensor saved values
                    pass
        stack.extend(nxt for nxt, _ in node.next_functions)
    return int(sum(sizes.values()))


def memory_vs_order(f: nn.Module, z: Tensor, *, orders: Sequence[int], methods: Sequence[str] = ("chebyshev",),
                    grad_modes: Sequence[str] = ("backprop", "lowmem"), probes: int = 4, seed: int = 0,
                    jvp_mode: str = "reverse") -> list[dict]:
    """One training step (estimate with a graph to f's parameters, then backward) per
    (method, grad_mode, order): rows with ``graph_bytes`` of the estimate, in MB, and the
    estimate's mean. f's parameters must require grad."""
    rows = []
    for method in methods:
        for mode in grad_modes:
            for order in orders:
                f.zero_grad(set_to_none=True)
                est = logdet_metric(f, z, method=method, order=order, probes=probes, generator=seed,
                                    grad_mode=mode, jvp_mode=jvp_mode)
                mb = graph_bytes(est.logdet) / 2 ** 20
                est.logdet.sum().backward()
                rows.append({"method": method, "grad_mode": mode, "order": int(order), "graph_mb": mb,
                             "logdet": est.logdet.mean().item()})
    return rows


_RSS_CHILD = r"""
import json, re, sys, time
import torch
torch.set_num_threads(1)
import sbp
from sbp.experiments.benchmark.problems import DCGANLike
method, mode, order, d, B, probes, width = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:8])
f = DCGANLike(d, width=width, seed=0, resolution=32)
z = torch.randn(B, d, generator=torch.Generator().manual_seed(1))
f(z).sum().backward()
f.zero_grad()
def kb(field):
    return int(re.search(field + r":\s+(\d+)", open("/proc/self/status").read()).group(1))
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to the current RSS
    fh.write("5")
rss0 = kb("VmRSS")
t0 = time.perf_counter()
est = sbp.logdet_metric(f, z, method=method, order=order, probes=probes, generator=0, grad_mode=mode)
est.logdet.sum().backward()
wall = time.perf_counter() - t0
print(json.dumps(dict(peak_mb=(kb("VmHWM") - rss0) / 1024, wall=wall, logdet=est.logdet.mean().item(),
                      products=est.products)))
"""


def peak_rss_step(method: str, grad_mode: str, order: int, *, d: int = 64, batch: int = 4, probes: int = 4,
                  width: int = 16) -> dict:
    """Peak resident memory of one training step (estimate + backward) in a fresh process.

    A ``DCGANLike`` generator (d -> 3x32x32, ``width``), batch ``batch``, 1 thread; returns
    ``peak_mb``: peak RSS during the step (``VmHWM``, reset through ``/proc/self/clear_refs``
    just before it, after the model was built and ran one forward and backward) minus the
    RSS at that moment, ``wall``, ``logdet``, ``products``. RSS includes allocator slack:
    differences of a few MB are noise. CPU, Linux >= 4.0 only.
    """
    args = [method, grad_mode, str(order), str(d), str(batch), str(probes), str(width)]
    root = str(Path(__file__).resolve().parents[3])  # this checkout's sbp, not another installed copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, *args], capture_output=True, text=True, check=True,
                         env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_vs_order(orders: Sequence[int], *, method: str = "chebyshev",
                      grad_modes: Sequence[str] = ("backprop", "lowmem"), d: int = 64, batch: int = 4,
                      probes: int = 4, width: int = 16) -> list[dict]:
    """``peak_rss_step`` for each grad_mode, then each order (one fresh process each): rows with
    ``method``, ``grad_mode``, ``order`` and the step's ``peak_mb``, ``wall``, ``logdet``, ``products``."""
    orders = [check_positive_int(o, "order") for o in orders]
    if not orders or not grad_modes:
        raise ValueError("orders and grad_modes must not be empty")
    rows = []
    for mode in grad_modes:
        for order in orders:
            r = peak_rss_step(method, mode, order, d=d, batch=batch, probes=probes, width=width)
            rows.append({"method": method, "grad_mode": mode, "order": order, **r})
    return rows


def crossovers(time_rows: Sequence[dict]) -> list[tuple[int, int]]:
    """Neighbouring latent sizes (d, d') of ``wall_time_vs_exact`` rows between which the faster method changes."""
    return [(a["d"], b["d"]) for a, b in zip(time_rows, time_rows[1:]) if a["faster"] != b["faster"]]


def _geomean(xs: Sequence[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def target_rows(error_rows: Sequence[dict], memory_rows: Sequence[dict], time_rows: Sequence[dict] = (),
                rss_rows: Sequence[dict] = (), hutchpp_families: Sequence[str] = ("generator",),
                hutchpp_bound: float | None = None) -> list[dict]:
    """The four targets of the estimator benchmark (notebook 08) with measured values: rows {target, measured, value, met}.

    ``met`` is True/False, or None where the target was not measured (no GPyTorch, no timings).
    1. sbp's best method vs GPyTorch SLQ at equal products: per family, the geometric mean over
       (problem, budget) of best / GPyTorch; met if <= 1 on every family and < 1 on one.
    2. Hutch++ vs plain Hutchinson on ``hutchpp_families``: geometric-mean gain; met if >= 2
       (``hutchpp_bound``, e.g. ``hutchpp_ideal_gain`` of those metrics, is quoted with it).
    3. lowmem memory at the largest order / smallest order: autograd-graph bytes
       (``memory_vs_order``) and, if given, peak RSS (``peak_rss_step`` rows with keys
       grad_mode, order, peak_mb); met if <= 1.2.
    4. auto's time over the faster of exact and chebyshev, worst size; met if <= 10%.
    """
    out = []
    best = best_by_budget(error_rows)
    families = list(dict.fromkeys(r["family"] for r in best))
    ratios = {f: [r["best_over_gpytorch"] for r in best if r["family"] == f and not math.isnan(r["best_over_gpytorch"])]
              for f in families}
    if all(ratios[f] for f in families):
        g = {f: _geomean(ratios[f]) for f in families}
        out.append({"target": "sbp best <= GPyTorch SLQ at equal products, every family; better on one",
                    "measured": ", ".join(f"{f} {v:.2f}x" for f, v in g.items()), "value": max(g.values()),
                    "met": all(v <= 1 for v in g.values()) and any(v < 1 for v in g.values())})
    else:
        out.append({"target": "sbp best <= GPyTorch SLQ at equal products, every family; better on one",
                    "measured": "not measured: gpytorch not installed", "value": math.nan, "met": None})
    gains = [r["gain"] for r in hutchpp_gain(error_rows) if r["family"] in hutchpp_families]
    gm = _geomean(gains)
    out.append({"target": f"Hutch++ halves plain Hutchinson's error ({', '.join(hutchpp_families)} metrics)",
                "measured": f"error ratio plain / Hutch++ {gm:.2f}x (geometric mean of {len(gains)} budgets)"
                            + (f"; at most {hutchpp_bound:.2f}x from the spectrum" if hutchpp_bound else ""),
                "value": gm, "met": bool(gm >= 2) if gains else None})

    def ratio(rows: Sequence[dict], key: str) -> tuple[float, int, int]:
        low = [r for r in rows if r["grad_mode"] == "lowmem"]
        lo, hi = min(low, key=lambda r: r["order"]), max(low, key=lambda r: r["order"])
        return hi[key] / max(lo[key], 1e-300), lo["order"], hi["order"]

    for rows, key, what in ((memory_rows, "graph_mb", "autograd graph"), (rss_rows, "peak_mb", "peak RSS")):
        if rows:
            r, o1, o2 = ratio(rows, key)
            out.append({"target": f"lowmem memory at order {o2} <= 1.2x order {o1} ({what})",
                        "measured": f"{r:.2f}x", "value": r, "met": bool(r <= 1.2)})
    if time_rows:
        worst = max(time_rows, key=lambda r: r["auto_over_best"])
        out.append({"target": "auto within 10% of the faster of exact and chebyshev, every size",
                    "measured": f"worst {worst['auto_over_best']:+.0%} at d={worst['d']}",
                    "value": worst["auto_over_best"], "met": bool(worst["auto_over_best"] <= 0.10)})
    else:
        out.append({"target": "auto within 10% of the faster of exact and chebyshev, every size",
                    "measured": "not measured", "value": math.nan, "met": None})
    return out
