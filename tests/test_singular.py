"""sbp.numerics.singular: a row is -inf only when J (or sbp.logdet's G) is singular to working precision,
always with a RuntimeWarning; below G's resolution it is finite and flagged; an indefinite G is an error."""
import math
import warnings

import pytest
import torch

import sbp
from helpers import designed_map

F64 = torch.float64
STOCHASTIC = ["chebyshev", "taylor", "slq", "bidiag"]


def moderately_ill_conditioned_float32():
    """d = 16, D = 64, singular values 1 .. 5e-4 (cond(J) = 2e3, cond(G) = 4e6 ~ 1 / (2 eps_32))."""
    s = torch.logspace(0, math.log10(5e-4), 16, dtype=F64)
    A = designed_map(s, 64).float()
    return (lambda x: x @ A.T), torch.zeros(4, 16), 2 * s.log().sum().item()


@pytest.mark.parametrize("method", STOCHASTIC + ["exact"])
def test_float32_cond_2e3_is_never_minus_inf_and_is_right_or_flagged(method):
    # before: chebyshev / slq -inf on 1 of 4 rows, bidiag on all 4, without a word
    f, z, truth = moderately_ill_conditioned_float32()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = sbp.logdet_metric(f, z, method=method, probes=16, generator=0)
    assert torch.isfinite(est.logdet).all(), est.logdet
    right = (est.logdet.double() - truth).abs() <= 4.5 * est.stderr.double() + 1e-3 * abs(truth)
    flagged = torch.zeros(4, dtype=torch.bool)
    if est.unresolved is not None:
        flagged |= est.unresolved
    if est.bias_bound is not None:
        flagged |= est.bias_bound > est.stderr
    assert (right | flagged).all(), (est.logdet, est.stderr, truth)
    if bool(flagged.any()):
        assert any(issubclass(w.category, RuntimeWarning) for w in caught)


@pytest.mark.parametrize("method", ["bidiag", "exact"])
def test_float32_cond_2e3_bidiag_and_exact_are_right_without_a_warning(method):
    f, z, truth = moderately_ill_conditioned_float32()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = sbp.logdet_metric(f, z, method=method, probes=64, generator=0)
    assert ((est.logdet.double() - truth).abs() <= 4.5 * est.stderr.double() + 1e-4 * abs(truth)).all()
    if method == "bidiag":
        assert not bool(est.unresolved.any())


def test_float32_slq_below_gs_resolution_is_flagged_unresolved():
    f, z, _ = moderately_ill_conditioned_float32()
    with pytest.warns(RuntimeWarning, match=r"of 4 rows .*below what products with G resolve in float32"):
        est = sbp.logdet_metric(f, z, method="slq", probes=256, generator=0)
    assert bool(est.unresolved.any()) and torch.isfinite(est.logdet).all()


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("method", STOCHASTIC + ["exact"])
def test_rank_deficient_rows_are_minus_inf_with_a_warning(method, dtype):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(64, 32, dtype=dtype, generator=g)
    A[:, 5] = A[:, 3]
    with pytest.warns(RuntimeWarning, match=r"2 of 2 rows \(0, 1\): log det is -inf: J is singular"):
        est = sbp.logdet_metric(lambda x: x @ A.T, torch.zeros(2, 32, dtype=dtype), method=method, generator=0)
    assert (est.logdet == -math.inf).all()


def spd(d, lam, seed=0):
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=F64))
    return Q @ torch.diag(lam) @ Q.T


@pytest.mark.parametrize("method", ["chebyshev", "taylor", "slq", "exact", "auto"])
def test_indefinite_operator_is_an_error(method):
    # before: -inf for every method, exact included
    S = spd(12, torch.linspace(-1.0, 2.0, 12, dtype=F64))
    with pytest.raises(ValueError, match="not positive definite"):
        sbp.logdet(lambda v: v @ S, 12, method=method, generator=0)


def test_asymmetric_operator_is_an_error_for_exact():
    M = torch.eye(6, dtype=F64) + torch.triu(torch.ones(6, 6, dtype=F64), 1)
    with pytest.raises(ValueError, match="not symmetric"):
        sbp.logdet(lambda v: v @ M, 6, method="exact")


def test_singular_operator_is_minus_inf_with_a_warning_and_damping_makes_it_finite():
    S = spd(10, torch.cat([torch.zeros(1, dtype=F64), torch.linspace(0.5, 2.0, 9, dtype=F64)]))
    for method in ["chebyshev", "slq", "exact"]:
        with pytest.warns(RuntimeWarning, match="G is singular"):
            est = sbp.logdet(lambda v: v @ S, 10, method=method, generator=0)
        assert est.logdet.item() == -math.inf
        assert math.isfinite(sbp.logdet(lambda v: v @ S, 10, method=method, generator=0, damping=1e-3).logdet.item())


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, (10 * 2 ** -23) ** 2), (F64, 10 * 2 ** -52)])
def test_singular_rule_is_10_eps_on_singular_values_or_float64s_gram(dtype, rtol):
    from sbp.numerics.singular import singular_rows, singular_rtol
    assert singular_rtol(dtype) == pytest.approx(rtol) == singular_rtol(dtype, of="J")
    lam = torch.tensor([[0.5 * rtol, 1.0], [2 * rtol, 1.0]], dtype=F64)
    assert singular_rows(lam, dtype).tolist() == [True, False]



@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_singular_rule_on_gs_own_products_is_10_eps(dtype):
    from sbp.numerics.singular import resolution, singular_rows, singular_rtol
    tau = 10 * torch.finfo(dtype).eps
    assert singular_rtol(dtype, of="G") == tau == resolution(dtype)
    lam = torch.tensor([[0.5 * tau, 1.0], [2 * tau, 1.0]], dtype=F64)
    assert singular_rows(lam, dtype, of="G").tolist() == [True, False]
    with pytest.raises(ValueError, match="of must be"):
        singular_rtol(dtype, of="J^T J")
