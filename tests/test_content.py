"""Content, feature and pixel measures of aberrance (sbp.experiments.latent.content, .aberrance)."""
import math

import pytest
import torch

from sbp.data.shapes import FACTOR_NAMES, FACTOR_RANGES, make_shapes, render_shapes
from sbp.experiments.gan.reference import load_factor_net
from sbp.experiments.latent.aberrance import aberrant_rates, ascent_rows, claim_check, judge, verdict, yardstick
from sbp.experiments.latent.ascent import AscentTrace
from sbp.experiments.latent.content import (content_bounds, content_check, content_readings, fit_feature_gaussian,
                                            foreground_share, mahalanobis)


@pytest.fixture(scope="module")
def net():
    return load_factor_net()


@pytest.fixture(scope="module")
def data():
    return make_shapes(2000, 32, seed=12345)


@pytest.fixture(scope="module")
def ys(net, data):
    """Calibrated on data; the "ordinary samples" are more data (a perfect generator)."""
    return yardstick(net, data, make_shapes(500, 32, seed=777).images)


def rendered(z: torch.Tensor, scale: tuple[float, float] | None = None) -> torch.Tensor:
    """A generator that keeps its object: z (B, 7) -> the factors inside FACTOR_RANGES (scale: ``scale`` if
    given) through the normal CDF, the shape class from z[:, 6]."""
    u = 0.5 * (1 + torch.erf(z[:, :6] / math.sqrt(2)))
    ranges = {**FACTOR_RANGES, **({"scale": scale} if scale else {})}
    lo = torch.tensor([ranges[k][0] for k in FACTOR_NAMES])
    hi = torch.tensor([ranges[k][1] for k in FACTOR_NAMES])
    shape = torch.bucketize(z[:, 6].contiguous(), torch.tensor([-0.43, 0.43]))
    return render_shapes(lo + u * (hi - lo), shape, 32)


def empty_backgrounds(n: int) -> torch.Tensor:
    """Data-like images with the object removed (moved far outside the image)."""
    f = make_shapes(n, 32, seed=5).factors.clone()
    f[:, FACTOR_NAMES.index("x")] = 10.0
    return render_shapes(f, torch.zeros(n, dtype=torch.long), 32)


def test_foreground_share_counts_pixels_off_the_background():
    img = torch.full((2, 3, 8, 8), -0.5)
    img[1, :, :2, :3] = 0.9  # 6 of 64 pixels
    img[1, 0, 7, 7] = -0.3  # within the tolerance: background
    torch.testing.assert_close(foreground_share(img), torch.tensor([0.0, 6 / 64]))
    assert float(foreground_share(empty_backgrounds(3)).max()) == 0.0
    with pytest.raises(ValueError, match="shape"):
        foreground_share(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="tol"):
        foreground_share(img, tol=0.0)


def test_bounds_widen_the_data_factor_ranges_by_the_reading_error(net, data):
    b = content_bounds(net, data)
    lo, hi = b.factors["scale"]
    assert lo < FACTOR_RANGES["scale"][0] and hi > FACTOR_RANGES["scale"][1]
    assert FACTOR_RANGES["scale"][0] - lo < 0.1 and hi - FACTOR_RANGES["scale"][1] < 0.1
    assert 0.05 < b.foreground[0] < 0.1 and 0.25 < b.foreground[1] < 0.4  # the data's objects: 7-30 % of pixels
    assert 0.5 < b.confidence < 1
    with pytest.raises(TypeError, match="ShapesData"):
        content_bounds(net, data.images)


def test_empty_background_and_dot_are_aberrant_by_content(ys):
    j = judge(empty_backgrounds(8), ys)
    assert bool(j["aberrant_content"].all()) and set(j["reason"]) == {"no object"}
    dots = rendered(torch.randn(8, 7, generator=torch.Generator().manual_seed(1)), scale=(0.12, 0.2))
    j = judge(dots, ys)
    assert bool(j["aberrant_content"].all()) and set(j["reason"]) == {"object too small"}
    # the empty backgrounds are far in features too, but not in pixels: the blind spot of pixel distance
    j = judge(empty_backgrounds(8), ys)
    assert bool(j["aberrant_features"].all())
    assert float(j["aberrant_pixels"].float().mean()) < 0.5


def test_at_most_one_percent_of_data_images_are_aberrant_by_content(ys):
    rates = aberrant_rates(make_shapes(1000, 32, seed=4242).images, ys)
    assert rates["content"] <= 0.01
    assert set(rates) == {"content", "features", "pixels", "content_reasons"}


def test_rate_among_ordinary_samples_is_reported(net, data, ys):
    assert ys.ordinary_content_rate <= 0.01  # ordinary samples of a perfect generator
    half = torch.cat([empty_backgrounds(100), make_shapes(100, 32, seed=9).images])
    assert yardstick(net, data, half).ordinary_content_rate == pytest.approx(0.5, abs=0.02)


def _trace(images: list[torch.Tensor]) -> AscentTrace:
    B = images[0].shape[0]
    tr = AscentTrace()
    for k, im in enumerate(images):
        tr.steps.append(k)
        tr.loglik.append(torch.full((B,), -40.0 + 30 * k))
        tr.condition.append(torch.full((B,), 100.0 * 10 ** k))
        tr.logdet.append(torch.zeros(B))
        tr.logdet_first_order.append(torch.zeros(B))
        tr.latents.append(torch.ones(B, 7))
        tr.images.append(im)
    return tr


def test_a_generator_that_keeps_its_object_is_not_flagged(ys):
    g = torch.Generator().manual_seed(3)
    keeps = _trace([rendered(torch.randn(16, 7, generator=g)), rendered(torch.randn(16, 7, generator=g))])
    rows = ascent_rows(keeps, ys, generator="keeps", ascent="a")
    assert [r["trial"] for r in rows[:3]] == ["a", "b", "c"] and rows[0]["generator"] == "keeps"
    c = claim_check(rows)
    assert c["aberrant_final"] in ("0/16", "1/16") and c["loglik_rises_in"] == "16/16"
    loses = _trace([rendered(torch.randn(16, 7, generator=g)), empty_backgrounds(16)])
    c2 = claim_check(ascent_rows(loses, ys, generator="loses", ascent="a"))
    assert c2["aberrant_final"] == "16/16" and c2["content_reasons_final"] == "no object 16"
    v = verdict({"keeps / a": c, "loses / a": c2})
    assert v["keeps"]["outputs aberrant (content)"].startswith("fails in a (")
    assert v["loses"]["outputs aberrant (content)"].startswith("holds in a (0/16 -> 16/16")
    assert v["loses"]["outputs aberrant (pixels)"].startswith("fails")  # blank backgrounds are near in pixels
    assert v["keeps"]["likelihood soars"].startswith("holds") and v["keeps"]["J^T J ill-conditioned"].startswith("holds")


def test_verdict_rules_and_bad_input():
    base = {"loglik_gain_mean": 5.0, "loglik_rises_in": "8/8", "cond_ratio_geomean": 3.0, "cond_grows_in": "4/8",
            "aberrant_final": "5/8", "aberrant_initial": "5/8", "aberrant_features_final": "8/8",
            "aberrant_features_initial": "0/8", "aberrant_pixels_final": "0/8", "aberrant_pixels_initial": "0/8"}
    v = verdict({"g / a": base, "g / b": {**base, "loglik_gain_mean": 20.0, "cond_grows_in": "5/8"}})["g"]
    assert v["likelihood soars"] == "holds in b (+20.0 nats, rises in 8/8); fails in a (+5.0 nats, rises in 8/8)"
    assert v["outputs aberrant (content)"].startswith("fails in a (5/8 -> 5/8), b")  # no more than initially
    assert v["outputs aberrant (features)"].startswith("holds in a (0/8 -> 8/8), b")
    assert v["J^T J ill-conditioned"].startswith("holds in b") and "fails in a" in v["J^T J ill-conditioned"]
    with pytest.raises(ValueError, match="generator"):
        verdict({"no slash": base})
    with pytest.raises(ValueError, match="empty"):
        verdict({})
    with pytest.raises(ValueError, match="lack"):
        claim_check([{"loglik_initial": 1.0}])


def test_mahalanobis_against_the_known_gaussian():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(4, 4, generator=g, dtype=torch.float64)
    mu = torch.randn(4, generator=g, dtype=torch.float64)
    feats = torch.randn(200_000, 4, generator=g, dtype=torch.float64) @ A.T + mu
    fit = fit_feature_gaussian(feats, shrinkage=1e-9)
    x = mu + torch.randn(5, 4, generator=g, dtype=torch.float64)
    exact = ((x - mu) @ torch.linalg.inv(A @ A.T) * (x - mu)).sum(1).sqrt()
    torch.testing.assert_close(mahalanobis(fit, x), exact, rtol=0.02, atol=0.01)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        mahalanobis(fit, x[:, :3])
    with pytest.raises(ValueError, match="N >= 2"):
        fit_feature_gaussian(x[:1])


def test_content_check_reports_each_reason(net, data):
    b = content_bounds(net, data)
    r = {k: v[:6].clone() for k, v in content_readings(net, data.images[:6]).items()}
    assert not bool(content_check(r, b)[0].any())
    r["foreground"][0], r["foreground"][1], r["foreground"][2] = 0.0, 0.01, 0.9
    r["scale"][3], r["x"][4], r["confidence"][5] = 0.2, 0.9, 0.4
    flags, reasons = content_check(r, b)
    assert bool(flags.all())
    assert reasons == ["no object", "object too small", "object too large", "scale out of range",
                       "position out of range", "shape unclear"]
    with pytest.raises(ValueError, match="lack"):
        content_check({"foreground": r["foreground"]}, b)
