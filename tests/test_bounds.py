import math

import pytest
import torch

from sbp.numerics.bounds import lanczos_bounds, power_method
from sbp.numerics.trace import rademacher


def diag_op(lam: torch.Tensor):
    """Block matvec for diagonal operators, lam (B, d)."""
    return lambda v: v * lam


def spectra(d: int, kappa: float) -> torch.Tensor:
    return torch.stack([
        torch.logspace(0, -math.log10(kappa), d, dtype=torch.float64),
        torch.linspace(1, 1 / kappa, d, dtype=torch.float64),
        torch.cat([torch.full((d - 2,), 0.3, dtype=torch.float64),
                   torch.tensor([1 / kappa, 1.0], dtype=torch.float64)]),
    ])


@pytest.mark.parametrize("d", [5, 64, 300])
@pytest.mark.parametrize("kappa", [10.0, 1e4])
def test_interval_contains_spectrum(d, kappa):
    lam = spectra(d, kappa)
    g = torch.Generator().manual_seed(0)
    v0 = rademacher((3, d), generator=g, dtype=torch.float64, device=torch.device("cpu"))
    sb = lanczos_bounds(diag_op(lam), v0, 20, generator=g)
    a, b = sb.interval()
    assert (b >= lam.max(1).values).all()
    assert (a > 0).all()
    if kappa <= 10 or d <= 20:
        assert (a <= lam.min(1).values).all()
    else:
        # the bottom end is a guarded guess until Lanczos converges there: at most a
        # few eigenvalues may fall below it (their error is bounded, see bench_core.py)
        below = (lam < a[:, None]).double().mean(1)
        assert (below <= 0.01).all(), below
    # Ritz values lie inside the spectrum, up to rounding (absolute, of the order eps lambda_max)
    assert (sb.theta_max <= lam.max(1).values * (1 + 1e-12)).all()
    assert (sb.theta_min >= lam.min(1).values - 1e-13 * lam.max(1).values).all()


def test_lanczos_at_least_as_good_as_power_method():
    lam = spectra(200, 100.0)
    g = torch.Generator().manual_seed(1)
    v0 = rademacher((3, 200), generator=g, dtype=torch.float64, device=torch.device("cpu"))
    for k in (3, 10, 30):
        p, _ = power_method(diag_op(lam), v0, k - 1)  # k products in all
        sb = lanczos_bounds(diag_op(lam), v0, k)
        assert (sb.theta_max >= p - 1e-12).all()
        assert (p <= lam.max(1).values + 1e-12).all()


def test_lanczos_exact_when_steps_reach_dimension():
    lam = torch.tensor([[0.01, 0.5, 2.0, 7.0]], dtype=torch.float64)
    v0 = torch.ones(1, 4, dtype=torch.float64)
    sb = lanczos_bounds(diag_op(lam), v0, 50)
    assert sb.steps == 4
    torch.testing.assert_close(sb.theta_min, lam[:, 0])
    torch.testing.assert_close(sb.theta_max, lam[:, -1])
    a, b = sb.interval()
    torch.testing.assert_close(a, lam[:, 0], rtol=1e-5, atol=0)


def test_lanczos_breakdown_on_repeated_eigenvalues_restarts():
    # identity on the first block: the Krylov space of a vector is 2-dimensional
    lam = torch.tensor([[1.0] * 6 + [3.0] * 6], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    v0 = rademacher((1, 12), generator=g, dtype=torch.float64, device=torch.device("cpu"))
    sb = lanczos_bounds(diag_op(lam), v0, 8, generator=g)
    assert math.isclose(sb.theta_min.item(), 1.0, rel_tol=1e-9)
    assert math.isclose(sb.theta_max.item(), 3.0, rel_tol=1e-9)
    a, b = sb.interval()
    assert a.item() <= 1.0 and b.item() >= 3.0


def test_top_vector_is_top_eigenvector():
    lam = torch.tensor([[0.1, 0.2, 5.0, 0.3]], dtype=torch.float64)
    sb = lanczos_bounds(diag_op(lam), torch.ones(1, 4, dtype=torch.float64), 4)
    assert abs(sb.top_vector[0, 2].item()) == pytest.approx(1.0, abs=1e-9)
