"""sbp.numerics.estimators: one probe block of each method against dense references (no facade)."""
import torch

from sbp.numerics.estimators import krylov_block, polynomial_block
from sbp.numerics.polynomials import chebyshev_eval, chebyshev_log_coeffs

F64 = torch.float64


def problem(d=8, seed=0):
    Q = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=F64)).Q
    lam = torch.logspace(0, -2, d, dtype=F64)
    S = Q @ torch.diag(lam) @ Q.T
    V = torch.randint(0, 2, (5, 2, d), generator=torch.Generator().manual_seed(seed + 1)).to(F64) * 2 - 1
    return S, lam, V


def test_full_krylov_block_values_are_each_probes_exact_quadratic_form():
    S, lam, V = problem()
    L = torch.linalg.eigh(S)
    logS = L.eigenvectors @ torch.diag(L.eigenvalues.log()) @ L.eigenvectors.T
    blk = krylov_block(lambda v: v @ S, lambda v: v @ S, V, method="slq", steps=8, eps=0.0, lowmem=False, generator=None)
    torch.testing.assert_close(blk.values, ((V @ logS) * V).sum(-1), rtol=1e-9, atol=1e-9)
    assert blk.products == 8 * 5 + 1 and not bool(blk.singular.any()) and not bool(blk.unresolved.any())
    torch.testing.assert_close(blk.lower, lam.min().expand(2), rtol=1e-9, atol=0)


def test_polynomial_block_values_are_each_probes_vt_p_of_g_v():
    S, lam, V = problem()
    with torch.no_grad():
        blk, poly = polynomial_block(lambda v: v @ S, lambda v: v @ S, V, method="chebyshev", order=12, power_iters=8,
                                     lower=None, upper=None, eps=0.0, lowmem=False, generator=None)
    L = torch.linalg.eigh(S)
    c = chebyshev_log_coeffs(12, poly.a, poly.b)
    pl = chebyshev_eval(c, L.eigenvalues.expand(2, 8), poly.a, poly.b)  # (B, d): p(lambda_i) per row
    pS = torch.einsum("ij,bj,kj->bik", L.eigenvectors, pl, L.eigenvectors)
    ref = torch.einsum("pbi,bik,pbk->pb", V, pS, V)
    torch.testing.assert_close(blk.values, ref, rtol=1e-9, atol=1e-9)
    assert blk.products == 8 * 5  # no graph, order < 2 steps: the value comes from the Lanczos matrices
