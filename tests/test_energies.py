import math

import pytest
import torch

import sbp.experiments.density2d.energies as E


def test_energies_shapes_and_known_values():
    x = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    for name, U in E.ENERGIES.items():
        u = U(x)
        assert u.shape == (3,) and torch.isfinite(u).all(), name
    # U2 at (1, sin(pi/2)) is 0; U1 at (2, 0): ring term 0, mode term -log(1 + e^{-(4/0.6)^2/2})
    assert E.u2(torch.tensor([[1.0, 1.0]], dtype=torch.float64)).item() == pytest.approx(0.0, abs=1e-12)
    expected = -math.log(1 + math.exp(-0.5 * (4 / 0.6) ** 2))
    assert E.u1(x[:1]).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", sorted(E.ENERGIES))
def test_log_normalizer_converges(name):
    assert E.log_normalizer(name, n=500) == pytest.approx(E.log_normalizer(name, n=1000), abs=1e-4)


def test_u1_mass_outside_box_negligible():
    assert E.mass_outside("U1") < 1e-6


@pytest.mark.parametrize("name", sorted(E.ENERGIES))
def test_quadrature_normalizer_matches_sampling(name):
    # Rejection acceptance rate = Z_box / (bound * |box|): compare with quadrature within 4 binomial stderr.
    gen = torch.Generator().manual_seed(0)
    n = 200_000
    x = 8 * torch.rand(n, 2, generator=gen, dtype=torch.float64) - 4
    acc = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 < torch.exp(-E.ENERGIES[name](x))).double()
    p = math.exp(E.log_normalizer(name)) / (2 * 64)
    assert abs(acc.mean().item() - p) < 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("name", E.TARGETS)
def test_target_sampler_matches_density(name):
    # E_p[1{x1 > 0.5}] by samples vs by quadrature of the normalized density; and total mass 1.
    x = E.sample_target(name, 50_000, generator=1)
    assert x.shape == (50_000, 2)
    pts, _, area = E.grid(E.BOX, 800)
    p = torch.exp(E.target_log_density(name, pts)) * area
    assert p.sum().item() == pytest.approx(1.0, abs=1e-4)
    q = p[pts[:, 0] > 0.5].sum().item()
    est = (x[:, 0] > 0.5).double().mean().item()
    assert abs(est - q) < 4 * math.sqrt(q * (1 - q) / x.shape[0])


def test_samplers_are_seeded():
    for name in E.TARGETS:
        assert torch.equal(E.sample_target(name, 100, generator=3), E.sample_target(name, 100, generator=3))
        assert not torch.equal(E.sample_target(name, 100, generator=3), E.sample_target(name, 100, generator=4))


def test_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        E.u1(torch.zeros(3, 3))
    with pytest.raises(TypeError, match="Tensor"):
        E.u2([[0.0, 0.0]])
    with pytest.raises(ValueError, match="unknown energy"):
        E.log_normalizer("U9")
    with pytest.raises(ValueError, match="box"):
        E.log_normalizer("U1", box=(1.0, -1.0))
    with pytest.raises(ValueError, match="unknown target"):
        E.sample_target("moons", 10, generator=0)
    with pytest.raises(ValueError, match="bound"):
        E.sample_energy(lambda x: -torch.ones(x.shape[0], dtype=x.dtype), 10, generator=0, bound=2.0)


def test_split_share_against_exact_samples_and_one_branch_models():
    for name, lower in (("U3", 0.5), ("U4", 0.42)):
        ref = E.split_share(name, E.sample_energy(name, 100_000, generator=0))
        assert ref["lower"] == pytest.approx(lower, abs=0.02), name
        lo, hi = E.SPLIT_WINDOWS[name]
        x1 = torch.linspace(lo, hi, 50, dtype=torch.float64)
        upper = torch.stack([x1, torch.sin(2 * math.pi * x1 / 4)], 1)
        shift = 3 * torch.exp(-0.5 * ((x1 - 1) / 0.6) ** 2) if name == "U3" else 3 * torch.sigmoid((x1 - 1) / 0.3)
        lower_pts = torch.stack([x1, upper[:, 1] - shift], 1)
        far = torch.tensor([[-3.0, 0.0]], dtype=torch.float64)  # outside the window: counts in neither share
        assert E.split_share(name, torch.cat([upper, far])) == {"lower": 0.0, "window": 50 / 51}
        assert E.split_share(name, lower_pts)["lower"] == 1.0
    empty = E.split_share("U3", torch.tensor([[-3.0, 0.0]], dtype=torch.float64))
    assert math.isnan(empty["lower"]) and empty["window"] == 0.0
    with pytest.raises(ValueError, match="split"):
        E.split_share("U2", torch.zeros(3, 2, dtype=torch.float64))
