"""sbp.numerics.auto: the cost model's decisions and the pilot's gates."""
import torch

from sbp.numerics.auto import auto_gate, auto_method, auto_pilot_steps, auto_pilot_verdict
from sbp.numerics.tolerance import make_tolerance

F64 = torch.float64


def test_auto_method_compares_d_columns_with_the_estimators_products():
    # chebyshev with a graph: (power_iters + order) probes + 1 vector products, 3 dense columns each
    assert auto_method(100, order=10, probes=2, power_iters=10, graph=True) == "exact"  # 100 <= 3 x 41
    assert auto_method(200, order=10, probes=2, power_iters=10, graph=True) == "chebyshev"
    assert auto_method(60, order=30, probes=1, power_iters=10, method="slq", graph=False) == "exact"  # 60 <= 3 x 31


def test_pilot_steps_and_verdict():
    assert auto_pilot_steps(96, 8, 3.0) == 4 and auto_pilot_steps(90, 8, 3.0) == 0
    values = torch.tensor([[1.0], [1.1], [0.9], [1.0]], dtype=F64)
    tight, loose = torch.tensor([1e-3], dtype=F64), torch.tensor([1.0], dtype=F64)
    kw = dict(confidence=0.95, product_cost=3.0, quadrature_share=0.25)
    assert auto_pilot_verdict(values, torch.zeros(1, dtype=F64), loose, 5, 1000, **kw)
    assert not auto_pilot_verdict(values, torch.zeros(1, dtype=F64), tight, 5, 1000, **kw)
    assert not auto_pilot_verdict(values, torch.ones(1, dtype=F64), loose, 5, 1000, **kw)  # bias over its share


def test_gate_rules_out_the_pilot_when_the_probes_spread_is_too_wide():
    d = 256
    V = torch.randint(0, 2, (8, 1, d), generator=torch.Generator().manual_seed(0)).to(F64) * 2 - 1
    Q = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(1), dtype=F64)).Q
    A = Q @ torch.diag(torch.logspace(0, -4, d, dtype=F64).sqrt()) @ Q.T  # rotated: the probes' values spread
    assert auto_gate(V @ A.T, V, make_tolerance(None, 1e-3, 0.95, None, d), product_cost=3.0)
    # J = 2 I: every probe's one-node value is d log 4, no spread; 8 probes x 3 steps x 3 columns < d
    assert not auto_gate(2 * V, V, make_tolerance(None, 0.5, 0.95, None, d), product_cost=3.0)


def test_one_cost_model_serves_both_entry_points():
    from sbp.numerics.auto import METRIC_COST, OPERATOR_COST, CostModel
    kw = dict(order=10, probes=2, power_iters=10, graph=True)  # (10 + 10) x 2 + 1 = 41 vector products
    assert CostModel(1.0).stochastic_products(100, method="chebyshev", **kw) == 41
    assert OPERATOR_COST.method(41, **kw) == "exact" and OPERATOR_COST.method(42, **kw) == "chebyshev"
    assert METRIC_COST.method(123, **kw) == "exact" and METRIC_COST.method(124, **kw) == "chebyshev"  # 3 x 41
    assert auto_method(123, **kw) == METRIC_COST.method(123, **kw)
    # no graph and order < 2 power_iters: the Lanczos matrices give the value, no recurrence products
    assert OPERATOR_COST.stochastic_products(100, method="chebyshev", order=10, probes=2, power_iters=10,
                                             graph=False) == 20
    assert OPERATOR_COST.pilot_steps(32, 8) == 4 and OPERATOR_COST.pilot_steps(31, 8) == 0


def test_sbp_logdet_auto_takes_the_cost_models_choice():
    import sbp
    d = 60
    A = torch.diag(torch.linspace(1, 2, d, dtype=F64))
    kw = dict(order=10, probes=2, power_iters=10, generator=0)
    with torch.no_grad():  # 20 Lanczos products against 60 unit vectors: chebyshev
        assert sbp.logdet(lambda v: v @ A, d, method="auto", **kw).method == "chebyshev"
    assert sbp.logdet(lambda v: v @ A, d, method="auto", **kw).method == "chebyshev"  # 41 < 60 with a graph
    B = torch.diag(torch.linspace(1, 2, 40, dtype=F64))
    est = sbp.logdet(lambda v: v @ B, 40, method="auto", **kw)
    assert est.method == "exact" and est.products == 40
    torch.testing.assert_close(est.logdet, torch.log(torch.linspace(1, 2, 40, dtype=F64)).sum()[None])


def test_auto_estimate_routes_by_the_decision():
    from sbp.numerics.auto import CostModel, auto_estimate
    calls = []
    routes = dict(exact=lambda: calls.append("exact") or "E", stochastic=lambda m: calls.append(m) or "S",
                  pilot=lambda: calls.append("pilot") or None)
    kw = dict(order=10, probes=2, power_iters=10, graph=True)
    tol = make_tolerance(None, 0.1, 0.95, None, 100)
    assert auto_estimate(CostModel(1.0), 100, None, **kw, **routes) == "S" and calls == ["chebyshev"]
    assert auto_estimate(CostModel(1.0), 41, None, **kw, **routes) == "E" and calls[-1] == "exact"
    calls.clear()  # the pilot gave up (None): exact
    assert auto_estimate(CostModel(1.0), 100, tol, **kw, **routes) == "E" and calls == ["pilot", "exact"]
    calls.clear()  # 100 // (3 x 2) = 16 steps allowed; at probes 30, 1 step < 4: exact without a pilot
    assert auto_estimate(CostModel(3.0), 100, tol, **dict(kw, probes=30), **routes) == "E" and calls == ["exact"]
    calls.clear()
    assert auto_estimate(CostModel(1.0), 100, tol, **kw, **routes, gate=lambda pilot: "G") == "G" and calls == []


def test_auto_products_include_the_pilot_that_exact_replaced():
    import sbp
    from sbp.experiments.benchmark.problems import designed_problem
    from sbp.numerics.jacobian import counted
    from sbp.numerics.logdet import logdet_operator
    problem = designed_problem(256, 100.0, rows=2)  # at rtol 0.1 the pilot runs on, then exact is cheaper
    op, c = counted(sbp.metric_operator(problem.f, problem.z, jvp_mode="reverse"))
    est = logdet_operator(op, method="auto", rtol=0.1, generator=0)
    assert est.method == "exact" and c.columns == 256 and est.products == c.products > 256
    d = 64  # sbp.logdet: a pilot of 8 probes may take 64 // 8 = 8 steps; a spread spectrum makes it give up
    lam = torch.logspace(0, -4, d, dtype=F64)
    Q = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(1), dtype=F64)).Q
    A = Q @ torch.diag(lam) @ Q.T
    calls = []
    est = sbp.logdet(lambda v: calls.append(v.shape[0]) or v @ A, d, method="auto", rtol=1e-3, generator=0)
    assert est.method == "exact" and est.products == sum(calls) > d
