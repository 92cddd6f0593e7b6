import math

import pytest
import torch

from sbp.experiments.latent.disentangle import (compare_directions, coverage, direction_scores, factor_changes, factor_profile, factor_spread,
                             group_rms, random_orthonormal)
from sbp.numerics.eigen import metric_eigh
from sbp.models.factor_toy import random_rotation, stripe_generator, stripe_predictor

F = 6


def _run(mixing, seed=0, B=48):
    f = stripe_generator(mixing)
    P = stripe_predictor(F)
    z = 0.7 * torch.randn(B, F, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    ep = metric_eigh(f, z)
    return compare_directions(P, f, z, ep.vectors, eps=0.05, generator=seed + 1)


def test_direction_scores_of_pure_and_even_changes():
    c = torch.tensor([[[0.0, 2.0, 0.0], [1.0, 1.0, 1.0]]], dtype=torch.float64)
    s = direction_scores(c)
    torch.testing.assert_close(s.share, torch.tensor([[1.0, 1 / 3]], dtype=torch.float64))
    torch.testing.assert_close(s.purity, torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    assert s.top_factor[0, 0] == 1
    assert coverage(torch.tensor([[0, 2, 2], [1, 1, 1]]), 3).tolist() == [2.0, 1.0]
    torch.testing.assert_close(factor_profile(c)[0], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))


def test_random_orthonormal_is_orthonormal():
    Q = random_orthonormal(4, 7, 5, generator=0, dtype=torch.float64)
    torch.testing.assert_close(Q.mT @ Q, torch.eye(5, dtype=torch.float64).expand(4, -1, -1))


def test_groups_and_scale():
    f = lambda z: z[:, :, None, None]  # noqa: E731  images (B, 3, 1, 1)
    P = lambda x: x.flatten(1)  # noqa: E731
    z = torch.zeros(1, 3, dtype=torch.float64)
    u = torch.tensor([[[3.0], [4.0], [1.0]]], dtype=torch.float64)
    c = factor_changes(P, f, z, u, 0.1, groups=[[0, 1], [2]], scale=[1.0, 0.5])
    torch.testing.assert_close(c, torch.tensor([[[0.5, 0.2]]], dtype=torch.float64))
    with pytest.raises(ValueError, match="groups"):
        factor_changes(P, f, z, u, 0.1, groups=[[0, 3]])
    with pytest.raises(ValueError, match="scale"):
        factor_changes(P, f, z, u, 0.1, scale=[1.0, -1.0, 1.0])


def test_rotated_renderer_scores_high_and_beats_random():
    """G = render(Q z): eigenvectors of J^T J are the pure directions Q^T e_j."""
    res = _run(random_rotation(F, generator=0))
    assert res["eigen"]["share"]["mean"] > 0.99
    assert res["eigen"]["coverage"]["mean"] == F
    diff = res["eigen_minus_random"]["share"]
    assert diff["mean"] > 5 * diff["stderr"]
    # random directions in F dimensions are far from pure
    assert res["random"]["share"]["mean"] < 0.8


def test_mixed_generator_scores_lower_than_rotated():
    g = torch.Generator().manual_seed(5)
    M = torch.randn(F, F, generator=g, dtype=torch.float64) / math.sqrt(F)
    mixed = _run(M)
    pure = _run(random_rotation(F, generator=0))
    m, p = mixed["eigen"]["share"], pure["eigen"]["share"]
    assert p["mean"] - m["mean"] > 5 * math.hypot(m["stderr"], p["stderr"])
    assert mixed["eigen"]["purity"]["mean"] < pure["eigen"]["purity"]["mean"]


def test_factor_spread_of_uniform_angle_and_linear_factor():
    theta = torch.linspace(0, 2 * math.pi, 100_001, dtype=torch.float64)[:-1]
    x = torch.linspace(-1, 1, 100_000, dtype=torch.float64)
    readings = torch.stack([x, torch.cos(theta), torch.sin(theta)], 1)
    s = factor_spread(readings, [[0], [1, 2]])
    torch.testing.assert_close(s, torch.tensor([2 / math.sqrt(12), 1.0], dtype=torch.float64), rtol=1e-3, atol=0)


def test_group_rms_per_factor():
    x = torch.tensor([[3.0, 4.0, 1.0], [0.0, 0.0, -3.0]])
    out = group_rms(x, [[0, 1], [2]])
    torch.testing.assert_close(out, torch.tensor([(25 / 2) ** 0.5, (10 / 2) ** 0.5]))
    with pytest.raises(ValueError, match="columns in"):
        group_rms(x, [[0, 3]])
    with pytest.raises(ValueError, match="non-empty"):
        group_rms(x, [[]])
    with pytest.raises(ValueError, match="tensor"):
        group_rms(x[0], [[0]])
