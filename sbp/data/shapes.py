"""A generated image data set with known, independent factors of variation.

One object per image on a uniform background. Factors (all independent, uniform):
position x and y, scale, rotation, object hue, background hue; plus the shape class.
The three shape classes (half disc, isosceles triangle, "L") have no rotational
symmetry, so the rotation factor is an angle with period 2 pi (symmetry order k = 1).
Hues are also stored as angles on the colour circle. Periodic factors should be
compared or predicted as ``(cos k theta, sin k theta)`` (see ``encode_factors``).

Rendering is vectorized over images and pixels: every shape is a signed distance
function and edges are anti-aliased by a one-pixel linear ramp of that distance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["ShapesData", "make_shapes", "render_shapes", "encode_factors", "FACTOR_NAMES",
           "SHAPE_NAMES", "FACTOR_RANGES"]

SHAPE_NAMES = ["half_disc", "triangle", "ell"]
FACTOR_NAMES = ["x", "y", "scale", "rotation", "hue", "bg_hue"]
# Ranges of the uniform draws, image coordinates in [-1, 1]; angles in radians.
# Scale 0.5-0.8 (objects 10-26 pixels across at 32x32): at 0.3-0.5 the quick-profile GANs only
# learned blobs in 2000 steps (notebook 03); an object may now touch or cross the image border.
FACTOR_RANGES = {"x": (-0.4, 0.4), "y": (-0.4, 0.4), "scale": (0.5, 0.8),
                 "rotation": (0.0, 2 * math.pi), "hue": (0.0, 2 * math.pi), "bg_hue": (0.0, 2 * math.pi)}
PERIODIC = {"rotation": 1, "hue": 1, "bg_hue": 1}
_OBJ_SV = (0.85, 0.95)  # saturation, value of the object
_BG_SV = (0.45, 0.35)  # saturation, value of the background: darker and duller than any object


@dataclass
class ShapesData:
    """Images (N, 3, R, R) float32 in [-1, 1], factors (N, F) float32, shape labels (N,) int64.

    ``periodic`` maps a periodic factor's name to its symmetry order k: the factor is an
    angle theta (radians) and the image depends on it through (cos k theta, sin k theta).
    """

    images: Tensor
    factors: Tensor
    shape: Tensor
    factor_names: list[str] = field(default_factory=lambda: list(FACTOR_NAMES))
    periodic: dict[str, int] = field(default_factory=lambda: dict(PERIODIC))
    shape_names: list[str] = field(default_factory=lambda: list(SHAPE_NAMES))

    def __len__(self) -> int:
        return self.images.shape[0]

    def encoded_factors(self) -> Tensor:
        """Factors with every periodic one replaced by (cos k theta, sin k theta); see ``encode_factors``."""
        return encode_factors(self.factors, self.factor_names, self.periodic)


def encode_factors(factors: Tensor, names: list[str], periodic: dict[str, int]) -> Tensor:
    """(N, F) factors -> (N, F + #periodic): non-periodic columns as is, periodic ones as cos, sin.

    Column order: names in order, a periodic name contributing two columns (cos, sin).
    """
    if factors.ndim != 2 or factors.shape[1] != len(names):
        raise ValueError(f"factors must have shape (N, {len(names)}), got {tuple(factors.shape)}")
    cols = []
    for j, name in enumerate(names):
        if name in periodic:
            k = periodic[name]
            cols += [torch.cos(k * factors[:, j]), torch.sin(k * factors[:, j])]
        else:
            cols.append(factors[:, j])
    return torch.stack(cols, dim=1)


def _hsv_to_rgb(h: Tensor, s: float, v: float) -> Tensor:
    """Hue angles h (N,) in radians -> RGB (N, 3) in [0, 1]."""
    h6 = (h / (2 * math.pi)).remainder(1.0)[:, None] * 6.0
    n = torch.tensor([5.0, 3.0, 1.0], dtype=h.dtype, device=h.device)
    k = (n + h6).remainder(6.0)
    return v - v * s * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)


def _sdf_box(px: Tensor, py: Tensor, hx: float | Tensor, hy: float | Tensor) -> Tensor:
    qx, qy = px.abs() - hx, py.abs() - hy
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    return outside + torch.minimum(torch.maximum(qx, qy), torch.zeros_like(qx))


def _sdf_half_disc(px: Tensor, py: Tensor) -> Tensor:
    # disc of radius 1 centred at (0, -0.4), cut by the half plane y >= -0.4
    disc = torch.sqrt(px ** 2 + (py + 0.4) ** 2) - 1.0
    return torch.maximum(disc, -(py + 0.4))


def _sdf_triangle(px: Tensor, py: Tensor) -> Tensor:
    # isosceles triangle, apex (0, 1), base from (-0.6, -0.7) to (0.6, -0.7); intersection of half planes
    # (signed distance exact inside and near edges, which is all the anti-aliasing needs)
    ax, ay = 1.7, 0.6  # edge direction normal components (unnormalized): left/right edges
    nrm = math.hypot(ax, ay)
    right = (ax * px + ay * py - ay * 1.0) / nrm
    left = (-ax * px + ay * py - ay * 1.0) / nrm
    base = -(py + 0.7)
    return torch.maximum(torch.maximum(right, left), base)


def _sdf_ell(px: Tensor, py: Tensor) -> Tensor:
    vertical = _sdf_box(px + 0.4, py, 0.3, 0.9)
    foot = _sdf_box(px - 0.1, py + 0.6, 0.8, 0.3)
    return torch.minimum(vertical, foot)


_SDFS = [_sdf_half_disc, _sdf_triangle, _sdf_ell]


def render_shapes(factors: Tensor, shape: Tensor, resolution: int = 32) -> Tensor:
    """Render images (N, 3, R, R) in [-1, 1] from factors (N, 6) (order ``FACTOR_NAMES``) and labels (N,)."""
    if resolution < 8:
        raise ValueError(f"resolution must be >= 8, got {resolution}")
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"factors must have shape (N, {len(FACTOR_NAMES)}), got {tuple(factors.shape)}")
    if shape.shape != factors.shape[:1]:
        raise ValueError(f"shape labels must have shape ({factors.shape[0]},), got {tuple(shape.shape)}")
    f = factors.to(torch.float32)
    x, y, s, rot, hue, bg = (f[:, j, None, None] for j in range(6))
    # pixel centres in [-1, 1], y pointing up
    c = (torch.arange(resolution, dtype=torch.float32, device=f.device) + 0.5) / resolution * 2 - 1
    gy, gx = -c[:, None], c[None, :]
    dx, dy = gx - x, gy - y
    cos, sin = torch.cos(rot), torch.sin(rot)
    px, py = (cos * dx + sin * dy) / s, (-sin * dx + cos * dy) / s  # rotate by -rot, unscale
    d = torch.zeros(f.shape[0], resolution, resolution, dtype=torch.float32, device=f.device)
    for k, sdf in enumerate(_SDFS):
        m = shape == k
        if m.any():
            d[m] = sdf(px[m], py[m]) * s[m]  # back to image units
    pixel = 2.0 / resolution
    alpha = torch.clamp(0.5 - d / pixel, 0.0, 1.0)[:, None]  # (N, 1, R, R)
    obj = _hsv_to_rgb(hue[:, 0, 0], *_OBJ_SV)[:, :, None, None]
    back = _hsv_to_rgb(bg[:, 0, 0], *_BG_SV)[:, :, None, None]
    img = alpha * obj + (1 - alpha) * back
    return img * 2 - 1


def make_shapes(n: int, resolution: int = 32, seed: int = 0) -> ShapesData:
    """``n`` images with independent uniform factors, deterministic from ``seed``."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if resolution not in (32, 64):
        raise ValueError(f"resolution must be 32 or 64, got {resolution!r}")
    g = torch.Generator().manual_seed(int(seed))
    u = torch.rand(n, len(FACTOR_NAMES), generator=g, dtype=torch.float64)
    lo = torch.tensor([FACTOR_RANGES[k][0] for k in FACTOR_NAMES], dtype=torch.float64)
    hi = torch.tensor([FACTOR_RANGES[k][1] for k in FACTOR_NAMES], dtype=torch.float64)
    factors = (lo + u * (hi - lo)).to(torch.float32)
    shape = torch.randint(len(SHAPE_NAMES), (n,), generator=g)
    return ShapesData(images=render_shapes(factors, shape, resolution), factors=factors, shape=shape)
