"""Binned total variation between 2-D samples and the box-restricted targets (Figures 1-2)."""
import math

import numpy as np
import pytest
import torch

from sbp.experiments.density2d.energies import sample_energy, sample_target
from sbp.experiments.density2d.fit_quality import (sample_bin_mass, target_bin_mass, tv_density_grid,
                                                   tv_distance)


@pytest.mark.parametrize("energy", ["U1", "U2", "U3", "U4"])
def test_exact_target_samples_score_the_binning_noise_and_gaussians_score_far(energy):
    x = sample_energy(energy, 10_000, generator=1)
    gauss = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert tv_distance(x, energy) < 0.11  # 1,600 bins, 10,000 samples: expected noise about 0.085
    assert tv_distance(gauss, energy) > 0.5


def test_tv_falls_with_more_exact_samples_towards_zero():
    small = tv_distance(sample_energy("U3", 2_000, generator=3), "U3")
    large = tv_distance(sample_energy("U3", 200_000, generator=3), "U3")
    assert large < 0.25 * small and large < 0.02


def test_samples_outside_the_box_count_as_mismatch():
    x = sample_energy("U1", 10_000, generator=4)
    moved = x.clone()
    moved[:2_000] += 100.0  # a fifth of the samples leave the box
    q, outside = sample_bin_mass(moved)
    assert outside == pytest.approx(0.2) and q.sum() == pytest.approx(0.8)
    # sum_b |p_b - q_b| >= sum_b (p_b - q_b) = 0.2, so TV >= (0.2 + 0.2) / 2
    assert tv_distance(moved, "U1") >= 0.2 > tv_distance(x, "U1") + 0.1


def test_target_bin_mass_is_a_normalized_grid_in_row_x2_column_x1_order():
    # a density concentrated at x1 = 3.1, x2 = -2.9: its bin is row (x2) 5, column (x1) 35 of 40 on [-4, 4]
    p = target_bin_mass(lambda x: -((x - torch.tensor([3.1, -2.9], dtype=x.dtype)) ** 2).sum(1) / (2 * 0.01 ** 2))
    assert p.sum() == pytest.approx(1.0)
    assert np.unravel_index(p.argmax(), p.shape) == (5, 35)
    q, _ = sample_bin_mass(np.array([[3.1, -2.9]]))
    assert np.unravel_index(q.argmax(), q.shape) == (5, 35)


def test_tv_of_a_density_grid_is_zero_for_the_target_itself_and_large_for_a_shifted_one():
    from sbp.experiments.density2d.energies import grid, target_log_density
    pts, _, _ = grid(n=200)
    lq = target_log_density("ring8", pts).reshape(200, 200)
    assert tv_density_grid(lq, "ring8") < 1e-3
    assert tv_density_grid(target_log_density("ring8", pts + 1.0).reshape(200, 200), "ring8") > 0.5
    x = sample_target("ring8", 10_000, generator=5)
    assert tv_distance(x, "ring8") < 0.11


def test_bad_input_is_refused_with_what_was_wrong():
    with pytest.raises(ValueError, match="shape"):
        tv_distance(np.zeros((10, 3)), "U1")
    with pytest.raises(ValueError, match="NaN"):
        tv_distance(np.array([[0.0, math.nan]]), "U1")
    with pytest.raises(ValueError, match="unknown target"):
        tv_distance(np.zeros((10, 2)), "U9")
    with pytest.raises(ValueError, match="bins"):
        tv_distance(np.zeros((10, 2)), "U1", bins=0)
    with pytest.raises(ValueError, match="multiple"):
        tv_density_grid(np.zeros((50, 50)), "U1", bins=40)


def test_folded_share_counts_the_codes_beyond_a_fold():
    from sbp.experiments.density2d.fit_quality import folded_share
    z = torch.randn(4_000, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    assert folded_share(lambda v: 2.0 * v + 1.0, z) == 0.0
    # (z1, |z2|) folds the plane along z2 = 0: the half z2 < 0 is reversed
    assert folded_share(lambda v: torch.stack([v[:, 0], v[:, 1].abs()], 1), z) == pytest.approx(float((z[:, 1] < 0).double().mean()))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        folded_share(lambda v: v, torch.zeros(3, 3, dtype=torch.float64))


def test_tv_of_a_density_grid_not_renormalized_counts_the_missing_and_the_excess_mass():
    from sbp.experiments.density2d.energies import grid, target_log_density
    pts, _, _ = grid(n=200)
    lq = target_log_density("ring8", pts).reshape(200, 200)
    assert tv_density_grid(lq, "ring8", normalize=False) < 1e-3
    # half the mass (q / 2): renormalized TV 0, not renormalized 1/2 (sum_b p_b / 2 + 1/2) / 2 = 1/2
    half = lq - math.log(2.0)
    assert tv_density_grid(half, "ring8") < 1e-3
    assert tv_density_grid(half, "ring8", normalize=False) == pytest.approx(0.5, abs=1e-3)
    # three times the mass (a folding g): (2 + 2) / 2 = 2
    assert tv_density_grid(lq + math.log(3.0), "ring8", normalize=False) == pytest.approx(2.0, abs=3e-3)


def test_folded_share_on_a_box_is_the_share_covered_more_than_once():
    from sbp.experiments.density2d.fit_quality import folded_share
    assert folded_share(lambda v: 2.0 * v + 1.0, box=(-4.0, 4.0)) == 0.0
    rot = torch.tensor([[0.6, -0.8], [0.8, 0.6]], dtype=torch.float64)
    assert folded_share(lambda v: torch.tanh(v / 3) @ rot.T, box=(-4.0, 4.0)) == 0.0  # injective, not linear
    # (x1, |x2|): every point shares its image with its mirror
    assert folded_share(lambda v: torch.stack([v[:, 0], v[:, 1].abs()], 1), box=(-4.0, 4.0)) == 1.0
    # folded at x2 = 2: x2 in [2, 4] lands on [0, 2], so [0, 4] (half the box) is covered twice
    fold = lambda v: torch.stack([v[:, 0], torch.minimum(v[:, 1], 4.0 - v[:, 1])], 1)
    assert folded_share(fold, box=(-4.0, 4.0)) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="exactly one of z"):
        folded_share(fold, torch.zeros(3, 2, dtype=torch.float64), box=(-4.0, 4.0))
    with pytest.raises(ValueError, match="mesh"):
        folded_share(fold, box=(-4.0, 4.0), mesh=1)
