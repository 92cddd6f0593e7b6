import math

import numpy as np
import pytest
import torch

import sbp.experiments.density2d.energies as E
import sbp.experiments.density2d.fit as D
from sbp.experiments.density2d.fit_quality import folded_share, tv_density_grid, tv_distance
from sbp.experiments.density2d.evaluate import (evaluate_forward, evaluate_reverse, forward_goals, kl_target_met,
                                               sample_grid)


def test_kl_target_met_known_answers_and_bad_input():
    assert kl_target_met(0.30, 0.34)  # 0.04 <= 0.05
    assert not kl_target_met(0.30, 0.36)  # 0.06 > max(0.05, 0.036)
    assert kl_target_met(1.9, 2.0) and not kl_target_met(1.75, 2.0)  # 10 % of 2.0 = 0.2
    assert kl_target_met(-0.55, -0.6) and not kl_target_met(0.0, -0.6)  # |KL_exact| sets the scale
    with pytest.raises(ValueError, match="kl_estimator must be a finite number"):
        kl_target_met(float("nan"), 0.1)
    with pytest.raises(ValueError, match="atol and rtol"):
        kl_target_met(0.1, 0.1, atol=-1.0)


def _grid_samples_as_in_notebook_02(log_q: np.ndarray, n: int, seed: int) -> np.ndarray:
    # the committed notebook 02's cell (box [-4, 4]^2, 200 x 200 grid), kept as the reference
    g = torch.Generator().manual_seed(seed)
    p = torch.softmax(torch.as_tensor(log_q).reshape(-1), 0)
    idx = torch.multinomial(p, n, replacement=True, generator=g)
    h = 8 / 200
    xy = torch.stack([-4 + h * (idx % 200), -4 + h * (idx // 200)], 1).double()
    return (xy + h * torch.rand(n, 2, generator=g, dtype=torch.float64)).numpy()


def test_sample_grid_is_bit_identical_to_the_notebook_cell():
    log_q = torch.randn(200, 200, generator=torch.Generator().manual_seed(3), dtype=torch.float64).numpy() * 3
    new = sample_grid(log_q, 5000, generator=torch.Generator().manual_seed(2000)).numpy()
    assert new.dtype == np.float64 and new.shape == (5000, 2)
    assert np.array_equal(new, _grid_samples_as_in_notebook_02(log_q, 5000, 2000))


def test_sample_grid_draws_cells_by_their_mass():
    # 4 x 4 grid on [0, 4]^2 (cells of side 1): all mass on two cells, 3 : 1
    log_q = torch.full((4, 4), -math.inf, dtype=torch.float64)
    log_q[0, 2] = math.log(3.0)  # row 0 (x2 in [0, 1)), column 2 (x1 in [2, 3))
    log_q[3, 1] = 0.0
    x = sample_grid(log_q, 40_000, generator=torch.Generator().manual_seed(0), box=(0.0, 4.0))
    cell = x.floor()
    in_a = (cell[:, 0] == 2) & (cell[:, 1] == 0)
    in_b = (cell[:, 0] == 1) & (cell[:, 1] == 3)
    assert bool((in_a | in_b).all())
    assert float(in_a.double().mean()) == pytest.approx(0.75, abs=4 * math.sqrt(0.75 * 0.25 / 40_000))
    # uniform within the cell: mean offset 1/2, variance 1/12
    off = (x - cell)[in_a]
    assert float(off.mean()) == pytest.approx(0.5, abs=0.01) and float(off.var()) == pytest.approx(1 / 12, abs=0.005)


def test_sample_grid_bad_input():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="square"):
        sample_grid(torch.zeros(4, 5), 3, generator=g)
    with pytest.raises(ValueError, match="NaN"):
        sample_grid(torch.tensor([[0.0, float("nan")], [0.0, 0.0]]), 3, generator=g)
    with pytest.raises(ValueError, match="finite cell"):
        sample_grid(torch.full((2, 2), -math.inf), 3, generator=g)
    with pytest.raises(ValueError, match="n must be"):
        sample_grid(torch.zeros(2, 2), 0, generator=g)
    with pytest.raises(ValueError, match="box"):
        sample_grid(torch.zeros(2, 2), 3, generator=g, box=(1.0, -1.0))
    with pytest.raises(TypeError, match="generator"):
        sample_grid(torch.zeros(2, 2), 3, generator=0)


@pytest.fixture(scope="module")
def reverse_runs():
    kw = dict(iterations=4, seed=0, show_progress=False)
    return D.fit_reverse_kl("U3", method="chebyshev", **kw), D.fit_reverse_kl("U3", method="exact", **kw)


def test_evaluate_reverse_matches_the_notebook_cell(reverse_runs):
    est, ex = reverse_runs
    metrics, samples = evaluate_reverse(est, ex, "U3", n=500, kl_seed=1000, target_seed=2000)
    # the committed notebook 01's cell, kept as the reference
    ev = {m: D.reverse_kl(r.model, "U3", n=500, seed=1000) for m, r in (("chebyshev", est), ("exact", ex))}
    k_est, k_ex = ev["chebyshev"]["kl"], ev["exact"]["kl"]
    ref = dict(kl_estimator=k_est, kl_estimator_stderr=ev["chebyshev"]["kl_stderr"], kl_exact=k_ex,
               kl_exact_stderr=ev["exact"]["kl_stderr"], outside_box_estimator=ev["chebyshev"]["outside"],
               outside_box_exact=ev["exact"]["outside"], rel_error_median=float(np.median(est.rel_error)),
               rel_error_p90=float(np.percentile(est.rel_error, 90)),
               target_met=bool(abs(k_est - k_ex) <= max(0.05, 0.1 * abs(k_ex))), iterations=4,
               wall_time_estimator_s=est.wall_time, wall_time_exact_s=ex.wall_time)
    shares = {k: E.split_share("U3", torch.from_numpy(ev[m]["samples"])) for k, m in (("estimator", "chebyshev"),
                                                                                       ("exact", "exact"))}
    target = E.sample_energy("U3", 500, generator=2000)
    ref.update(tv_estimator=tv_distance(ev["chebyshev"]["samples"], "U3"), tv_exact=tv_distance(ev["exact"]["samples"], "U3"),
               tv_target=tv_distance(target, "U3"))
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(1000), dtype=torch.float64)
    ref.update(folded_estimator=folded_share(est.model, z), folded_exact=folded_share(ex.model, z))
    shares["target"] = E.split_share("U3", target)
    for k, sh in shares.items():
        ref[f"split_lower_{k}"], ref[f"split_window_{k}"] = sh["lower"], sh["window"]
    assert metrics == ref
    assert np.array_equal(samples["estimator"], ev["chebyshev"]["samples"])
    assert np.array_equal(samples["exact"], ev["exact"]["samples"])
    no_split, _ = evaluate_reverse(est, ex, "U1", n=100, kl_seed=0, target_seed=0)
    assert not any(k.startswith("split") for k in no_split)


def test_evaluate_checks_its_pair(reverse_runs):
    est, ex = reverse_runs
    with pytest.raises(ValueError, match="estimator-trained and an exact-trained"):
        evaluate_reverse(ex, est, "U3", n=10, kl_seed=0, target_seed=0)
    with pytest.raises(ValueError, match="'reverse' fit, not a 'forward'"):
        evaluate_forward(est, ex, "U1", n=10, kl_seed=0, sample_seed=0, target_seed=0)
    with pytest.raises(TypeError, match="FitResult"):
        evaluate_reverse(est.model, ex, "U3", n=10, kl_seed=0, target_seed=0)
    with pytest.raises(ValueError, match="n \\(evaluation samples\\)"):
        evaluate_reverse(est, ex, "U3", n=1, kl_seed=0, target_seed=0)


def test_evaluate_forward_matches_the_notebook_cell():
    kw = dict(iterations=3, seed=1, show_progress=False)
    est, ex = D.fit_forward_kl("ring8", method="chebyshev", **kw), D.fit_forward_kl("ring8", method="exact", **kw)
    metrics, samples, grids = evaluate_forward(est, ex, "ring8", n=400, kl_seed=1001, sample_seed=2001,
                                               target_seed=3001, grid_n=200)
    ev, grid, mass = {}, {}, {}
    for m, r in (("chebyshev", est), ("exact", ex)):
        ev[m] = D.forward_kl(r.model, "ring8", n=400, seed=1001)
        grid[m], mass[m] = D.model_log_density_grid(r.model, E.BOX, 200)
    k_est, k_ex = ev["chebyshev"]["kl"], ev["exact"]["kl"]
    kn_est, kn_ex = k_est + math.log(mass["chebyshev"]), k_ex + math.log(mass["exact"])
    assert metrics["kl_estimator"] == k_est and metrics["kl_exact_stderr"] == ev["exact"]["kl_stderr"]
    assert metrics["model_mass_on_box_estimator"] == mass["chebyshev"] and metrics["kl_normalized_exact"] == kn_ex
    assert metrics["kl_normalized_estimator"] == kn_est
    assert metrics["target_met_normalized"] == bool(abs(kn_est - kn_ex) <= max(0.05, 0.1 * abs(kn_ex)))
    assert metrics["rel_error_p90"] == float(np.percentile(est.rel_error, 90)) and metrics["iterations"] == 3
    assert metrics["tv_estimator"] == tv_density_grid(grid["chebyshev"], "ring8")
    assert metrics["tv_exact"] == tv_density_grid(grid["exact"], "ring8") and 0 < metrics["tv_exact"] <= 1
    assert np.array_equal(grids["estimator"], grid["chebyshev"]) and np.array_equal(grids["exact"], grid["exact"])
    assert metrics["tv_unnormalized_exact"] == tv_density_grid(grid["exact"], "ring8", normalize=False)
    assert metrics["kl_normalized_estimator_stderr"] == ev["chebyshev"]["kl_stderr"]
    assert metrics["folded_exact"] == folded_share(ex.model, box=E.BOX) and 0 <= metrics["folded_estimator"] <= 1
    assert np.array_equal(samples["model"], _grid_samples_as_in_notebook_02(grid["chebyshev"], 400, 2001))
    assert np.array_equal(samples["target"], E.sample_target("ring8", 400, generator=3001).numpy())


def test_forward_goals_flags():
    m = dict(tv_estimator=0.14, tv_exact=0.12, model_mass_on_box_estimator=0.999, model_mass_on_box_exact=1.0004)
    assert forward_goals(m, 0.15) == dict(goal_tv=0.15, goal_tv_met=True, goal_mass_met=True, goal_gap_met=True)
    folded = dict(m, model_mass_on_box_estimator=2.5, tv_exact=0.08)
    assert forward_goals(folded, 0.1) == dict(goal_tv=0.1, goal_tv_met=False, goal_mass_met=False, goal_gap_met=False)
