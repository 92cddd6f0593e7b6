"""sbp.numerics.report: warnings give the count of rows, name the first ones and point at the caller; the
polynomial methods warn when their bias bound exceeds the standard error; ordinary uses stay silent."""
import math
import warnings

import pytest
import torch

import sbp
from sbp.numerics.report import describe_rows
from helpers import designed_map, mlp

F64 = torch.float64


def test_describe_rows_counts_and_names_the_first():
    assert describe_rows(torch.tensor([False, True, True])) == "2 of 3 rows (1, 2)"
    assert describe_rows(torch.ones(16, dtype=torch.bool)) == "16 of 16 rows (the first 8: 0, 1, 2, 3, 4, 5, 6, 7, ...)"


def ill_conditioned_metric(d=16, cond=1e8):
    s = torch.logspace(0, -0.5 * math.log10(cond), d, dtype=F64)
    A = designed_map(s, 2 * d)
    return (lambda x: x @ A.T), torch.zeros(1, d, dtype=F64), 2 * s.log().sum().item()


def test_chebyshev_far_off_on_an_ill_conditioned_metric_warns_and_its_bias_bound_covers_the_error():
    # before: about -93 +- 5 against -147, no warning
    f, z, truth = ill_conditioned_metric()
    with pytest.warns(RuntimeWarning, match=r"1 of 1 row \(0\): the chebyshev polynomial's bias bound"):
        est = sbp.logdet_metric(f, z, order=30, probes=8, generator=0)
    err = abs(est.logdet.item() - truth)
    assert err > 5 * est.stderr.item()  # the case: far off, by much more than stderr
    assert err <= est.bias_bound.item() + 4.5 * est.stderr.item()  # the bound accounts for it
    low, high = est.interval(0.95)
    assert not (low.item() <= truth <= high.item())  # the interval covers the probe variance only


def test_taylor_on_an_ill_conditioned_operator_warns():
    # before: -604 +- 5 against -921, no warning
    d = 200
    lam = torch.logspace(0, -4, d, dtype=F64)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(0), dtype=F64))
    S = Q @ torch.diag(lam) @ Q.T
    with pytest.warns(RuntimeWarning, match="taylor polynomial's bias bound"):
        est = sbp.logdet(lambda v: v @ S, d, method="taylor", generator=0)
    assert abs(est.logdet.item() - lam.log().sum().item()) <= est.bias_bound.item() + 4.5 * est.stderr.item()


@pytest.mark.parametrize("method", ["chebyshev", "taylor", "slq", "bidiag", "exact", "auto"])
def test_ordinary_well_conditioned_uses_raise_no_warning(method):
    f = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.Tanh(), torch.nn.Linear(64, 32)).double()
    z = torch.randn(4, 8, dtype=F64, generator=torch.Generator().manual_seed(0))
    order = 400 if method == "taylor" else 30  # Taylor converges slowly (README): at order 60 its bound is ~2
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sbp.logdet_metric(f, z, method=method, order=order, probes=16, generator=0)
        sbp.logdet_metric(mlp(8, 20, dtype=torch.float32), z.float(), method=method, order=order, probes=16,
                          generator=0)


def test_warnings_point_at_the_caller():
    f, z, _ = ill_conditioned_metric()
    for call in (lambda: sbp.logdet_metric(f, z, order=30, generator=0),
                 lambda: sbp.logdet(lambda v: v @ torch.diag(torch.logspace(0, -8, 16, dtype=F64)), 16, generator=0),
                 lambda: sbp.log_density_pushforward(f, z, order=30, generator=0)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert caught and all(w.filename == __file__ for w in caught), [(w.filename, w.lineno) for w in caught]


def test_unconverged_warning_counts_every_row():
    # before: "rows [0 ... 9]" when 16 failed
    f, _, _ = ill_conditioned_metric(d=32, cond=1e4)
    z = torch.zeros(16, 32, dtype=F64)
    first = r"16 of 16 rows \(the first 8: 0, 1, 2, 3, 4, 5, 6, 7, \.\.\.\): the tolerance"
    with pytest.warns(RuntimeWarning, match=first):
        est = sbp.logdet_metric(f, z, method="slq", rtol=1e-5, max_products=100, generator=0)
    assert not bool(est.converged.any())


def test_a_negligible_bias_bound_above_a_tiny_stderr_is_not_warned_about():
    # d = 2 (the 2-D fits): Hutchinson's stderr is near 0, the bound ~1e-7-1e-5 at every training step
    A = designed_map(torch.tensor([1.0, 0.7], dtype=F64), 2, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = sbp.logdet_metric(lambda x: x @ A.T, torch.zeros(4, 2, dtype=F64), order=10, probes=2, generator=0)
    assert (est.bias_bound < 1e-4).all()
