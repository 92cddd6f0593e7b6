import math

import pytest
import torch

from sbp.data.shapes import FACTOR_NAMES, FACTOR_RANGES, encode_factors, make_shapes, render_shapes


@pytest.mark.parametrize("res", [32, 64])
def test_shapes_dtypes_ranges(res):
    d = make_shapes(64, res, seed=3)
    assert d.images.shape == (64, 3, res, res) and d.images.dtype == torch.float32
    assert d.images.min() >= -1 and d.images.max() <= 1
    assert d.factors.shape == (64, len(d.factor_names)) and d.factors.dtype == torch.float32
    assert d.factor_names == FACTOR_NAMES
    assert set(["x", "y", "scale", "rotation", "hue", "bg_hue"]) <= set(d.factor_names)
    assert set(d.periodic) == {"rotation", "hue", "bg_hue"}
    assert d.shape.shape == (64,) and int(d.shape.max()) < len(d.shape_names) and len(d.shape_names) >= 3
    for j, n in enumerate(d.factor_names):
        lo, hi = FACTOR_RANGES[n]
        assert lo <= d.factors[:, j].min() and d.factors[:, j].max() <= hi


def test_deterministic_and_seed_dependent():
    a, b, c = make_shapes(16, seed=1), make_shapes(16, seed=1), make_shapes(16, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    assert not torch.equal(a.images, c.images)


def test_every_class_drawn_and_factors_uncorrelated():
    d = make_shapes(4000, seed=0)
    counts = torch.bincount(d.shape, minlength=3)
    # multinomial counts: each class 4000/3 +- 4 sd (sd ~ 30)
    assert ((counts - 4000 / 3).abs() < 4 * math.sqrt(4000 * (1 / 3) * (2 / 3))).all()
    corr = torch.corrcoef(d.factors.T.double())
    off = corr - torch.eye(len(d.factor_names), dtype=torch.float64)
    assert off.abs().max() < 5 / math.sqrt(4000)  # sd of a sample correlation of independent draws ~ 1/sqrt(n)


def test_object_and_background_colours():
    d = make_shapes(8, seed=5)
    # the centre pixel of an object at the centre carries the object colour, a corner the background colour
    f = d.factors.clone()
    f[:, 0] = 0
    f[:, 1] = 0
    img = render_shapes(f, d.shape, 32)
    corner = img[:, :, 0, 0]
    assert torch.allclose(img[:, :, 0, 0], img[:, :, -1, -1])
    # object value 0.95 vs background value 0.35: the brightest pixel is the object's
    assert (img.amax((1, 2, 3)) - corner.max(1).values > 0.8).all()


def test_antialiased_edges():
    d = make_shapes(32, seed=0)
    # pixels strictly between object and background colour exist (soft edges) but are a minority
    lum = d.images.mean(1)
    lo, hi = lum.amin((1, 2), keepdim=True), lum.amax((1, 2), keepdim=True)
    t = (lum - lo) / (hi - lo)
    mid = ((t > 0.05) & (t < 0.95)).float().mean()
    assert 0.0 < mid < 0.2


def test_rotation_moves_pixels_and_period_2pi():
    d = make_shapes(4, seed=0)
    f = d.factors.clone()
    f2 = f.clone()
    f2[:, 3] += 2 * math.pi
    assert torch.allclose(render_shapes(f, d.shape), render_shapes(f2, d.shape), atol=1e-4)
    f3 = f.clone()
    f3[:, 3] += math.pi / 2  # no shape class is invariant under a quarter turn
    assert (render_shapes(f, d.shape) - render_shapes(f3, d.shape)).abs().amax((1, 2, 3)).min() > 0.5


def test_encode_factors():
    d = make_shapes(10, seed=0)
    e = d.encoded_factors()
    assert e.shape == (10, 9)
    assert torch.allclose(e[:, 3], torch.cos(d.factors[:, 3]))
    assert torch.allclose(e[:, 4], torch.sin(d.factors[:, 3]))
    with pytest.raises(ValueError, match="factors must have shape"):
        encode_factors(d.factors[:, :3], d.factor_names, d.periodic)


def test_bad_input():
    with pytest.raises(ValueError, match="resolution"):
        make_shapes(4, 48)
    with pytest.raises(ValueError, match="n must be"):
        make_shapes(0)
