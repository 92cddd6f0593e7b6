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


def test_operator_auto_method_keeps_sbp_logdets_rule():
    from sbp.numerics.auto import auto_operator_method
    assert auto_operator_method(31, order=10, probes=1, power_iters=20) == "exact"  # 31 <= 20 + 1 + 10
    assert auto_operator_method(32, order=10, probes=1, power_iters=20) == "chebyshev"
