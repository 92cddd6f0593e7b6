"""sbp.numerics.result: LogdetEstimate's interval, bias_bound and products (vector products per row, every method)."""
import pytest
import torch

import sbp
from sbp.numerics.jacobian import counted
from sbp.numerics.logdet import logdet_operator
from sbp.numerics.trace import student_t_quantile
from helpers import mlp

F64 = torch.float64


def test_interval_is_the_student_t_interval_of_the_probe_variance():
    f = mlp(6, 10)
    z = torch.randn(3, 6, dtype=F64, generator=torch.Generator().manual_seed(1))
    est = sbp.logdet_metric(f, z, order=20, probes=8, generator=0)
    low, high = est.interval(0.9)
    torch.testing.assert_close(high - est.logdet.detach(), student_t_quantile(0.95, 7) * est.stderr)
    torch.testing.assert_close(est.logdet.detach() - low, high - est.logdet.detach())
    exact = sbp.logdet_metric(f, z, method="exact")
    assert torch.equal(exact.interval()[0], exact.interval()[1])
    assert torch.equal(exact.bias_bound, torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="confidence"):
        est.interval(1.5)


def test_interval_covers_the_polynomial_expectation_at_about_its_confidence():
    f = mlp(6, 10)
    z = torch.randn(1, 6, dtype=F64, generator=torch.Generator().manual_seed(1))
    truth = sbp.logdet_metric(f, z, method="exact").logdet.item()
    hits = 0
    for seed in range(60):
        low, high = sbp.logdet_metric(f, z, order=40, probes=6, generator=seed).interval(0.9)
        hits += int(low.item() <= truth <= high.item())
    assert 44 <= hits <= 60, hits  # 0.9 x 60 = 54; binomial sd 2.3


@pytest.mark.parametrize("method, graph", [("chebyshev", True), ("chebyshev", False), ("taylor", True), ("slq", True),
                                           ("slq", False), ("bidiag", True)])
def test_products_are_vector_products_per_row_as_counted_through_j(method, graph):
    f = mlp(6, 10)
    z = torch.randn(2, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    with torch.set_grad_enabled(graph):
        op, c = counted(sbp.metric_operator(f, z, jvp_mode="forward"))
        est = logdet_operator(op, method=method, order=12, probes=5, generator=0)
    assert est.products == c.jvps, (est.products, c.jvps, c.vjps)


def test_exact_products_are_d_for_both_entry_points():
    f = mlp(6, 10)
    z = torch.zeros(2, 6, dtype=F64)
    assert sbp.logdet_metric(f, z, method="exact").products == 6
    S = torch.eye(5, dtype=F64) * 2
    assert sbp.logdet(lambda v: v @ S, 5, method="exact").products == 5


def test_a_tolerance_without_a_method_means_auto():
    f = mlp(6, 10)
    z = torch.randn(2, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    est = sbp.logdet_metric(f, z, rtol=0.01, generator=0)
    assert est.method == "exact" and bool(est.converged.all())  # auto: d = 6 columns are cheapest
    assert sbp.logdet_metric(f, z, order=10, generator=0).method == "chebyshev"  # no tolerance: Algorithm 1
    S = torch.eye(6, dtype=F64) * 3
    assert sbp.logdet(lambda v: v @ S, 6, rtol=0.01, generator=0).method == "exact"
