"""The Figure 1 settings sweep as tables: what ``benchmarks/fig1_fit_sweep.py`` recorded, read back.

The benchmark appends one JSON line per trained model (grid, energy, method, seed, setting and the
fit-quality numbers of ``fit_quality``); notebook 01 shows these tables and ``RESULTS.md`` carries
them, so the settings the notebook uses can be traced to measurements.
"""
from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path

__all__ = ["load_sweep", "sweep_table", "seed_spread"]

_NUMBERS = ("tv", "outside", "kl", "folded", "split_lower")


def load_sweep(path: str | os.PathLike) -> list[dict]:
    """The rows of a sweep file (JSON lines); a clear error when the file is missing or a line is broken."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no sweep results at {p}: run benchmarks/fig1_fit_sweep.py first")
    rows = []
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{p}, line {i}: not JSON ({err})") from None
    return rows


def _setting(s: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(s.items()))


def sweep_table(rows: list[dict], grids: tuple[str, ...] | None = None) -> list[dict]:
    """One flat row per trained model (optionally only ``grids``), sorted by energy, grid and TV."""
    keep = [r for r in rows if grids is None or r["grid"] in grids]
    out = [dict(energy=r["energy"], grid=r["grid"], method=r["method"], seed=r["seed"], setting=_setting(r["setting"]),
                **{k: r.get(k, math.nan) for k in _NUMBERS}, ms_per_step=1e3 * r["s_per_it"]) for r in keep]
    return sorted(out, key=lambda r: (r["energy"], r["grid"], r["tv"]))


def seed_spread(rows: list[dict], grid: str = "chosen") -> list[dict]:
    """Per (energy, method, setting) of ``grid``: the seeds and the mean, min and max of TV and KL over them."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["grid"] == grid:
            groups[r["energy"], r["method"], _setting(r["setting"])].append(r)
    out = []
    for (energy, method, setting), rs in sorted(groups.items()):
        tv, kl = [r["tv"] for r in rs], [r["kl"] for r in rs]
        out.append(dict(energy=energy, method=method, setting=setting, seeds=len(rs), tv_mean=sum(tv) / len(tv),
                        tv_min=min(tv), tv_max=max(tv), kl_mean=sum(kl) / len(kl), kl_min=min(kl), kl_max=max(kl),
                        split_lower=", ".join(f"{r.get('split_lower', math.nan):.2f}" for r in rs)))
    return out
