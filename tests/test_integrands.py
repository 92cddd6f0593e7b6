"""sbp.numerics.integrands: each integrand's per-probe values against v^T log(G) v of a dense reference."""
import torch

from sbp.numerics.integrands import bidiag_integrand, lanczos_integrand, polynomial_integrand
from sbp.numerics.polynomials import chebyshev_eval, chebyshev_log_coeffs
from sbp.numerics.tolerance import make_tolerance

F64 = torch.float64


def problem(d=8, D=12, seed=0):
    """J (D, d) with singular values 1 .. 0.1, G = J^T J, the probes V (5, 2, d) and v^T log(G) v (5, 2)."""
    g = torch.Generator().manual_seed(seed)
    U = torch.linalg.qr(torch.randn(D, d, generator=g, dtype=F64)).Q
    W = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64)).Q
    s = torch.logspace(0, -1, d, dtype=F64)
    J = U @ torch.diag(s) @ W.T
    G = J.T @ J
    L = torch.linalg.eigh(G)
    logG = L.eigenvectors @ torch.diag(L.eigenvalues.log()) @ L.eigenvectors.T
    V = torch.randint(0, 2, (5, 2, d), generator=g).to(F64) * 2 - 1
    return J, G, V, ((V @ logG) * V).sum(-1), L


def test_lanczos_integrand_with_d_steps_is_each_probes_quadratic_form():
    J, G, V, ref, _ = problem()
    integrand = lanczos_integrand(lambda v: v @ G, lambda v: v @ G, 8, steps=8, eps=0.0, lowmem=False, generator=None)
    blk, bias = integrand(V, None)
    torch.testing.assert_close(blk.values, ref, rtol=1e-9, atol=1e-9)
    assert bias is None and blk.products == 8 * 5 + 1  # no bound for a fixed budget; + lambda_max's product


def test_bidiag_integrand_with_d_steps_is_each_probes_quadratic_form_from_j():
    J, G, V, ref, _ = problem()
    integrand = bidiag_integrand(lambda v: v @ G, lambda v: v @ G, 8, steps=8, eps=0.0, lowmem=False, generator=None,
                                 jvp=lambda v: v @ J.T, vjp=lambda u: u @ J)
    blk, _ = integrand(V, None)
    torch.testing.assert_close(blk.values, ref, rtol=1e-9, atol=1e-9)


def test_polynomial_integrand_is_vt_p_of_g_v_and_its_bias_bounds_the_error():
    J, G, V, ref, L = problem()
    lo, hi = torch.full((2,), 0.009, dtype=F64), torch.full((2,), 1.1, dtype=F64)  # around [0.01, 1]
    integrand = polynomial_integrand(lambda v: v @ G, lambda v: v @ G, 8, method="chebyshev", order=20, probes=5,
                                     power_iters=6, lower=lo, upper=hi, eps=0.0, lowmem=False, generator=None)
    with torch.no_grad():
        blk, bias = integrand(V, None)
    c = chebyshev_log_coeffs(20, lo, hi)
    p = chebyshev_eval(c, L.eigenvalues.expand(2, 8), lo, hi)  # (B, d)
    pG = torch.einsum("ij,bj,kj->bik", L.eigenvectors, p, L.eigenvectors)
    torch.testing.assert_close(blk.values, torch.einsum("pbi,bik,pbk->pb", V, pG, V), rtol=1e-9, atol=1e-9)
    err = (blk.values - ref).abs()
    assert bool((err <= bias[None] * (1 + 1e-9)).all()) and bool((bias < 0.5).all())
    assert bool((err.amax(0) > 1e-3 * bias).all())  # the bound is not vacuous: the degree-20 error is visible


def test_lanczos_integrand_to_a_tolerance_stops_early_and_its_bracket_bounds_the_error():
    J, G, V, ref, L = problem(d=40, D=50)
    tol = make_tolerance(None, 0.05, 0.95, None, 40)
    lower = torch.full((2,), 0.9 * L.eigenvalues[0].item(), dtype=F64)  # a certified Gauss-Radau node
    integrand = lanczos_integrand(lambda v: v @ G, lambda v: v @ G, 40, steps=40, eps=0.0, lowmem=False,
                                  generator=None, tol=tol, lower=lower)
    blk, bias = integrand(V, None)
    assert blk.steps < 40  # the bracket fitted before the Krylov space was full
    assert bool(((blk.values - ref).abs().mean(0) <= bias * (1 + 1e-9)).all())
    assert bool((bias <= 0.25 * tol.target(ref.mean(0)) * 1.5).all())
