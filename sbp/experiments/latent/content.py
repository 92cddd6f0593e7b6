"""What an image shows, against what the data shows (Section 4, Figure 4's "aberrant").

Every image of the shapes data (``sbp.data.shapes``) holds one object of scale 0.5-0.8 on a
uniform background. Three content readings say whether an output does too:

- **object presence and size**: ``foreground_share``, the share of pixels that differ from the
  image's background colour (its per-channel median), against the data's range;
- **factor readings**: the factor network's position and scale (``predict_factors``), against
  ``FACTOR_RANGES`` widened by the network's own reading error on data, and its shape-class
  confidence (top softmax probability), against that of real images;
- **features**: the Mahalanobis distance of the factor network's features (``factor_features``)
  to a Gaussian fitted to data features (Lee et al. 2018), an out-of-distribution score.

``content_bounds`` calibrates the first two on data with known factors; ``content_check`` says,
per image, which bound it breaks (the data never shows such an image).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sbp.data.shapes import FACTOR_NAMES, FACTOR_RANGES, ShapesData
from sbp.experiments.gan.factors import FactorNet, factor_features, predict_factors

__all__ = ["FOREGROUND_TOL", "READ_FACTORS", "REASONS", "foreground_share", "content_readings", "ContentBounds",
           "content_bounds", "content_check", "FeatureGaussian", "fit_feature_gaussian", "mahalanobis",
           "feature_distance"]

FOREGROUND_TOL = 0.3  # a pixel is foreground when a channel differs from the background by more ([-1, 1] units)
READ_FACTORS = ("x", "y", "scale")  # the factors whose readings are checked against FACTOR_RANGES
# Why an image is aberrant by content, in the order they are checked: the first that applies is reported.
REASONS = ("no object", "object too small", "object too large", "scale out of range", "position out of range",
           "shape unclear")


def _check_images(images: Tensor, name: str = "images") -> Tensor:
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3 or images.shape[0] < 1:
        raise ValueError(f"{name} must be a tensor of shape (N >= 1, 3, R, R), got "
                         f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} must be finite")
    return images


def foreground_share(images: Tensor, tol: float = FOREGROUND_TOL) -> Tensor:
    """Share (N,) of pixels of ``images`` (N, 3, R, R) in [-1, 1] whose colour differs from the image's
    background colour by more than ``tol`` in some channel.

    The background colour is the per-channel median over the image's pixels: the object covers at most
    about 30 % of a data image, so the median is the background. 0 for an empty background; the data's
    images range from about 0.07 to 0.30 (at ``tol`` 0.3, 32 x 32).
    """
    x = _check_images(images).float()
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    background = x.flatten(2).median(2).values[:, :, None, None]
    return ((x - background).abs().amax(1) > tol).float().flatten(1).mean(1)


def content_readings(net: FactorNet, images: Tensor, tol: float = FOREGROUND_TOL,
                     batch_size: int = 512) -> dict[str, Tensor]:
    """What ``images`` (N, 3, R, R) show: ``foreground`` (``foreground_share``), the factor network's
    ``x``, ``y`` and ``scale`` readings and its shape-class ``confidence`` (top softmax probability); each (N,)."""
    _check_images(images)
    idx = [FACTOR_NAMES.index(n) for n in READ_FACTORS]
    parts: list[dict[str, Tensor]] = []
    with torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            p = predict_factors(net, images[i:i + batch_size].float())
            parts.append({"factors": p["factors"][:, idx], "confidence": p["shape_logits"].softmax(-1).amax(1)})
    factors = torch.cat([p["factors"] for p in parts])
    out = {"foreground": foreground_share(images, tol)}
    out.update({n: factors[:, j] for j, n in enumerate(READ_FACTORS)})
    out["confidence"] = torch.cat([p["confidence"] for p in parts])
    return out


@dataclass(frozen=True)
class ContentBounds:
    """What the data shows: foreground share in ``foreground`` (lo, hi), factor readings within
    ``factors[name]`` (lo, hi), shape-class confidence at least ``confidence``; ``tol`` of ``foreground_share``."""

    foreground: tuple[float, float]
    factors: dict[str, tuple[float, float]]
    confidence: float
    tol: float = FOREGROUND_TOL
    quantile: float = 0.001


def content_bounds(net: FactorNet, data: ShapesData, quantile: float = 0.001,
                   tol: float = FOREGROUND_TOL) -> ContentBounds:
    """Calibrate ``ContentBounds`` on ``data`` (``make_shapes``, known factors): the foreground share
    between its ``quantile`` and 1 - ``quantile`` quantiles; each factor of ``READ_FACTORS`` within
    ``FACTOR_RANGES`` widened on both sides by the 1 - ``quantile`` quantile of the network's reading
    error |reading - truth| on ``data``; the confidence at least its ``quantile`` quantile on ``data``."""
    if not isinstance(data, ShapesData):
        raise TypeError(f"data must be a ShapesData (make_shapes), got {type(data).__name__}")
    if not 0 <= quantile < 0.5:
        raise ValueError(f"quantile must be in [0, 0.5), got {quantile}")
    r = content_readings(net, data.images, tol)
    lo_q, hi_q = quantile, 1 - quantile
    factors = {}
    for n in READ_FACTORS:
        err = float((r[n] - data.factors[:, FACTOR_NAMES.index(n)]).abs().quantile(hi_q))
        factors[n] = (FACTOR_RANGES[n][0] - err, FACTOR_RANGES[n][1] + err)
    fg = r["foreground"]
    return ContentBounds(foreground=(float(fg.quantile(lo_q)), float(fg.quantile(hi_q))), factors=factors,
                         confidence=float(r["confidence"].quantile(lo_q)), tol=tol, quantile=quantile)


def content_check(readings: dict[str, Tensor], bounds: ContentBounds) -> tuple[Tensor, list[str]]:
    """Per image of ``readings`` (``content_readings``): aberrant by content (N,) bool, and the reason
    (the first of ``REASONS`` that applies; "" when none does)."""
    missing = [k for k in ("foreground", *READ_FACTORS, "confidence") if k not in readings]
    if missing:
        raise ValueError(f"readings lack {missing}; pass content_readings(net, images)")
    fg = readings["foreground"]
    (s_lo, s_hi), x, y = bounds.factors["scale"], bounds.factors["x"], bounds.factors["y"]
    tests = [fg == 0, fg < bounds.foreground[0], fg > bounds.foreground[1],
             (readings["scale"] < s_lo) | (readings["scale"] > s_hi),
             (readings["x"] < x[0]) | (readings["x"] > x[1]) | (readings["y"] < y[0]) | (readings["y"] > y[1]),
             readings["confidence"] < bounds.confidence]
    flags = torch.stack(tests, 1)
    reasons = [next((REASONS[j] for j in range(len(REASONS)) if row[j]), "") for row in flags.tolist()]
    return flags.any(1), reasons


@dataclass(frozen=True)
class FeatureGaussian:
    """A Gaussian fitted to features (``fit_feature_gaussian``): mean (k,) and precision (k, k), float64."""

    mean: Tensor
    precision: Tensor


def fit_feature_gaussian(features: Tensor, shrinkage: float = 1e-3) -> FeatureGaussian:
    """Mean and precision of ``features`` (N, k), the covariance shrunk towards ``shrinkage`` x its mean
    variance on the diagonal (dead or constant features would make it singular)."""
    if not isinstance(features, Tensor) or features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be a (N >= 2, k) tensor, got "
                         f"{tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__}")
    if not shrinkage > 0:
        raise ValueError(f"shrinkage must be > 0, got {shrinkage}")
    f = features.detach().double()
    cov = torch.cov(f.T).reshape(f.shape[1], f.shape[1])
    ridge = shrinkage * float(cov.diagonal().mean().clamp_min(1e-12))
    cov = cov + ridge * torch.eye(f.shape[1], dtype=torch.float64)
    return FeatureGaussian(mean=f.mean(0), precision=torch.linalg.inv(cov))


def mahalanobis(gaussian: FeatureGaussian, features: Tensor) -> Tensor:
    """Mahalanobis distance (N,) of ``features`` (N, k) to ``gaussian``, float64."""
    if not isinstance(features, Tensor) or features.dim() != 2 or features.shape[1] != gaussian.mean.shape[0]:
        raise ValueError(f"features must be (N, {gaussian.mean.shape[0]}), got "
                         f"{tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__}")
    d = features.detach().double() - gaussian.mean
    return ((d @ gaussian.precision) * d).sum(1).clamp_min(0).sqrt()


def feature_distance(net: FactorNet, gaussian: FeatureGaussian, images: Tensor) -> Tensor:
    """``mahalanobis`` of the factor network's features (``factor_features``) of ``images``."""
    return mahalanobis(gaussian, factor_features(net, _check_images(images).float()))
