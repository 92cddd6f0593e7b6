"""The quality curve beside each shipped model: what it measures and how it is kept."""
import math

import pytest
import torch

from sbp.experiments.gan import curve, reference, zoo


def test_append_replaces_the_row_of_an_iteration_and_keeps_order(tmp_path):
    path = tmp_path / "m_curve.csv"
    assert curve.read_curve(path) == []
    curve.append_curve(path, {"iteration": 4, "wall_time_s": 2.0, "frechet": 9.0, "confident_share": 0.5})
    curve.append_curve(path, {"iteration": 2, "wall_time_s": 1.0, "frechet": 12.0, "confident_share": 0.25})
    rows = curve.append_curve(path, {"iteration": 4, "wall_time_s": 2.5, "frechet": 8.0, "confident_share": 0.75})
    assert [r["iteration"] for r in rows] == [2, 4] and rows[1]["frechet"] == 8.0
    assert curve.read_curve(path) == rows
    assert curve.curve_path(tmp_path / "w8_d16.pt").name == "w8_d16_curve.csv"


def test_quality_is_the_manifests_frechet_distance():
    torch.set_num_threads(1)
    net = reference.load_factor_net()
    q = curve.quality(reference.load_generator("w8_d16"), net, curve.real_features(net))
    assert abs(q["frechet"] - reference.manifest("w8_d16")["frechet"]) < 2e-3
    assert 0 <= q["confident_share"] <= 1


def test_frechet_spread_is_the_distance_over_sample_seeds():
    torch.set_num_threads(1)
    net = reference.load_factor_net()
    G, real = reference.load_generator("w8_d16"), curve.real_features(net)
    s = curve.frechet_spread(G, net, real, seeds=[0, 1, 2])
    fds = [curve.quality(G, net, real, seed=k)["frechet"] for k in (0, 1, 2)]
    assert s["seeds"] == 3 and abs(s["frechet_mean"] - sum(fds) / 3) < 1e-9
    assert abs(fds[0] - reference.manifest("w8_d16")["frechet"]) < 2e-3  # seed 0 is the manifest's number
    assert s["frechet_sd"] > 0
    with pytest.raises(ValueError, match="at least two"):
        curve.frechet_spread(G, net, real, seeds=[0])


def test_noise_row_puts_the_curves_number_beside_its_spreads():
    torch.set_num_threads(1)
    net = reference.load_factor_net()
    G, real = reference.load_generator("w8_d16"), curve.real_features(net)
    rows = [{"iteration": 2 * k, "wall_time_s": k, "frechet": f, "confident_share": 0.5}
            for k, f in enumerate([30.0, 20.0, 14.0, 18.0, 15.0, 16.0], 1)]
    r = curve.noise_row(G, net, real, rows, seeds=[0, 1])
    assert r["frechet_seed0"] == 16.0 and (r["last5_min"], r["last5_max"]) == (14.0, 20.0)
    assert r == {"frechet_seed0": 16.0, **curve.frechet_spread(G, net, real, [0, 1]), "last5_min": 14.0, "last5_max": 20.0}
    with pytest.raises(ValueError, match="at least 5 checkpoints"):
        curve.noise_row(G, net, real, rows[:4])


def test_confident_share_counts_images_above_the_threshold():
    from sbp.experiments.gan.factors import shape_report

    net = reference.load_factor_net()
    G = reference.load_generator("w8_d16")
    with torch.no_grad():
        images = G(torch.randn(300, 16, generator=torch.Generator().manual_seed(1)))
        top = net(images)[1].softmax(-1).max(1).values
    for t in (0.5, 0.9, 0.99):
        assert shape_report(net, images, threshold=t)["confident_share"] == (top > t).double().mean().item()
    shares = [shape_report(net, images, threshold=t)["confident_share"] for t in (0.5, 0.9, 0.99)]
    assert shares[0] >= shares[1] >= shares[2] and shares[0] > shares[2]  # the 8k model has unsure samples


def test_doubling_rows_doubles_while_the_distance_falls_by_more_than_5_percent():
    rows = curve.doubling_rows({48_000: 12.71, 24_000: 14.88, 96_000: 12.4})
    assert [r["iters"] for r in rows] == [24_000, 48_000, 96_000]
    assert math.isnan(rows[0]["fall"]) and rows[0]["double_again"]
    assert rows[1]["fall"] == pytest.approx((14.88 - 12.71) / 14.88) and rows[1]["double_again"]
    assert rows[2]["fall"] == pytest.approx((12.71 - 12.4) / 12.71) and not rows[2]["double_again"]
    assert not curve.doubling_rows({24_000: 10.0, 48_000: 10.5})[1]["double_again"]  # a rise stops it too
    with pytest.raises(ValueError, match="must double"):
        curve.doubling_rows({24_000: 1.0, 60_000: 1.0})
    with pytest.raises(ValueError, match="finite and positive"):
        curve.doubling_rows({24_000: float("nan")})


def test_doubling_rows_carries_the_standard_error_of_the_fall_and_says_when_it_decides():
    finals, errors = {24_000: 20.0, 48_000: 15.0, 96_000: 14.5}, {24_000: 1.0, 48_000: 1.5, 96_000: 0.1}
    rows = curve.doubling_rows(finals, errors=errors)
    assert math.isnan(rows[0]["fall_se"]) and rows[0]["resolved"]
    # fall = 1 - 15 / 20 = 0.25; relative errors 0.1 and 0.05 in quadrature, times 15 / 20
    assert rows[1]["fall_se"] == pytest.approx(0.75 * math.hypot(0.1, 0.05))
    assert rows[1]["double_again"] and rows[1]["resolved"]  # 0.25 - 0.05 > 2 * 0.084
    wide = curve.doubling_rows(finals, errors={**errors, 24_000: 2.0})[1]  # relative 0.1 and 0.1: 2 * 0.106 > 0.20
    assert wide["double_again"] and not wide["resolved"]
    assert rows[2]["fall_se"] == pytest.approx(14.5 / 15 * math.hypot(0.1 / 14.5, 0.1))
    assert not rows[2]["double_again"] and not rows[2]["resolved"]  # 0.033 is 0.017 from 0.05, within 2 * 0.097
    assert all(r["resolved"] for r in curve.doubling_rows(finals))  # no errors given: noise-free numbers
    with pytest.raises(ValueError, match="every length"):
        curve.doubling_rows(finals, errors={24_000: 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        curve.doubling_rows({24_000: 1.0}, errors={24_000: -1.0})


def test_run_to_run_sd_pools_the_relative_spread_of_pairs_of_runs():
    assert curve.run_to_run_sd([(10.0, 10.0), (5.0, 5.0)]) == 0.0
    # one pair: s ~ |a - b| / sqrt 2 = sqrt 2, m ~ 11, relative sqrt 2 / 11
    assert curve.run_to_run_sd([(12.0, 10.0)]) == pytest.approx(math.sqrt(2) / 11)
    assert curve.run_to_run_sd([(12.0, 10.0), (10.0, 10.0)]) == pytest.approx(math.sqrt(2) / 11 / math.sqrt(2))
    for bad in ([], [(1.0, 0.0)], [(1.0, float("nan"))], [(1.0,)]):
        with pytest.raises(ValueError, match="pairs of finite, positive"):
            curve.run_to_run_sd(bad)


def test_schedule_finals_reads_one_run_per_schedule_length_from_the_zoos():
    torch.set_num_threads(1)
    net = reference.load_factor_net()
    real = curve.real_features(net)
    zoos = [reference.REFERENCE_DIR.parent / "reference_24k", reference.REFERENCE_DIR]
    finals = curve.schedule_finals("w8_d16", zoos, net, real, seeds=[0, 1])
    assert sorted(finals) == [24_000, 48_000]
    G24 = reference.load_generator("w8_d16", folder=zoos[0])
    assert finals[24_000] == curve.frechet_spread(G24, net, real, [0, 1])["frechet_mean"]
    assert curve.schedule_finals("w8_d16", [zoos[0] / "absent"], net, real) == {}
    assert curve.schedule_finals("w8_d16", [zoos[0], zoos[0]], net, real, seeds=[0, 1]) == {24_000: finals[24_000]}
    with pytest.raises(ValueError, match="two runs of 'w8_d16' on 48000 steps"):  # the retrain beside the shipped
        curve.schedule_finals("w8_d16", [zoos[1], zoos[1].parent / "reference_rerun"], net, real, seeds=[0, 1])
    spec = zoo.model_spec("w8_d16", "reference")  # a recipe: only its runs count
    assert curve.schedule_finals("w8_d16", zoos, net, real, seeds=[0, 1], recipe=spec) == finals
    assert curve.schedule_finals("w8_d16", zoos, net, real, seeds=[0, 1], recipe={**spec, "lr": 5e-4}) == {}
