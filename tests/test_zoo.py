import pytest

from sbp.zoo import checkpoint_path, model_grid


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_grid_has_width_and_latent_sweeps(profile):
    grid = model_grid(profile)
    keys = {"name", "latent_dim", "width", "resolution", "iters", "seed"}
    assert all(keys <= set(s) for s in grid)
    names = [s["name"] for s in grid]
    assert len(set(names)) == len(names)
    assert all(s["name"] == f"w{s['width']}_d{s['latent_dim']}" for s in grid)
    by_d, by_w = {}, {}
    for s in grid:
        by_d.setdefault(s["latent_dim"], set()).add(s["width"])
        by_w.setdefault(s["width"], set()).add(s["latent_dim"])
    assert max(len(v) for v in by_d.values()) >= 3 and max(len(v) for v in by_w.values()) >= 3


def test_unknown_profile_and_name(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        model_grid("fast")
    from sbp.zoo import get_generator

    with pytest.raises(ValueError, match="no model"):
        get_generator("w1_d1", tmp_path)
    with pytest.raises(FileNotFoundError, match="train_if_missing"):
        get_generator(model_grid("quick")[0]["name"], tmp_path, train_if_missing=False)
    assert checkpoint_path("w8_d16", tmp_path).parent.name == "quick_shapes"
