import pytest
import torch

from sbp.experiments.benchmark.accuracy import error_sweep


def test_error_sweep_decreases_with_order_on_a_linear_map():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(12, 6, generator=g, dtype=torch.float64)
    z = torch.zeros(2, 6, dtype=torch.float64)
    lam = torch.linalg.eigvalsh(A.T @ A).expand(2, -1)
    rows = error_sweep(lambda z: z @ A.T, z, methods=["chebyshev"], orders=[2, 40], probes=64, seeds=[0, 1],
                       eigenvalues=lam)
    assert [r["order"] for r in rows] == [2, 40]
    assert rows[1]["rel_error"] < rows[0]["rel_error"]
    # d = 6 <= power_iters: Lanczos spans the whole space, so its quadrature gives p(G) exactly
    # for any order and no recurrence products are needed (no graph is built here)
    assert rows[1]["products"] == 6
    assert all(r["probe_noise"] > 0 for r in rows)
    assert rows[1]["poly_error"] < 1e-8 < rows[0]["poly_error"]


@pytest.mark.parametrize("method", ["chebyshev", "taylor"])
def test_polynomial_logdet_is_the_many_probe_limit(method):
    """The estimate converges to sum_i p(lambda_i): z-score of many probes against it."""
    import sbp
    from sbp.experiments.benchmark.accuracy import polynomial_logdet

    g = torch.Generator().manual_seed(1)
    A = torch.randn(9, 5, generator=g, dtype=torch.float64)
    est = sbp.logdet_metric(lambda z: z @ A.T, torch.zeros(1, 5, dtype=torch.float64), method=method,
                            order=1, probes=4000, generator=0)
    p = polynomial_logdet(est, torch.linalg.eigvalsh(A.T @ A)[None])
    assert abs((est.logdet - p).item()) < 4.5 * est.stderr.item()
    assert abs((p - torch.logdet(A.T @ A)).item()) > 10 * est.stderr.item()  # order 1 is visibly biased
