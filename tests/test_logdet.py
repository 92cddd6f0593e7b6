import math

import pytest
import torch
from torch import nn

import sbp
from sbp.numerics.polynomials import chebyshev_eval, chebyshev_log_coeffs
from helpers import designed_map, mlp, zscores

F64 = torch.float64


def linear(A):
    return lambda z: z @ A.T


def poly_expectation(est, lam):
    """E over probes of the estimate with the interval it used: sum_i p(lambda_i)."""
    c = chebyshev_log_coeffs(est.order, est.lower, est.upper)
    return chebyshev_eval(c, lam, est.lower, est.upper).sum(-1)


@pytest.mark.parametrize("kappa", [10.0, 1e2, 1e4])
def test_chebyshev_designed_spectra_unbiased_and_accurate(kappa):
    d, D = 24, 40
    s = torch.logspace(0, -0.5 * math.log10(kappa), d, dtype=F64)  # cond(J^T J) = kappa
    A = designed_map(s, D)
    z = torch.zeros(1, d, dtype=F64)
    truth = 2 * torch.log(s).sum()
    order = {10.0: 20, 1e2: 60, 1e4: 300}[kappa]
    est = sbp.logdet_metric(linear(A), z, order=order, probes=400, generator=0)
    # 1. Hutchinson is unbiased for tr p(G): the z-score against sum_i p(lambda_i) is N(0,1)
    p_true = poly_expectation(est, (s ** 2)[None])
    assert abs((est.logdet - p_true).item()) < 4.5 * est.stderr.item()
    # 2. the polynomial (with the estimated interval) is accurate at this order
    assert abs((p_true - truth).item()) < 1e-3 * abs(truth.item()) + 1e-3
    # 3. hence the estimate itself
    assert abs((est.logdet - truth).item()) < 4.5 * est.stderr.item() + 1e-3 * abs(truth.item()) + 1e-3


def test_taylor_designed_spectrum_converges_from_above():
    d, D = 16, 20
    s = torch.linspace(1.0, 0.5, d, dtype=F64)  # cond 4: Taylor converges quickly
    A = designed_map(s, D, seed=1)
    z = torch.zeros(2, d, dtype=F64)
    truth = 2 * torch.log(s).sum()
    prev = None
    for order in (5, 20, 80):
        est = sbp.logdet_metric(linear(A), z, method="taylor", order=order, probes=1, generator=0,
                                lower=None)
        # with the same probes the truncation only removes positive terms: monotone decreasing
        if prev is not None:
            assert (est.logdet <= prev + 1e-12).all()
        prev = est.logdet
    est = sbp.logdet_metric(linear(A), z, method="taylor", order=80, probes=600, generator=1)
    assert (est.logdet - truth).abs().max() < 4.5 * est.stderr.max() + 1e-6


@pytest.mark.parametrize("method", ["chebyshev", "taylor"])
def test_nonlinear_map_against_exact(method):
    d, D, B = 5, 12, 4
    f = mlp(d, D)
    z = torch.randn(B, d, generator=torch.Generator().manual_seed(3), dtype=F64)
    exact = sbp.logdet_metric(f, z, method="exact")
    order = 80 if method == "chebyshev" else 400
    est = sbp.logdet_metric(f, z, method=method, order=order, probes=800, generator=0)
    z_score = (est.logdet - exact.logdet) / est.stderr
    assert z_score.abs().max() < 4.5, z_score
    torch.testing.assert_close(est.lambda_max, exact.lambda_max, rtol=1e-8, atol=0)  # d <= power_iters


def test_exact_matches_torch_logdet_and_eigvalsh():
    A = designed_map(torch.tensor([3.0, 1.0, 0.2], dtype=F64), 7)
    est = sbp.logdet_metric(linear(A), torch.zeros(2, 3, dtype=F64), method="exact")
    torch.testing.assert_close(est.logdet, torch.logdet(A.T @ A).expand(2))
    torch.testing.assert_close(est.lambda_max, torch.tensor([9.0, 9.0], dtype=F64))


def test_parameter_gradient_unbiased_against_analytic():
    """d/dA log det(A^T A) = 2 A (A^T A)^{-1} (Jacobi's formula); mean over seeds within standard errors."""
    d, D = 4, 7
    A0 = designed_map(torch.tensor([1.5, 1.0, 0.8, 0.6], dtype=F64), D, seed=2)
    truth = 2 * A0 @ torch.linalg.inv(A0.T @ A0)
    grads = []
    for seed in range(60):
        A = A0.clone().requires_grad_(True)
        est = sbp.logdet_metric(linear(A), torch.zeros(1, d, dtype=F64), order=40, probes=2, generator=seed)
        (g,) = torch.autograd.grad(est.logdet.sum(), A)
        grads.append(g)
    zs = zscores(torch.stack(grads), truth)
    assert zs.abs().max() < 4.5, zs
    # not trivially true: the gradients really vary from seed to seed
    assert torch.stack(grads).std(0).max() > 1e-3


def test_input_gradient_unbiased_against_exact():
    d, D = 3, 6
    f = mlp(d, D, seed=1)
    z0 = torch.randn(2, d, generator=torch.Generator().manual_seed(0), dtype=F64)
    z = z0.clone().requires_grad_(True)
    (truth,) = torch.autograd.grad(sbp.logdet_metric(f, z, method="exact").logdet.sum(), z)
    grads = []
    for seed in range(60):
        z = z0.clone().requires_grad_(True)
        est = sbp.logdet_metric(f, z, order=60, probes=2, generator=seed)
        (g,) = torch.autograd.grad(est.logdet.sum(), z)
        grads.append(g)
    zs = zscores(torch.stack(grads), truth)
    assert zs.abs().max() < 4.5, zs


def test_lambda_max_gradient_is_top_eigenvector_derivative():
    # d lambda_max(A^T A) / dA = 2 A u u^T, u the top eigenvector of A^T A
    A0 = designed_map(torch.tensor([2.0, 1.0, 0.5], dtype=F64), 5, seed=4)
    A = A0.clone().requires_grad_(True)
    est = sbp.logdet_metric(linear(A), torch.zeros(1, 3, dtype=F64), order=10, probes=2, generator=0)
    (g,) = torch.autograd.grad(est.lambda_max.sum(), A)
    ev, U = torch.linalg.eigh(A0.T @ A0)
    u = U[:, -1:]
    torch.testing.assert_close(g, 2 * A0 @ u @ u.T, rtol=1e-7, atol=1e-9)
    assert est.lambda_max.item() == pytest.approx(4.0, rel=1e-10)


def test_same_generator_same_number_other_seed_other_number():
    f = mlp(6, 10)
    z = torch.randn(3, 6, dtype=F64, generator=torch.Generator().manual_seed(1))
    a = sbp.logdet_metric(f, z, order=10, probes=3, generator=torch.Generator().manual_seed(5)).logdet
    b = sbp.logdet_metric(f, z, order=10, probes=3, generator=5).logdet
    c = sbp.logdet_metric(f, z, order=10, probes=3, generator=6).logdet
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_forward_and_reverse_jvp_modes_give_the_same_estimate():
    f = mlp(6, 10)
    z = torch.randn(3, 6, dtype=F64, generator=torch.Generator().manual_seed(1))
    a = sbp.logdet_metric(f, z, order=15, probes=4, generator=2, jvp_mode="forward")
    b = sbp.logdet_metric(f, z, order=15, probes=4, generator=2, jvp_mode="reverse")
    torch.testing.assert_close(a.logdet, b.logdet)
    torch.testing.assert_close(a.lambda_max, b.lambda_max)


def test_float32_accuracy_and_dtype():
    f = mlp(8, 20, dtype=torch.float32)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    est = sbp.logdet_metric(f, z, order=40, probes=400, generator=0)
    exact = sbp.logdet_metric(f, z, method="exact")
    assert est.logdet.dtype == torch.float32 and exact.logdet.dtype == torch.float32
    assert ((est.logdet - exact.logdet).abs() < 4.5 * est.stderr + 1e-3 * exact.logdet.abs()).all()


def test_rows_are_independent_samples():
    f = mlp(5, 9)
    z = torch.randn(3, 5, dtype=F64, generator=torch.Generator().manual_seed(2))
    full = sbp.logdet_metric(f, z, method="exact").logdet
    for i in range(3):
        torch.testing.assert_close(sbp.logdet_metric(f, z[i:i + 1], method="exact").logdet, full[i:i + 1])


def test_image_shaped_outputs():
    conv = nn.Sequential(nn.Linear(4, 2 * 4 * 4), nn.Unflatten(1, (2, 4, 4)), nn.LeakyReLU(0.2),
                         nn.ConvTranspose2d(2, 3, 4, 2, 1), nn.Tanh()).double()
    z = torch.randn(2, 4, dtype=F64, generator=torch.Generator().manual_seed(0))
    exact = sbp.logdet_metric(conv, z, method="exact")
    est = sbp.logdet_metric(conv, z, order=60, probes=600, generator=0)
    assert ((est.logdet - exact.logdet).abs() < 4.5 * est.stderr).all()


def test_generic_operator_api():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(10, 10, generator=g, dtype=F64)
    S = M @ M.T + 0.5 * torch.eye(10, dtype=F64)
    truth = torch.logdet(S)
    exact = sbp.logdet(lambda v: v @ S, 10, method="exact")
    torch.testing.assert_close(exact.logdet, truth.reshape(1))
    est = sbp.logdet(lambda v: v @ S, 10, order=80, probes=500, generator=0)
    assert abs((est.logdet - truth).item()) < 4.5 * est.stderr.item()
    assert est.products == (10 + 80) * 500 + 1  # per probe: Lanczos steps capped at dim, order; 1 Rayleigh quotient


def test_paper_fixed_lower_bound_is_used():
    A = designed_map(torch.tensor([1.0, 0.5, 0.3], dtype=F64), 4)
    est = sbp.logdet_metric(linear(A), torch.zeros(1, 3, dtype=F64), lower=1e-3, generator=0)
    assert est.lower.item() == pytest.approx(1e-3)
    assert est.upper.item() >= 1.0 - 1e-9


# ---- bad input -------------------------------------------------------------------

def f_ok(z):
    return torch.cat([z, z ** 2], dim=1)


@pytest.mark.parametrize("z,err,match", [
    (torch.zeros(3), ValueError, "2-D"),
    (torch.zeros(2, 2, 2), ValueError, "2-D"),
    (torch.tensor([[0.0, float("nan")]]), ValueError, "non-finite"),
    (torch.tensor([[0.0, float("inf")]]), ValueError, "non-finite"),
    (torch.zeros(2, 3, dtype=torch.int64), TypeError, "float32 or float64"),
    ([[0.0, 1.0]], TypeError, "torch.Tensor"),
])
def test_bad_z(z, err, match):
    with pytest.raises(err, match=match):
        sbp.logdet_metric(f_ok, z)


@pytest.mark.parametrize("kw,err,match", [
    (dict(order=0), ValueError, "order"),
    (dict(probes=0), ValueError, "probes"),
    (dict(power_iters=0), ValueError, "power_iters"),
    (dict(order=2.5), TypeError, "order"),
    (dict(method="lanczos-magic"), ValueError, "unknown method"),
    (dict(lower=2.0, upper=1.0), ValueError, "lower must be < upper"),
    (dict(lower=-1.0), ValueError, "lower"),
    (dict(upper=float("nan")), ValueError, "upper"),
    (dict(jvp_mode="sideways"), ValueError, "jvp_mode"),
    (dict(generator="seed"), TypeError, "generator"),
])
def test_bad_options(kw, err, match):
    with pytest.raises(err, match=match):
        sbp.logdet_metric(f_ok, torch.ones(2, 2), **kw)


def test_output_smaller_than_input_is_rejected():
    with pytest.raises(ValueError, match="smaller than its input dimension"):
        sbp.logdet_metric(lambda z: z[:, :2], torch.ones(2, 3))


def test_non_finite_output_is_rejected():
    with pytest.raises(ValueError, match="non-finite output"):
        sbp.logdet_metric(lambda z: torch.log(z - 1).repeat(1, 2), torch.zeros(2, 2))


def test_wrong_number_of_rows_is_rejected():
    with pytest.raises(ValueError, match="rows"):
        sbp.logdet_metric(lambda z: z.reshape(1, -1), torch.ones(2, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    f = mlp(5, 9)
    z = torch.randn(3, 5, dtype=F64, generator=torch.Generator().manual_seed(2))
    cpu = sbp.logdet_metric(f, z, method="exact").logdet
    gpu = sbp.logdet_metric(f.cuda(), z.cuda(), order=60, probes=400, generator=0)
    assert gpu.logdet.device.type == "cuda" and gpu.lambda_max.device.type == "cuda"
    assert ((gpu.logdet.cpu() - cpu).abs() < 4.5 * gpu.stderr.cpu()).all()


@pytest.mark.parametrize("spectrum", ["log-spaced", "uniform"])
def test_estimated_interval_is_accurate_at_condition_1e4_when_lanczos_has_not_converged(spectrum):
    """d = 150 > power_iters = 20: the bottom of the interval is the guarded Ritz value."""
    d = 150
    lam = (torch.logspace(0, -4, d, dtype=F64) if spectrum == "log-spaced"
           else torch.linspace(1, 1e-4, d, dtype=F64))
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(0), dtype=F64))
    S = Q @ torch.diag(lam) @ Q.T  # rotated, so that Rademacher probes are not exact
    est = sbp.logdet(lambda v: v @ S, d, order=300, probes=64, power_iters=20, generator=0)
    truth = lam.log().sum()
    p_true = poly_expectation(est, lam[None])
    assert abs((p_true - truth).item()) < 1e-3 * abs(truth.item())  # polynomial + interval
    assert abs((est.logdet - p_true).item()) < 4.5 * est.stderr.item()  # Hutchinson, unbiased


@pytest.mark.parametrize("method", ["chebyshev", "taylor"])
@pytest.mark.parametrize("order", [7, 19, 25])
def test_value_without_graph_from_lanczos_quadrature_equals_the_recurrence(method, order):
    # without a graph the value is d e1^T p(T) e1 from the Lanczos runs that gave the interval
    # (exact for order < 2 power_iters); with a graph it is the recurrence over the probes; order
    # 25 >= 2 * 10 takes the recurrence in both cases
    f = mlp(40, 60)
    z = torch.randn(2, 40, dtype=F64, generator=torch.Generator().manual_seed(3))
    kw = dict(method=method, order=order, probes=3, power_iters=10, generator=4)
    with torch.no_grad():
        fast = sbp.logdet_metric(f, z, **kw)
    slow = sbp.logdet_metric(f, z, **kw)
    assert slow.logdet.requires_grad and not fast.logdet.requires_grad
    torch.testing.assert_close(fast.logdet, slow.logdet.detach(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fast.lambda_max, slow.lambda_max.detach(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fast.stderr, slow.stderr, rtol=1e-8, atol=1e-10)
    assert fast.products == 3 * (10 + (order if order >= 20 else 0))  # 3 probes: Lanczos (+ recurrence)
    assert slow.products == 3 * (10 + order) + 1  # Lanczos, recurrence, one Rayleigh quotient with a graph
