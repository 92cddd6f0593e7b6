"""The quality curve beside each shipped model: what it measures and how it is kept."""
import torch

from sbp.experiments.gan import curve, reference


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
