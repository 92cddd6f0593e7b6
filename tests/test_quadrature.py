"""SLQ and Golub-Kahan quadrature, damping and the low-memory gradient."""
import math

import pytest
import torch

import sbp
from sbp.numerics.quadrature import _divided_log, bidiag_quadrature, lanczos_quadrature, quad_log, quad_log_gram
from helpers import designed_map, mlp, zscores

F64 = torch.float64


def linear(A):
    return lambda z: z @ A.T


def logm_quadratic(G, V):
    """v^T log(G) v densely, V: (P, B, d), G: (d, d)."""
    ev, U = torch.linalg.eigh(G)
    L = U @ torch.diag(torch.log(ev)) @ U.T
    return torch.einsum("pbi,ij,pbj->pb", V, L, V)


def spd(k, seed):
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(k, k, generator=g, dtype=F64)
    return M @ M.T + 0.5 * torch.eye(k, dtype=F64)


def test_quad_log_value_and_gradcheck():
    T = spd(5, 0)
    ev, U = torch.linalg.eigh(T)
    torch.testing.assert_close(quad_log(T), (U[0] ** 2 * torch.log(ev)).sum())
    Bm = torch.triu(torch.randn(4, 4, dtype=F64, generator=torch.Generator().manual_seed(1))) + 3 * torch.eye(4, dtype=F64)
    torch.testing.assert_close(quad_log_gram(Bm), quad_log(Bm.T @ Bm))
    sym = lambda X: quad_log((X + X.T) / 2)  # noqa: E731
    assert torch.autograd.gradcheck(sym, (T.clone().requires_grad_(True),))
    assert torch.autograd.gradcheck(quad_log_gram, (Bm.clone().requires_grad_(True),))


def test_quad_log_gradient_finite_at_repeated_eigenvalues():
    T = 2 * torch.eye(4, dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(quad_log(T), T)
    expected = torch.zeros(4, 4, dtype=F64)
    expected[0, 0] = 0.5  # d e1^T log(T) e1 = e1^T T^{-1} dT e1 at T = 2I
    torch.testing.assert_close(g, expected)



def test_float32_loewner_matrix_is_accurate_when_ritz_values_span_many_decades():
    # F_ij = (log th_i - log th_j) / (th_i - th_j) of the quadrature's backward: log1p(th_i / th_j - 1)
    # lost the digits of a small ratio to rounding (1e-7 in float32: log1p(-1) = -inf, a NaN gradient)
    theta = torch.tensor([1e-8, 3e-7, 1e-5, 1e-3, 0.5, 1.0, 1.0 + 1e-6, 40.0], dtype=torch.float32)
    F32 = _divided_log(theta).double()
    F64 = _divided_log(theta.double())
    assert torch.isfinite(F32).all()
    torch.testing.assert_close(F32, F64, rtol=1e-5, atol=0)


def test_float32_golub_kahan_gradient_is_finite_and_right_when_singular_values_span_decades():
    # B^T B from 40 down to 1e-8 (cond(J) ~ 6e4: resolvable in J, not in G = J^T J): the gradient was NaN
    g = torch.Generator().manual_seed(3)
    U = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=F64))[0]
    Bm64 = torch.diag(torch.tensor([6.3, 3.0, 1.0, 1e-1, 1e-3, 1e-4], dtype=F64)) @ U.T
    grads = []
    for dtype in (torch.float32, F64):
        B = Bm64.to(dtype).requires_grad_(True)
        (gr,) = torch.autograd.grad(quad_log_gram(B), B)
        grads.append(gr.double())
    assert torch.isfinite(grads[0]).all()
    # float32's own limit: the SVD's small singular vectors are good to eps * cond(B) ~ 8e-3
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-2 * grads[1].abs().max().item())


@pytest.mark.parametrize("spectrum", ["kappa10", "kappa1e4", "repeated"])
def test_full_krylov_quadrature_is_exact_per_probe(spectrum):
    """With order = d both recurrences give v^T log(G) v exactly, probe by probe."""
    d, D = 16, 24
    s = {"kappa10": torch.logspace(0, -0.5, d, dtype=F64), "kappa1e4": torch.logspace(0, -2, d, dtype=F64),
         "repeated": torch.tensor([1.0] * 8 + [0.5] * 8, dtype=F64)}[spectrum]
    A = designed_map(s, D)
    G = A.T @ A
    V = sbp.numerics.trace.rademacher((5, 2, d), generator=torch.Generator().manual_seed(0), dtype=F64, device="cpu")
    ref = logm_quadratic(G, V)
    slq = lanczos_quadrature(lambda v: v @ G, V, d, generator=torch.Generator().manual_seed(1))
    gk = bidiag_quadrature(lambda v: v @ A.T, lambda u: u @ A, V, d, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(slq.values, ref, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(gk.values, ref, rtol=1e-8, atol=1e-8)
    assert slq.solve is None and gk.solve is None  # only computed on request
    sol = lanczos_quadrature(lambda v: v @ G, V, d, need_solve=True, generator=torch.Generator().manual_seed(1)).solve
    torch.testing.assert_close(sol, torch.linalg.solve(G, V.reshape(-1, d).T).T.reshape(V.shape))


def test_lanczos_restart_on_repeated_spectrum_survives_every_restart_vector():
    # the restart generator repeats the probes' draws: the first restart vector lies in the Krylov
    # space (it once gave NaN and a LAPACK failure); it must be redrawn
    d, D = 16, 24
    A = designed_map(torch.tensor([1.0] * 8 + [0.5] * 8, dtype=F64), D)
    G = A.T @ A
    V = sbp.numerics.trace.rademacher((5, 2, d), generator=torch.Generator().manual_seed(0), dtype=F64, device="cpu")
    quad = lanczos_quadrature(lambda v: v @ G, V, d, need_solve=True, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(quad.values, logm_quadratic(G, V), rtol=1e-8, atol=1e-8)
    assert torch.isfinite(quad.solve).all()


@pytest.mark.parametrize("method", ["slq", "bidiag"])
def test_nonlinear_map_against_exact(method):
    d, D, B = 6, 12, 4
    f = mlp(d, D)
    z = torch.randn(B, d, generator=torch.Generator().manual_seed(3), dtype=F64)
    exact = sbp.logdet_metric(f, z, method="exact")
    est = sbp.logdet_metric(f, z, method=method, order=6, probes=400, generator=0)
    z_score = (est.logdet - exact.logdet) / est.stderr
    assert z_score.abs().max() < 4.5, z_score
    torch.testing.assert_close(est.lambda_max, exact.lambda_max, rtol=1e-8, atol=0)
    assert est.products == 6 * 400 + 1 and est.order == 6  # 6 steps per probe, one Rayleigh quotient


@pytest.mark.parametrize("method", ["slq", "bidiag"])
def test_truncated_quadrature_designed_spectrum(method):
    """order < d: Gauss quadrature converges fast on a well-conditioned spectrum."""
    d, D = 40, 50
    s = torch.logspace(0, -0.5, d, dtype=F64)  # cond(G) = 10
    A = designed_map(s, D, seed=3)
    truth = 2 * torch.log(s).sum()
    est = sbp.logdet_metric(linear(A), torch.zeros(1, d, dtype=F64), method=method, order=12, probes=300,
                            generator=0)
    assert abs((est.logdet - truth).item()) < 4.5 * est.stderr.item()


@pytest.mark.parametrize("method,grad_mode", [("slq", "backprop"), ("bidiag", "backprop"), ("slq", "lowmem"),
                                              ("bidiag", "lowmem"), ("chebyshev", "lowmem"), ("taylor", "lowmem")])
def test_parameter_gradient_unbiased(method, grad_mode):
    """d/dA log det(A^T A) = 2 A (A^T A)^{-1}: the mean over seeds is within standard errors."""
    d, D = 4, 7
    A0 = designed_map(torch.tensor([1.5, 1.0, 0.8, 0.6], dtype=F64), D, seed=2)
    truth = 2 * A0 @ torch.linalg.inv(A0.T @ A0)
    order = {"slq": 4, "bidiag": 4, "chebyshev": 30, "taylor": 120}[method]  # cond 6.25: converged
    grads = []
    for seed in range(60):
        A = A0.clone().requires_grad_(True)
        est = sbp.logdet_metric(linear(A), torch.zeros(1, d, dtype=F64), method=method, order=order, probes=2,
                                generator=seed, grad_mode=grad_mode)
        (g,) = torch.autograd.grad(est.logdet.sum(), A)
        grads.append(g)
    zs = zscores(torch.stack(grads), truth)
    assert zs.abs().max() < 4.5, zs
    assert torch.stack(grads).std(0).max() > 1e-3


@pytest.mark.parametrize("method", ["chebyshev", "slq", "bidiag"])
def test_lowmem_input_gradient_unbiased_and_same_value(method):
    d, D = 3, 6
    f = mlp(d, D, seed=1)
    z0 = torch.randn(2, d, generator=torch.Generator().manual_seed(0), dtype=F64)
    z = z0.clone().requires_grad_(True)
    (truth,) = torch.autograd.grad(sbp.logdet_metric(f, z, method="exact").logdet.sum(), z)
    order = {"slq": 3, "bidiag": 3, "chebyshev": 40}[method]
    grads = []
    for seed in range(30):
        z = z0.clone().requires_grad_(True)
        est = sbp.logdet_metric(f, z, method=method, order=order, probes=2, generator=seed, grad_mode="lowmem")
        ref = sbp.logdet_metric(f, z0, method=method, order=order, probes=2, generator=seed)
        torch.testing.assert_close(est.logdet.detach(), ref.logdet, rtol=1e-10, atol=1e-10)
        (g,) = torch.autograd.grad(est.logdet.sum(), z)
        grads.append(g)
    zs = zscores(torch.stack(grads), truth)
    assert zs.abs().max() < 4.5, zs
    assert est.products == ref.products + 2 and est.grad_mode == "lowmem"  # the surrogate w^T G v of 2 probes


def test_lowmem_taylor_same_value_and_products():
    f = mlp(3, 6, seed=1)
    z = torch.randn(2, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    a = sbp.logdet_metric(f, z, method="taylor", order=30, probes=3, generator=4, grad_mode="lowmem")
    b = sbp.logdet_metric(f, z, method="taylor", order=30, probes=3, generator=4)
    torch.testing.assert_close(a.logdet, b.logdet, rtol=1e-12, atol=1e-12)
    assert a.products == b.products + 3  # the surrogate product w^T G v of each of the 3 probes


# ---- damping -------------------------------------------------------------------

def rank_deficient(z):
    """J has rank 2 < d = 3: J^T J is singular."""
    return torch.cat([z[:, :2], z[:, :2] ** 2, z[:, :2].sum(1, keepdim=True)], dim=1) @ torch.ones(5, 3, dtype=z.dtype)


def test_exact_damping_value_and_bias():
    A = designed_map(torch.tensor([2.0, 1.0, 0.1], dtype=F64), 5)
    G = A.T @ A
    est = sbp.logdet_metric(linear(A), torch.zeros(1, 3, dtype=F64), method="exact", damping=0.05)
    torch.testing.assert_close(est.logdet, torch.logdet(G + 0.05 * torch.eye(3, dtype=F64)).reshape(1))
    torch.testing.assert_close(est.damping_bias, (est.logdet - torch.logdet(G)).detach())
    assert est.damping == 0.05 and (est.damping_bias > 0).all()
    und = sbp.logdet_metric(linear(A), torch.zeros(1, 3, dtype=F64), method="exact")
    assert und.damping == 0.0 and torch.equal(und.damping_bias, torch.zeros(1, dtype=F64))


@pytest.mark.parametrize("method", ["chebyshev", "slq", "bidiag"])
def test_damping_on_a_singular_metric(method):
    z = torch.randn(2, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    exact = sbp.logdet_metric(rank_deficient, z, method="exact", damping=1e-2)
    assert torch.isfinite(exact.logdet).all()
    est = sbp.logdet_metric(rank_deficient, z, method=method, order=3 if method != "chebyshev" else 100,
                            probes=400, generator=0, damping=1e-2)
    assert ((est.logdet - exact.logdet).abs() < 4.5 * est.stderr + 1e-3 * exact.logdet.abs()).all()
    assert est.damping == 1e-2 and (est.damping_bias > 0).all()


def test_damped_stochastic_bias_estimate_bounds_the_true_bias_on_designed_spectrum():
    s = torch.tensor([1.0, 0.6, 0.3, 0.2], dtype=F64)
    A = designed_map(s, 6)
    eps = 1e-2
    true_bias = torch.log1p(eps / s ** 2).sum()
    est = sbp.logdet_metric(linear(A), torch.zeros(1, 4, dtype=F64), method="slq", order=4, probes=4,
                            generator=0, damping=eps)
    # order = d: the bottom Ritz value is lambda_min, so d log(1 + eps/lambda_min) bounds the bias
    assert est.damping_bias.item() >= true_bias.item()
    assert est.damping_bias.item() == pytest.approx(4 * math.log1p(eps / 0.04), rel=1e-8)


# ---- bad input -------------------------------------------------------------------

def test_bidiag_needs_separate_products():
    with pytest.raises(ValueError, match="bidiag"):
        sbp.logdet(lambda v: v, 3, method="bidiag")


@pytest.mark.parametrize("kw,err,match", [
    (dict(damping=-1.0), ValueError, "damping"),
    (dict(damping=float("nan")), ValueError, "damping"),
    (dict(damping="a"), TypeError, "damping"),
    (dict(grad_mode="fast"), ValueError, "grad_mode"),
])
def test_bad_options(kw, err, match):
    with pytest.raises(err, match=match):
        sbp.logdet_metric(lambda z: torch.cat([z, z ** 2], 1), torch.ones(2, 2), **kw)


# ---- Hutch++ ---------------------------------------------------------------------

def test_hutchpp_unbiased_and_exact_when_sketch_spans_the_space():
    d, D = 6, 8
    A0 = designed_map(torch.tensor([1.5, 1.0, 0.8, 0.6, 0.3, 0.2], dtype=F64), D, seed=2)
    truth = 2 * A0 @ torch.linalg.inv(A0.T @ A0)
    grads = []
    for seed in range(40):
        A = A0.clone().requires_grad_(True)
        est = sbp.logdet_metric(linear(A), torch.zeros(1, d, dtype=F64), order=60, probes=3, generator=seed,
                                variance_reduction="hutchpp")
        (g,) = torch.autograd.grad(est.logdet.sum(), A)
        grads.append(g)
    zs = zscores(torch.stack(grads), truth)
    assert zs.abs().max() < 4.5, zs
    assert est.variance_reduction == "hutchpp"
    # a sketch of d vectors spans R^d: the deflated trace is the whole trace, no variance left
    exact = sbp.logdet_metric(linear(A0), torch.zeros(1, d, dtype=F64), method="exact").logdet
    full = sbp.logdet_metric(linear(A0), torch.zeros(1, d, dtype=F64), order=60, probes=3 * d, generator=0,
                             variance_reduction="hutchpp")
    torch.testing.assert_close(full.logdet, exact, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(method="slq"), dict(grad_mode="lowmem"), dict(probes=2),
                                dict(variance_reduction="magic")])
def test_hutchpp_bad_options(kw):
    opts = dict(variance_reduction="hutchpp", probes=6) | kw
    with pytest.raises(ValueError, match="hutchpp|variance_reduction"):
        sbp.logdet_metric(lambda z: torch.cat([z, z ** 2], 1), torch.ones(2, 2), **opts)


def test_auto_picks_exact_for_small_latents_and_the_estimator_for_large():
    from sbp.numerics.logdet import auto_method
    assert auto_method(8, order=20, probes=4, power_iters=20) == "exact"
    assert auto_method(10**6, order=20, probes=4, power_iters=20) == "chebyshev"
    f = mlp(4, 8)
    z = torch.randn(2, 4, dtype=F64, generator=torch.Generator().manual_seed(0))
    est = sbp.logdet_metric(f, z, method="auto")
    assert est.method == "exact"
    torch.testing.assert_close(est.logdet, sbp.logdet_metric(f, z, method="exact").logdet)
    assert sbp.logdet(lambda v: 2 * v, 3, method="auto").method == "exact"
    big = sbp.logdet(lambda v: 2 * v, 200, method="auto", order=5, probes=2, power_iters=2, generator=0)
    assert big.method == "chebyshev"
