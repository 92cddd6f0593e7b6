import math

import pytest
import torch

from sbp.numerics.polynomials import chebyshev_eval, chebyshev_log_coeffs, taylor_log_coeffs


@pytest.mark.parametrize("kappa,order,tol", [(10.0, 30, 1e-12), (1e2, 60, 1e-10), (1e4, 600, 1e-6)])
def test_chebyshev_interpolates_log(kappa, order, tol):
    a, b = torch.tensor(0.5 / kappa, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    c = chebyshev_log_coeffs(order, a, b)
    x = torch.logspace(math.log10(a), math.log10(b), 500, dtype=torch.float64)
    err = (chebyshev_eval(c, x, a, b) - torch.log(x)).abs().max().item()
    # Chebyshev interpolation of log on [a, b] converges like rho^-n, rho = (sqrt(k)+1)/(sqrt(k)-1)
    rho = (math.sqrt(kappa) + 1) / (math.sqrt(kappa) - 1)
    assert err < max(tol, 10 * rho ** (-order))


def test_chebyshev_batched_intervals_match_single():
    a = torch.tensor([0.1, 1.0], dtype=torch.float64)
    b = torch.tensor([2.0, 50.0], dtype=torch.float64)
    c = chebyshev_log_coeffs(12, a, b)
    assert c.shape == (2, 13)
    for i in range(2):
        torch.testing.assert_close(c[i], chebyshev_log_coeffs(12, a[i], b[i]))


def test_chebyshev_order_one_is_linear_interpolant_at_nodes():
    a, b = torch.tensor(1.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64)
    c = chebyshev_log_coeffs(1, a, b)
    nodes = torch.cos(math.pi * (torch.arange(2, dtype=torch.float64) + 0.5) / 2)
    x = ((b - a) * nodes + b + a) / 2
    torch.testing.assert_close(chebyshev_eval(c, x, a, b), torch.log(x))


def test_taylor_coefficients():
    torch.testing.assert_close(taylor_log_coeffs(4), torch.tensor([1, 1 / 2, 1 / 3, 1 / 4], dtype=torch.float64))


@pytest.mark.parametrize("order", [0, -3])
def test_bad_order(order):
    with pytest.raises(ValueError, match="order"):
        chebyshev_log_coeffs(order, torch.tensor(1.0), torch.tensor(2.0))
    with pytest.raises(ValueError, match="order"):
        taylor_log_coeffs(order)


def test_bad_interval():
    with pytest.raises(ValueError, match="lower < upper"):
        chebyshev_log_coeffs(5, torch.tensor(2.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match="> 0"):
        chebyshev_log_coeffs(5, torch.tensor(0.0), torch.tensor(1.0))


def test_chebyshev_derivative_coeffs_match_1_over_x():
    from sbp.numerics.polynomials import chebyshev_derivative_coeffs
    a = torch.tensor([0.1, 0.5], dtype=torch.float64)
    b = torch.tensor([3.0, 2.0], dtype=torch.float64)
    c = chebyshev_log_coeffs(40, a, b)
    dc = chebyshev_derivative_coeffs(c)
    x = torch.stack([torch.linspace(0.2, 2.9, 9, dtype=torch.float64), torch.linspace(0.6, 1.9, 9, dtype=torch.float64)])
    h = 1e-6
    fd = (chebyshev_eval(c, x + h, a, b) - chebyshev_eval(c, x - h, a, b)) / (2 * h)
    an = chebyshev_eval(dc, x, a, b) * (2 / (b - a))[:, None]
    torch.testing.assert_close(an, fd, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(an, 1 / x, rtol=1e-3, atol=0)
    assert dc[..., -1].abs().max() == 0


@pytest.mark.parametrize("method", ["chebyshev", "taylor"])
def test_error_at_the_lower_end_is_the_sup_norm_error(method):
    from sbp.numerics.polynomials import log_polynomial, poly_error_at_lower, poly_error_bound
    kappas = torch.tensor([1.5, 3, 10, 1e2, 1e3, 1e4, 1e6, 1e8], dtype=torch.float64)
    for n in [1, 2, 5, 13, 30, 100, 200]:
        p = log_polynomial(method, n, 0.5 * torch.ones_like(kappas), 0.5 * kappas, torch.float64)
        grid, end = poly_error_bound(p, 4097), poly_error_at_lower(p)
        assert (end <= grid * (1 + 1e-9) + 1e-15).all()
        assert (grid <= end * (1 + 1e-6) + 1e-13).all(), (n, grid, end)  # equal up to rounding
