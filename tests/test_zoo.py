import pytest

from sbp.experiments.gan.zoo import checkpoint_path, grid_axes, model_grid


@pytest.mark.parametrize("profile", ["quick", "reference", "paper"])
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


def test_reference_is_the_quick_grid_trained_longer_plus_the_smooth_generator():
    from sbp.experiments.gan.zoo import model_spec, model_specs

    quick, ref = model_grid("quick"), model_grid("reference")
    assert [s["name"] for s in quick] == [s["name"] for s in ref]
    assert all(r["iters"] > q["iters"] and r["r1"] > 0 and r["lr_final"] < r["lr"] for q, r in zip(quick, ref))
    extra = [s for s in model_specs("reference") if s["name"] not in {r["name"] for r in ref}]
    assert [s["name"] for s in extra] == ["w16_d16_smooth"] and extra[0]["activation"] == "smooth"
    assert model_spec("w16_d16_smooth", "reference") == extra[0]
    assert model_specs("quick") == quick  # the quick profile has no extras
    with pytest.raises(ValueError, match="no model 'w16_d16_smooth' in the 'quick' grid"):
        model_spec("w16_d16_smooth", "quick")


def test_unknown_profile_and_name(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        model_grid("fast")
    from sbp.experiments.gan.zoo import get_generator

    with pytest.raises(ValueError, match="no model"):
        get_generator("w1_d1", tmp_path)
    with pytest.raises(FileNotFoundError, match="train_if_missing"):
        get_generator(model_grid("quick")[0]["name"], tmp_path, train_if_missing=False)
    assert checkpoint_path("w8_d16", tmp_path).parent.name == "quick_shapes"


def test_get_generator_trains_once_then_loads_and_retrains_stale(tmp_path, monkeypatch):
    import torch

    import sbp.experiments.gan.zoo as zoo

    grid = [{"name": "w2_d3", "latent_dim": 3, "width": 2, "resolution": 32, "iters": 2, "seed": 0, "lr": 1e-3,
             "decay": 0.9, "batch_size": 4, "ckpt_every": 1}]
    monkeypatch.setattr(zoo, "model_grid", lambda profile="quick": [dict(s) for s in grid])
    calls = []
    real_train = zoo.train_gan
    monkeypatch.setattr(zoo, "train_gan", lambda *a, **k: calls.append(1) or real_train(*a, progress_bar=False, **k))
    G1 = zoo.get_generator("w2_d3", tmp_path, device="cpu")
    G2 = zoo.get_generator("w2_d3", tmp_path, device="cpu")
    assert len(calls) == 1 and not G1.training and not any(p.requires_grad for p in G1.parameters())
    z = torch.randn(2, 3)
    assert torch.equal(G1(z), G2(z))
    grid[0]["lr"] = 2e-3  # the grid changed: the cached model is stale
    with pytest.raises(ValueError, match="another spec"):
        zoo.get_generator("w2_d3", tmp_path, train_if_missing=False)
    with pytest.warns(RuntimeWarning, match="outdated"):
        zoo.get_generator("w2_d3", tmp_path, device="cpu")
    assert len(calls) == 2


@pytest.mark.parametrize("profile", ["quick", "reference", "paper"])
def test_grid_axes_are_the_grid_sweeps(profile):
    axes = grid_axes(profile)
    grid = model_grid(profile)
    at_fixed_d = [s["width"] for s in grid if s["latent_dim"] == axes.fixed_d]
    at_fixed_w = [s["latent_dim"] for s in grid if s["width"] == axes.fixed_w]
    assert sorted(at_fixed_d) == sorted(axes.widths) and sorted(at_fixed_w) == sorted(axes.latents)
    assert len(axes.widths) >= 3 and len(axes.latents) >= 3
    # the most common latent size and width of the grid, the vote notebook 06 used to take
    vote = lambda key: max({s[key] for s in grid}, key=lambda v: sum(s[key] == v for s in grid))  # noqa: E731
    assert (axes.fixed_d, axes.fixed_w) == (vote("latent_dim"), vote("width"))
    with pytest.raises(ValueError, match="profile"):
        grid_axes("fast")
