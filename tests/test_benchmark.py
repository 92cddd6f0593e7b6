import math

import pytest
import torch

import sbp
import sbp.experiments.benchmark as bm
from helpers import mlp

F64 = torch.float64


@pytest.fixture(scope="module")
def problem():
    return bm.designed_problem(12, 1e2, rows=3, seed=1)


def test_designed_problem_exact_value_and_spectrum(problem):
    lam = torch.logspace(0, -2, 12, dtype=F64)
    assert torch.allclose(problem.exact, lam.log().sum().expand(3), rtol=1e-10)
    assert torch.allclose(problem.eigenvalues[0], lam.flip(0), rtol=1e-8)
    assert problem.condition == pytest.approx(1e2, rel=1e-8)
    assert torch.allclose(problem.gram[0], problem.gram[2])  # rows are repetitions of one metric


@pytest.mark.parametrize("name", list(bm.METHODS))
def test_counted_estimate_is_logdet_metric_and_counts_every_product(problem, name):
    spec, order, probes, iters = bm.METHODS[name], 5, 6, 7
    est, count = bm.counted_estimate(problem.f, problem.z, order=order, probes=probes, power_iters=iters,
                                     generator=3, **spec)
    ref = sbp.logdet_metric(problem.f, problem.z, order=order, probes=probes, power_iters=iters, generator=3,
                            jvp_mode="reverse", **spec)
    assert torch.equal(est.logdet, ref.logdet)
    if spec["method"] in ("slq", "bidiag"):  # lambda_max's Rayleigh quotient + steps per probe
        assert count.jvps == 1 + order * probes
        assert count.vjps == 1 + (order - (spec["method"] == "bidiag")) * probes
    else:  # interval (Lanczos from every probe) + lambda_max + order per probe (Hutch++: sketch + rest)
        assert count.jvps == count.vjps == iters * probes + 1 + order * probes
    assert count.products == count.jvps
    if spec["method"] in ("chebyshev", "taylor") and "variance_reduction" not in spec:  # without a graph: the Lanczos runs alone give the value
        with torch.no_grad():
            est0, count0 = bm.counted_estimate(problem.f, problem.z, order=order, probes=probes, power_iters=iters,
                                               generator=3, **spec)
        torch.testing.assert_close(est0.logdet, ref.logdet.detach())
        assert count0.products == iters * probes


@pytest.mark.parametrize("name", list(bm.METHODS) + [bm.GPYTORCH])
@pytest.mark.parametrize("budget", [40, 100])
def test_plan_for_budget_spends_at_most_the_budget(problem, name, budget):
    probes, d = 6, problem.z.shape[1]
    order, iters = bm.plan_for_budget(name, budget, probes=probes, d=d)
    if name == bm.GPYTORCH:
        assert order == min(d, budget // probes)
        return
    with torch.no_grad():
        _, count = bm.counted_estimate(problem.f, problem.z, order=order, probes=probes, power_iters=iters,
                                       generator=0, **bm.METHODS[name])
    assert count.products <= budget
    if order < d and iters < d:  # not capped by the dimension: the next step would exceed the budget
        assert count.products + probes > budget


def test_plan_for_budget_rejects_unknown_method():
    with pytest.raises(ValueError, match="unknown method"):
        bm.plan_for_budget("lanczos", 10, probes=2, d=4)


def test_error_vs_products_rows(problem):
    rows = bm.error_vs_products(problem, budgets=[30, 60], probes=4, seeds=[0, 1], methods=["chebyshev", "slq"],
                                gpytorch=False)
    assert [(r["method"], r["budget"]) for r in rows] == [("chebyshev", 30), ("chebyshev", 60), ("slq", 30),
                                                          ("slq", 60)]
    for r in rows:
        assert r["samples"] == 6 and r["family"] == "designed" and r["d"] == 12
        assert 0 < r["matvecs"] <= r["budget"]
        assert 0 <= r["q25_error"] <= r["median_error"] <= r["q75_error"]
    # slq with steps >= d is exact quadrature: only Hutchinson noise is left, which a metric
    # proportional to the identity does not have
    flat = bm.designed_problem(6, 1.0, rows=2)
    (r,) = bm.error_vs_products(flat, budgets=[100], probes=3, seeds=[0], methods=["slq"], gpytorch=False)
    assert r["order"] == 6 and r["median_error"] < 1e-10


def test_best_by_budget_and_hutchpp_gain():
    rows = [{"problem": "p", "family": "f", "budget": 10, "method": m, "median_error": e, "matvecs": 9}
            for m, e in (("chebyshev", 0.4), ("hutch++", 0.1), ("slq", 0.2))]
    (b,) = bm.best_by_budget(rows)
    assert b["best"] == "hutch++" and b["best_error"] == 0.1 and math.isnan(b["gpytorch_error"])
    rows.append({"problem": "p", "family": "f", "budget": 10, "method": bm.GPYTORCH, "median_error": 0.2, "matvecs": 10})
    (b,) = bm.best_by_budget(rows)
    assert b["best"] == "hutch++" and b["best_over_gpytorch"] == pytest.approx(0.5)
    (g,) = bm.hutchpp_gain(rows)
    assert g["gain"] == pytest.approx(4.0)


def test_deflation_share_flat_and_spiked():
    d, k = 10, 2
    flat = torch.tensor([math.e, 1 / math.e] * (d // 2), dtype=F64)[None]  # |log lambda - c| = 1 everywhere
    assert bm.deflation_share(flat, k).item() == pytest.approx(k / d)
    spiked = torch.ones(1, d, dtype=F64)
    spiked[0, 0] = 1e6
    # deviations from the mean log: (1 - 1/d) L once and -L/d (d - 1) times: share (1 - 1/d)
    assert bm.deflation_share(spiked, 1).item() == pytest.approx(1 - 1 / d)
    assert bm.hutchpp_ideal_gain(0.875, 8) == pytest.approx(2.0)  # m = 4 of 8 probes left, 1/8 of the norm


def test_graph_bytes_lowmem_does_not_grow_with_order():
    f = mlp(3, 5, seed=0)
    z = torch.randn(2, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    rows = bm.memory_vs_order(f, z, orders=[4, 16], methods=("chebyshev",), probes=2)
    mb = {(r["grad_mode"], r["order"]): r["graph_mb"] for r in rows}
    assert mb[("lowmem", 16)] == mb[("lowmem", 4)] > 0
    assert mb[("backprop", 16)] > 2 * mb[("backprop", 4)]
    assert f[0].weight.grad is not None and f[2].weight.grad is not None  # the backward reached f's weights


def test_target_rows_flags():
    err = [{"problem": "g", "family": "generator", "budget": b, "method": m, "median_error": e, "matvecs": b}
           for b in (10, 20) for m, e in (("chebyshev", 0.3), ("hutch++", 0.2))]
    mem = [{"grad_mode": "lowmem", "order": 10, "graph_mb": 1.0}, {"grad_mode": "lowmem", "order": 100, "graph_mb": 1.1}]
    times = [{"d": 8, "auto_over_best": 0.02}, {"d": 64, "auto_over_best": 0.3}]
    t = {r["target"].split()[0]: r for r in bm.target_rows(err, mem, times)}
    assert t["sbp"]["met"] is None  # no GPyTorch rows
    assert t["Hutch++"]["value"] == pytest.approx(1.5) and t["Hutch++"]["met"] is False
    assert t["lowmem"]["value"] == pytest.approx(1.1) and t["lowmem"]["met"] is True
    assert t["auto"]["value"] == pytest.approx(0.3) and t["auto"]["met"] is False


def test_dcganlike_shapes_and_bad_resolution():
    z = torch.randn(2, 5)
    assert bm.DCGANLike(5, width=2, resolution=32)(z).shape == (2, 3, 32, 32)
    assert bm.DCGANLike(5, width=2)(z).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="resolution"):
        bm.DCGANLike(5, resolution=48)


def test_designed_problem_rejects_bad_condition():
    with pytest.raises(ValueError, match="condition"):
        bm.designed_problem(8, 0.5)


def test_wall_time_rows():
    (r,) = bm.wall_time_vs_exact([4], width=2, order=4, probes=2, power_iters=3)
    assert r["auto_pick"] == "exact" and r["d"] == 4
    assert r["exact_s"] > 0 and r["estimator_s"] > 0 and r["estimator_error"] < 1


@pytest.mark.skipif(bm.gpytorch_available(), reason="gpytorch installed")
def test_gpytorch_absent_raises_import_error(problem):
    with pytest.raises(ImportError):
        bm.gpytorch_slq_logdet(problem.gram, steps=4, probes=2, seed=0)


@pytest.mark.skipif(not bm.gpytorch_available(), reason="gpytorch not installed")
def test_gpytorch_slq_exact_at_full_steps_on_identity_multiple():
    G = 3.0 * torch.eye(5, dtype=F64)[None]
    ld = bm.gpytorch_slq_logdet(G, steps=5, probes=4, seed=0)
    assert ld.item() == pytest.approx(5 * math.log(3.0), rel=1e-6)


def test_peak_rss_vs_order_runs_one_step_per_mode_and_order(monkeypatch):
    import sbp.experiments.benchmark.cost as cost

    calls = []

    def fake_step(method, mode, order, **kw):
        calls.append((method, mode, order, kw))
        return {"peak_mb": float(order), "wall": 0.0, "logdet": 0.0, "products": 1}

    monkeypatch.setattr(cost, "peak_rss_step", fake_step)
    rows = bm.peak_rss_vs_order((10, 100), d=16, batch=2, probes=4, width=8)
    assert [(r["grad_mode"], r["order"]) for r in rows] == [("backprop", 10), ("backprop", 100), ("lowmem", 10),
                                                           ("lowmem", 100)]
    assert all(r["method"] == "chebyshev" and r["peak_mb"] == r["order"] for r in rows)
    assert calls[0][3] == dict(d=16, batch=2, probes=4, width=8)
    with pytest.raises(ValueError, match="empty"):
        bm.peak_rss_vs_order(())
    with pytest.raises(ValueError, match="order"):
        bm.peak_rss_vs_order((0,))


def test_crossovers_between_neighbouring_sizes():
    rows = [{"d": d, "faster": f} for d, f in ((32, "exact"), (128, "exact"), (512, "chebyshev"), (1024, "exact"))]
    assert bm.crossovers(rows) == [(128, 512), (512, 1024)]
    assert bm.crossovers(rows[:2]) == [] and bm.crossovers([]) == []


def test_tolerance_problems_are_the_designed_spectra_then_the_generator():
    from sbp.experiments.benchmark.problems import tolerance_problems
    built = [make() for make in tolerance_problems(8, (1e1, 1e3), rows=2)]
    assert [p.family for p in built] == ["designed", "designed", "generator"]
    assert built[1].name == "designed cond 1e+03" and built[2].name == "dcgan-like w8 d8 N(0,I)"
