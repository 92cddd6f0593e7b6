import pytest
import torch

from sbp.experiments.notebook import figures_folder, setup


@pytest.fixture(autouse=True)
def _keep_global_state():
    """setup() seeds torch's global RNG and sets its thread count: give both back to the other tests."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        yield
    torch.set_num_threads(threads)


def test_setup_resolves_folders_by_profile(tmp_path, monkeypatch):
    monkeypatch.delenv("SBP_FIGURES_DIR", raising=False)
    quick = setup("quick", 3, figures_dir=str(tmp_path / "fig"), cache_dir=str(tmp_path / "cache"))
    assert quick.figures == (tmp_path / "fig").resolve() and quick.figures.is_dir() and quick.cache.is_dir()
    paper = setup("paper", 3, figures_dir=str(tmp_path / "fig"), cache_dir=str(tmp_path / "cache"))
    assert paper.figures == (tmp_path / "fig" / "paper").resolve()
    assert figures_folder("f", "paper", default_profile="paper").as_posix() == "f"
    assert quick.data is None and "w16_d16" in quick.specs and "w64_d128" in paper.specs
    ref = setup("reference", figures_dir=str(tmp_path / "fig"), cache_dir=str(tmp_path / "cache"))
    assert "w16_d16_smooth" in ref.specs and "w16_d16_smooth" not in [s["name"] for s in ref.grid]
    assert [s["name"] for s in ref.grid] == [s["name"] for s in quick.grid] == list(quick.specs)


def test_figures_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SBP_FIGURES_DIR", str(tmp_path / "elsewhere"))
    nb = setup("paper", figures_dir=str(tmp_path / "fig"), cache_dir=str(tmp_path / "cache"))
    assert nb.figures == (tmp_path / "elsewhere" / "paper").resolve() and not (tmp_path / "fig").exists()
    # what a notebook compares with (the committed tables, nbval's run included) is never redirected
    assert nb.shipped == (tmp_path / "fig").resolve()


def test_setup_seeds_every_draw(tmp_path):
    kw = dict(figures_dir=str(tmp_path / "f"), cache_dir=str(tmp_path / "c"))
    a = setup("quick", 5, **kw)
    x1, g1 = torch.rand(3), torch.rand(3, generator=a.generator)
    b = setup("quick", 5, **kw)
    assert torch.equal(x1, torch.rand(3)) and torch.equal(g1, torch.rand(3, generator=b.generator))


def test_setup_rejects_bad_input(tmp_path):
    kw = dict(figures_dir=str(tmp_path / "f"), cache_dir=str(tmp_path / "c"))
    with pytest.raises(ValueError, match="profile must be one of"):
        setup("papr", **kw)
    with pytest.raises(ValueError, match=r"\['w99_d1'\] are not in the 'quick' grid"):
        setup("quick", models=["w16_d16", "w99_d1"], **kw)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        setup("quick", data_dir=str(tmp_path / "no_such_folder"), **kw)
    with pytest.raises(TypeError, match="seed"):
        setup("quick", seed="0", **kw)
