"""How aberrant are outputs? Three measures against the data and ordinary samples (Section 4, Table 1).

The paper calls the outputs of likelihood ascent "aberrant" (Figure 4). Here that is three verdicts
per output, each a boolean:

- **content** (``sbp.experiments.latent.content``): the image shows what no data image shows: no
  object, an object too small or too large, factor readings outside the data's ranges, a shape
  the factor network cannot name as confidently as it names real ones. This is the count of
  ``aberrant_final``.
- **features**: the Mahalanobis distance of its factor-network features to the data's, placed as
  a quantile among the same distances of ordinary samples G(z), z ~ N(0, I); aberrant beyond
  ``aberrant_quantile``.
- **pixels**: its pixel distance to the nearest data image, placed the same way. A near-blank
  background lies close in pixels to data images with a small object, so this one misses the
  commonest aberration of likelihood ascent (likelihood models prefer simple inputs:
  Nalisnick et al. 2019, Serra et al. 2020).

``yardstick`` fits what the measures compare with (per generator: its ordinary samples);
``judge`` applies them; ``ascent_rows``, ``claim_check`` and ``verdict`` make Table 1, its
summary and the verdict on the paper's three claims.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor

from sbp.data.shapes import ShapesData
from sbp.experiments.gan.factors import FactorNet, factor_features
from sbp.experiments.latent.ascent import AscentTrace, nearest_neighbour_distance
from sbp.experiments.latent.content import (FOREGROUND_TOL, ContentBounds, FeatureGaussian, content_bounds,
                                            content_check, content_readings, feature_distance, fit_feature_gaussian)

__all__ = ["aberrance_quantile", "aberrance", "Yardstick", "yardstick", "judge", "aberrant_rates", "ascent_rows",
           "claim_check", "verdict", "MEASURES"]

MEASURES = ("content", "features", "pixels")


def aberrance_quantile(distances: Tensor, ordinary: Tensor) -> Tensor:
    """Fraction (N,) of ``ordinary`` (M,) distances strictly below each of ``distances`` (N,)."""
    if not isinstance(distances, Tensor) or not isinstance(ordinary, Tensor) or distances.dim() != 1 \
            or ordinary.dim() != 1 or ordinary.numel() < 1:
        raise ValueError("distances and ordinary must be 1-D tensors, ordinary not empty")
    if not (torch.isfinite(distances).all() and torch.isfinite(ordinary).all()):
        raise ValueError("distances and ordinary must be finite")
    return (ordinary[None, :].double() < distances[:, None].double()).float().mean(1)


def aberrance(x: Tensor, reference: Tensor, ordinary_samples: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest-neighbour distance (N,) of outputs ``x`` to data ``reference`` and its quantile among the
    distances of ``ordinary_samples`` (M, ...) to the same data: (distance, quantile)."""
    dist = nearest_neighbour_distance(x, reference)
    return dist, aberrance_quantile(dist, nearest_neighbour_distance(ordinary_samples, reference))


@dataclass(frozen=True)
class Yardstick:
    """What the three measures compare outputs with, for one generator (``yardstick``)."""

    net: FactorNet
    bounds: ContentBounds  # content: what the data shows
    gaussian: FeatureGaussian  # features: the data's factor-network features
    reference: Tensor  # pixels: data images (M, 3, R, R)
    ordinary_feature: Tensor  # (K,) Mahalanobis distances of ordinary samples G(z)
    ordinary_nn: Tensor  # (K,) their nearest-neighbour pixel distances to ``reference``
    ordinary_content_rate: float  # share of ordinary samples aberrant by content
    aberrant_quantile: float = 0.95


def yardstick(net: FactorNet, data: ShapesData, ordinary: Tensor, *, quantile: float = 0.001,
              aberrant_quantile: float = 0.95, tol: float = FOREGROUND_TOL) -> Yardstick:
    """Calibrate the measures: content bounds (``content_bounds`` at ``quantile``), the feature Gaussian and
    the pixel reference on ``data``; the feature and pixel distances of ``ordinary`` (K, 3, R, R), samples
    G(z) of the generator to be judged, against which outputs are placed as quantiles."""
    if not 0 < aberrant_quantile < 1:
        raise ValueError(f"aberrant_quantile must be in (0, 1), got {aberrant_quantile}")
    bounds = content_bounds(net, data, quantile, tol)
    gaussian = fit_feature_gaussian(factor_features(net, data.images.float()))
    flags, _ = content_check(content_readings(net, ordinary, tol), bounds)
    return Yardstick(net=net, bounds=bounds, gaussian=gaussian, reference=data.images,
                     ordinary_feature=feature_distance(net, gaussian, ordinary),
                     ordinary_nn=nearest_neighbour_distance(ordinary, data.images),
                     ordinary_content_rate=float(flags.float().mean()), aberrant_quantile=aberrant_quantile)


def judge(images: Tensor, ys: Yardstick) -> dict[str, Tensor | list[str]]:
    """The three measures on ``images`` (N, 3, R, R): the content readings (``foreground``, ``x``, ``y``,
    ``scale``, ``confidence``), ``reason`` (why aberrant by content, "" if not), the feature distance and
    its quantile among ordinary samples, the pixel NN distance and its quantile, and one bool (N,) per
    measure: ``aberrant_content``, ``aberrant_features``, ``aberrant_pixels``."""
    out: dict[str, Tensor | list[str]] = dict(content_readings(ys.net, images, ys.bounds.tol))
    flags, reasons = content_check(out, ys.bounds)  # type: ignore[arg-type]
    feat = feature_distance(ys.net, ys.gaussian, images)
    nn = nearest_neighbour_distance(images, ys.reference)
    fq, nq = aberrance_quantile(feat, ys.ordinary_feature), aberrance_quantile(nn, ys.ordinary_nn)
    out.update({"reason": reasons, "feature_dist": feat, "feature_quantile": fq, "nn_dist": nn, "nn_quantile": nq,
                "aberrant_content": flags, "aberrant_features": fq >= ys.aberrant_quantile,
                "aberrant_pixels": nq >= ys.aberrant_quantile})
    return out


def aberrant_rates(images: Tensor, ys: Yardstick) -> dict[str, float]:
    """Share of ``images`` aberrant by each measure (e.g. data images: the false-positive rate), and the
    count of each content reason."""
    j = judge(images, ys)
    out: dict = {m: float(j[f"aberrant_{m}"].float().mean()) for m in MEASURES}  # type: ignore[union-attr]
    out["content_reasons"] = dict(sorted(Counter(r for r in j["reason"] if r).items()))
    return out


_TRIALS = "abcdefghijklmnopqrstuvwxyz"


def _trial_name(i: int) -> str:
    return _TRIALS[i] if i < 26 else f"{_TRIALS[i // 26 - 1]}{_TRIALS[i % 26]}"


def ascent_rows(trace: AscentTrace, ys: Yardstick, **labels: str) -> list[dict]:
    """Table 1 rows, one per trial of ``trace``: initial and final exact log-likelihood, cond(J^T J), ||z||,
    the three measures (``judge``) at the first and last record (each measure's bool; the final readings),
    the change of log det and the part of it the gradient accounted for; ``labels`` lead each row."""
    j0, j1 = judge(trace.images[0], ys), judge(trace.images[-1], ys)
    rows = []
    for i in range(trace.latents[0].shape[0]):
        row = {**labels, "trial": _trial_name(i),
               "loglik_initial": float(trace.loglik[0][i]), "loglik_final": float(trace.loglik[-1][i]),
               "cond_initial": float(trace.condition[0][i]), "cond_final": float(trace.condition[-1][i]),
               "z_norm_initial": float(trace.latents[0][i].norm()),
               "z_norm_final": float(trace.latents[-1][i].norm())}
        for m in MEASURES:
            row[f"{m}_initial"], row[f"{m}_final"] = bool(j0[f"aberrant_{m}"][i]), bool(j1[f"aberrant_{m}"][i])
        row["content_reason_initial"], row["content_reason_final"] = j0["reason"][i], j1["reason"][i]
        row.update({"foreground_initial": float(j0["foreground"][i]), "foreground_final": float(j1["foreground"][i]),
                    "scale_final": float(j1["scale"][i]), "confidence_final": float(j1["confidence"][i]),
                    "feature_quantile_initial": float(j0["feature_quantile"][i]),
                    "feature_quantile_final": float(j1["feature_quantile"][i]),
                    "nn_dist_initial": float(j0["nn_dist"][i]), "nn_dist_final": float(j1["nn_dist"][i]),
                    "nn_quantile_initial": float(j0["nn_quantile"][i]),
                    "nn_quantile_final": float(j1["nn_quantile"][i]),
                    "logdet_change": float(trace.logdet[-1][i] - trace.logdet[0][i]),
                    "logdet_change_first_order": float(trace.logdet_first_order[-1][i])})
        rows.append(row)
    return rows


def _count(rows: list[dict], key: str) -> str:
    return f"{sum(bool(r[key]) for r in rows)}/{len(rows)}"


def claim_check(rows: list[dict]) -> dict:
    """The paper's three claims on ``ascent_rows`` of one generator x ascent: does the likelihood rise (mean
    gain, nats; in how many trials), does cond(J^T J) grow (geometric-mean ratio; in how many trials), how
    many outputs are aberrant by each measure, initially and finally (``aberrant_final``: by content)."""
    if not rows:
        raise ValueError("rows must not be empty")
    missing = [k for k in ("loglik_initial", "cond_final", *(f"{m}_final" for m in MEASURES)) if k not in rows[0]]
    if missing:
        raise ValueError(f"rows lack {missing}; pass ascent_rows(...)")
    gain = torch.tensor([r["loglik_final"] - r["loglik_initial"] for r in rows], dtype=torch.float64)
    ratio = torch.tensor([r["cond_final"] / r["cond_initial"] for r in rows], dtype=torch.float64)
    out = {"loglik_gain_mean": float(gain.mean()), "loglik_rises_in": f"{int((gain > 0).sum())}/{len(rows)}",
           "cond_ratio_geomean": float(ratio.log().mean().exp()),
           "cond_grows_in": f"{int((ratio > 1).sum())}/{len(rows)}",
           "aberrant_final": _count(rows, "content_final"), "aberrant_initial": _count(rows, "content_initial")}
    for m in MEASURES[1:]:
        out[f"aberrant_{m}_final"] = _count(rows, f"{m}_final")
        out[f"aberrant_{m}_initial"] = _count(rows, f"{m}_initial")
    reasons = Counter(r["content_reason_final"] for r in rows if r["content_reason_final"])
    out["content_reasons_final"] = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none"
    out["nn_quantile_final_mean"] = sum(r["nn_quantile_final"] for r in rows) / len(rows)
    return out


def _frac(kn: str) -> tuple[int, int]:
    k, n = kn.split("/")
    return int(k), int(n)


def _holds(claim: str, c: dict, soar_nats: float) -> bool:
    """One claim on one ``claim_check`` summary: see ``verdict``."""
    if claim == "likelihood soars":
        k, n = _frac(c["loglik_rises_in"])
        return k == n and c["loglik_gain_mean"] >= soar_nats
    if claim == "J^T J ill-conditioned":
        k, n = _frac(c["cond_grows_in"])
        return 2 * k > n and c["cond_ratio_geomean"] > 1
    m = claim.split("(")[1].rstrip(")")
    key = "aberrant" if m == "content" else f"aberrant_{m}"
    (k, n), (k0, _) = _frac(c[f"{key}_final"]), _frac(c[f"{key}_initial"])
    return 2 * k > n and k > k0


def _evidence(claim: str, c: dict) -> str:
    if claim == "likelihood soars":
        return f"{c['loglik_gain_mean']:+.1f} nats, rises in {c['loglik_rises_in']}"
    if claim == "J^T J ill-conditioned":
        return f"cond x{c['cond_ratio_geomean']:.3g}, grows in {c['cond_grows_in']}"
    m = claim.split("(")[1].rstrip(")")
    key = "aberrant" if m == "content" else f"aberrant_{m}"
    return f"{c[f'{key}_initial']} -> {c[f'{key}_final']}"


CLAIMS = ("likelihood soars", "outputs aberrant (content)", "outputs aberrant (features)",
          "outputs aberrant (pixels)", "J^T J ill-conditioned")


def verdict(claims: dict[str, dict], soar_nats: float = 10.0) -> dict[str, dict[str, str]]:
    """Per generator, which of the paper's claims hold, in which ascent, from ``claims`` keyed
    "<generator> / <ascent>" (``claim_check``): {generator: {claim: "holds in ...; fails in ..."}}.

    The likelihood soars where it rises in every trial by ``soar_nats`` or more on average; the outputs
    become aberrant by a measure where more than half the final outputs are, and more than initially;
    J^T J becomes ill-conditioned where cond grows in more than half the trials and on geometric average.
    """
    if not claims:
        raise ValueError("claims must not be empty")
    by_gen: dict[str, dict[str, dict]] = {}
    for key, c in claims.items():
        if " / " not in key:
            raise ValueError(f"claims keys must read '<generator> / <ascent>', got {key!r}")
        gen, ascent = key.split(" / ", 1)
        by_gen.setdefault(gen, {})[ascent] = c
    out = {}
    for gen, ascents in by_gen.items():
        out[gen] = {}
        for claim in CLAIMS:
            parts = {True: [], False: []}
            for ascent, c in ascents.items():
                parts[_holds(claim, c, soar_nats)].append(f"{ascent} ({_evidence(claim, c)})")
            text = [f"holds in {', '.join(parts[True])}"] if parts[True] else []
            text += [f"fails in {', '.join(parts[False])}"] if parts[False] else []
            out[gen][claim] = "; ".join(text)
    return out
