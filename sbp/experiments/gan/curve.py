"""Sample quality along training: the Frechet distance and the confident share, every checkpoint.

``quality(G, net, real_feats)`` measures a generator the way the shipped manifests do
(``frechet_distance`` of 1,000 samples, seed 0, against 1,000 held-out real images, seed
10,000) plus the share of samples whose top shape-class probability under the factor
network exceeds 0.9 (``shape_report``'s ``confident_share``). ``read_curve`` /
``append_curve`` keep one row per iteration in a CSV beside the weights
(``<name>_curve.csv``, with the training seconds so far), written atomically, so a resumed run appends where it stopped.
``frechet_spread`` gives the sampling noise of that distance (mean and sd over sample seeds), ``noise_row``
that beside the spread of a curve's last checkpoints (benchmarks/zoo_fd_spread.py, notebook 03).
``doubling_rows`` applies the zoo's schedule rule to the final distances of schedules of doubling length.
"""
from __future__ import annotations

import csv
import io
import math
import os
import statistics
from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from sbp.data.shapes import make_shapes
from sbp.experiments.gan import reference
from sbp.experiments.gan.config import DEFAULTS, TRAINING_KEYS, full_spec
from sbp.experiments.gan.factors import FactorNet, factor_features, frechet_distance, shape_report
from sbp.infra.checkpoint import spec_mismatch
from sbp.infra.io import atomic_write_bytes

__all__ = ["CURVE_COLUMNS", "REAL_SEED", "real_features", "quality", "frechet_spread", "noise_row", "read_curve",
           "append_curve", "curve_path", "DOUBLING_THRESHOLD", "doubling_rows", "run_to_run_sd",
           "schedule_finals"]

CURVE_COLUMNS = ("iteration", "wall_time_s", "frechet", "confident_share")
REAL_SEED = 10_000  # the held-out real images of every Frechet distance in the manifests
DOUBLING_THRESHOLD = 0.05  # the zoo's rule: double the schedule while the Frechet distance falls by more than 5 %


def real_features(net: FactorNet, n: int = 1000, resolution: int = 32) -> Tensor:
    """Factor-network features of ``n`` held-out real images (``make_shapes`` seeded ``REAL_SEED``)."""
    return factor_features(net, make_shapes(n, resolution, seed=REAL_SEED).images)


def _samples(G: nn.Module, n: int, seed: int) -> Tensor:
    """``n`` samples G(z), z seeded ``seed``, in batches of 250."""
    z = torch.randn(n, G.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return torch.cat([G(z[i:i + 250]) for i in range(0, n, 250)])


def _frechet(images: Tensor, net: FactorNet, real_feats: Tensor) -> float:
    return frechet_distance(real_feats, factor_features(net, images))


def quality(G: nn.Module, net: FactorNet, real_feats: Tensor, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """``frechet`` and ``confident_share`` of ``n`` samples G(z), z seeded ``seed``."""
    images = _samples(G, n, seed)
    return {"frechet": _frechet(images, net, real_feats), "confident_share": shape_report(net, images)["confident_share"]}


def frechet_spread(G: nn.Module, net: FactorNet, real_feats: Tensor, seeds: range | list[int] = range(5),
                   n: int = 1000) -> dict[str, float]:
    """``quality``'s distance over sample ``seeds`` (at least two): ``frechet_mean``, ``frechet_sd``, ``seeds``.

    The sd is the noise of the one number (seed 0) that the manifests, curves and schedule rule read.
    """
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(f"frechet_spread needs at least two sample seeds, got {seeds}")
    fds = [_frechet(_samples(G, n, s), net, real_feats) for s in seeds]  # quality's distance, no shape report
    return {"frechet_mean": statistics.mean(fds), "frechet_sd": statistics.stdev(fds), "seeds": len(seeds)}


def noise_row(G: nn.Module, net: FactorNet, real_feats: Tensor, rows: list[dict[str, float]],
              seeds: range | list[int] = range(5)) -> dict[str, float]:
    """How far a finished model's distance moves without the model changing: ``frechet_seed0`` (its curve's last
    row, the manifest's number), ``frechet_spread`` over ``seeds``, and ``last5_min`` / ``last5_max`` over the
    curve's last five checkpoints (``rows``: ``read_curve`` of the model's curve)."""
    if len(rows) < 5:
        raise ValueError(f"noise_row needs a curve of at least 5 checkpoints, got {len(rows)}")
    tail = [r["frechet"] for r in rows[-5:]]
    return {"frechet_seed0": rows[-1]["frechet"], **frechet_spread(G, net, real_feats, seeds),
            "last5_min": min(tail), "last5_max": max(tail)}


def curve_path(weights: str | os.PathLike) -> Path:
    """``<folder>/<name>_curve.csv`` beside ``<folder>/<name>.pt``."""
    p = Path(weights)
    return p.with_name(f"{p.stem}_curve.csv")


def read_curve(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a curve CSV (``[]`` when absent), iterations as int."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path) as fh:
        return [{"iteration": int(r["iteration"]), **{k: float(r[k]) for k in CURVE_COLUMNS[1:]}}
                for r in csv.DictReader(fh)]


def append_curve(path: str | os.PathLike, row: dict[str, float]) -> list[dict[str, float]]:
    """Add (or replace) the row of ``row["iteration"]``; rewrite the file atomically; return all rows."""
    rows = [r for r in read_curve(path) if r["iteration"] != int(row["iteration"])] + [dict(row)]
    rows.sort(key=lambda r: r["iteration"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CURVE_COLUMNS)
    for r in rows:
        w.writerow([int(r["iteration"])] + [f"{float(r[k]):.6g}" for k in CURVE_COLUMNS[1:]])
    atomic_write_bytes(path, buf.getvalue().encode())
    return rows


def doubling_rows(finals: Mapping[int, float], threshold: float = DOUBLING_THRESHOLD,
                  errors: Mapping[int, float] | None = None) -> list[dict]:
    """The schedule rule on one model: ``finals`` maps schedule lengths (each twice the previous) to the final
    Frechet distance of a run on that schedule (the cosine spans it, so each length is its own run); ``errors``
    maps them to the standard errors of those distances (default: none).

    One row per length, ascending: ``iters``, ``frechet``, ``fall`` (relative fall from the half-length run,
    nan for the first), ``fall_se`` (its standard error, to first order), ``double_again`` (``fall > threshold``;
    for the first row: True, nothing to compare) and ``resolved`` (the fall is more than two standard errors
    from the threshold, so the noise of the distances does not decide ``double_again``).
    """
    lengths = sorted(finals)
    if not lengths:
        raise ValueError("doubling_rows: no schedule given")
    for a, b in zip(lengths, lengths[1:]):
        if b != 2 * a:
            raise ValueError(f"doubling_rows: schedule lengths must double, got {a} then {b}")
    if any(not math.isfinite(float(finals[n])) or finals[n] <= 0 for n in lengths):
        raise ValueError(f"doubling_rows: Frechet distances must be finite and positive, got {dict(finals)}")
    errors = {n: 0.0 for n in lengths} if errors is None else errors
    if sorted(errors) != lengths or any(not math.isfinite(float(e)) or e < 0 for e in errors.values()):
        raise ValueError(f"doubling_rows: errors must be finite, >= 0 and given for every length, got {dict(errors)}")
    rows = []
    for i, n in enumerate(lengths):
        fd, prev = float(finals[n]), float(finals[lengths[i - 1]]) if i else math.nan
        fall = (prev - fd) / prev  # nan for the first; = 1 - fd / prev, whose relative errors add in quadrature:
        fall_se = fd / prev * math.hypot(errors[n] / fd, errors[lengths[i - 1]] / prev) if i else math.nan
        rows.append({"iters": n, "frechet": fd, "fall": fall, "fall_se": fall_se,
                     "double_again": not i or fall > threshold,
                     "resolved": not i or abs(fall - threshold) > 2 * fall_se})
    return rows


def run_to_run_sd(pairs: Sequence[tuple[float, float]]) -> float:
    """The relative standard deviation of one run's final distance, from ``pairs`` of the distances of two runs
    of one recipe on one schedule: for a, b independent with mean m and sd s, E (a - b)^2 = 2 s^2, so each pair
    gives (s / m)^2 ~ 2 (a - b)^2 / (a + b)^2; the pairs' values are pooled (root of their mean)."""
    if not pairs or any(len(p) != 2 or min(p) <= 0 or not all(map(math.isfinite, p)) for p in pairs):
        raise ValueError(f"run_to_run_sd: needs pairs of finite, positive distances, got {list(pairs)}")
    return math.sqrt(statistics.mean(2 * (a - b) ** 2 / (a + b) ** 2 for a, b in pairs))


def schedule_finals(name: str, folders: Sequence[Path], net: FactorNet, real_feats: Tensor,
                    seeds: range | list[int] = range(5), recipe: Mapping | None = None) -> dict[int, float]:
    """Model ``name``'s final distance per schedule length: its mean over sample ``seeds`` (``frechet_spread``),
    for each of ``folders`` (a zoo on one schedule, as ``models/reference_24k/``) that has the model; the same
    weights in two folders (a model that kept its schedule) count once, two runs of one length are an error.
    ``recipe``: a model spec; only runs trained with its values of the knobs that decide the weights
    (``config.TRAINING_KEYS``: step size, R1, ...) count, since the rule doubles one recipe's schedule."""
    if recipe is not None:
        full_spec(dict(recipe))  # a misspelt recipe is an error, not a filter that matches nothing
    finals: dict[int, float] = {}
    digests: dict[int, str] = {}
    for folder in map(Path, folders):
        if not (folder / f"{name}.json").is_file():
            continue
        man = reference.manifest(name, folder)
        if recipe is not None and spec_mismatch(man["spec"], dict(recipe), TRAINING_KEYS, DEFAULTS):
            continue  # another recipe's run
        iters = int(man["iterations"])
        if digests.setdefault(iters, man["sha256"]) != man["sha256"]:
            raise ValueError(f"schedule_finals: two runs of {name!r} on {iters} steps (the second in {str(folder)!r})")
        if iters not in finals:
            G = reference.load_generator(name, folder=folder)
            finals[iters] = frechet_spread(G, net, real_feats, seeds)["frechet_mean"]
    return finals
