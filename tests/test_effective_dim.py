import math

import pytest
import torch

from latent_models import tiny_conv_generator
from sbp.experiments.latent.effective_dim import (effective_dimension, perturbation_norms, perturbed_outputs, random_unit_directions,
                               relative_change)
from sbp.numerics.eigen import metric_eigh


def test_random_directions_are_unit_and_seeded():
    a = random_unit_directions(3, 5, 7, generator=0, dtype=torch.float64)
    b = random_unit_directions(3, 5, 7, generator=0, dtype=torch.float64)
    assert a.shape == (3, 5, 7)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(3, 7, dtype=torch.float64))
    assert torch.equal(a, b)


def test_delta_of_linear_map_matches_singular_values():
    """For f(z) = A z, Delta_i = sigma_i / E_r ||A r|| with r uniform on the sphere."""
    g = torch.Generator().manual_seed(0)
    d = 6
    A = torch.randn(30, d, generator=g, dtype=torch.float64) * torch.logspace(0, -1, d, dtype=torch.float64)
    f = lambda z: z @ A.T  # noqa: E731
    z = torch.randn(4, d, generator=g, dtype=torch.float64)
    ep = metric_eigh(f, z)
    rc = relative_change(f, z, ep.vectors, eps=0.5, n_random=400, generator=1)
    sigma = torch.linalg.svdvals(A)
    torch.testing.assert_close(rc.change, 0.5 * sigma.expand(4, -1), rtol=1e-10, atol=0)
    # reference E_r ||A r|| from an independent, much larger Monte-Carlo sample
    r = random_unit_directions(1, d, 200_000, generator=2, dtype=torch.float64)[0]
    ref = 0.5 * (A @ r).norm(dim=0).mean()
    z_score = (rc.random_change - ref) / rc.random_stderr
    assert float(z_score.abs().max()) < 4.5
    torch.testing.assert_close(rc.delta, rc.change / rc.random_change[:, None])


def test_effective_dimension_counts_and_stderr():
    delta = torch.tensor([[3.0, 2.0, 0.5], [1.5, 0.9, 0.1]], dtype=torch.float64)
    n, se = effective_dimension(delta, [0.0, 1.0, 2.5, 10.0])
    torch.testing.assert_close(n, torch.tensor([3.0, 1.5, 0.5, 0.0], dtype=torch.float64))
    torch.testing.assert_close(se, torch.tensor([0.0, 0.5, 0.5, 0.0], dtype=torch.float64))


def test_top_eigenvector_moves_output_more_than_random():
    d = 8
    f = tiny_conv_generator(d)
    z = torch.randn(6, d, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ep = metric_eigh(f, z)
    rc = relative_change(f, z, ep.vectors, eps=1e-3, n_random=64, generator=4)
    # for small eps Delta_i ~ sqrt(lambda_i) / E_r ||J r||, hence decreasing along the spectrum
    assert bool((rc.delta[:, 0] > 1).all()) and bool((rc.delta[:, -1] < 1).all())
    ratio = rc.change / (1e-3 * ep.values.sqrt())
    torch.testing.assert_close(ratio, torch.ones_like(ratio), rtol=2e-2, atol=0)


def test_bad_input():
    f = lambda z: torch.cat([z, z], 1)  # noqa: E731
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="directions must have shape"):
        perturbation_norms(f, z, torch.zeros(2, 4, 1), 1.0)
    with pytest.raises(ValueError, match="eps"):
        perturbation_norms(f, z, torch.zeros(2, 3, 1), -1.0)
    with pytest.raises(ValueError, match="delta must have shape"):
        effective_dimension(torch.zeros(3), [1.0])
    with pytest.raises(ValueError, match="n_random"):
        relative_change(f, z, torch.zeros(2, 3, 1), n_random=0)
    assert math.isnan(float(effective_dimension(torch.ones(1, 2), [0.5])[1][0]))


def test_perturbed_outputs_shape_and_values():
    f = lambda z: torch.stack([z, 2 * z], 1)  # noqa: E731  (B, 2, d)
    z = torch.ones(2, 3, dtype=torch.float64)
    u = torch.eye(3, dtype=torch.float64)[None].expand(2, -1, -1)[:, :, :2]
    out = perturbed_outputs(f, z, u, 0.5, chunk=3)
    assert out.shape == (2, 2, 2, 3)
    torch.testing.assert_close(out[1, 1, 1], torch.tensor([2.0, 3.0, 2.0], dtype=torch.float64))
