"""sbp.numerics.dense: the exact metric and its log det against autograd and torch.linalg; the singular rule."""
import math

import pytest
import torch

from sbp.numerics.dense import logdet_dense, metric_dense, singular_rows, singular_rtol
from helpers import mlp

F64 = torch.float64


def test_metric_dense_is_jtj_of_autograds_jacobian():
    f = mlp(4, 9)
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    G = metric_dense(f, z)
    for b in range(3):
        J = torch.autograd.functional.jacobian(lambda x: f(x[None])[0], z[b])
        torch.testing.assert_close(G[b], J.T @ J, rtol=1e-10, atol=1e-12)
    assert torch.equal(G, G.mT)


def test_logdet_dense_matches_slogdet_and_is_minus_inf_when_singular():
    M = torch.randn(2, 5, 5, generator=torch.Generator().manual_seed(1), dtype=F64)
    S = M @ M.mT + 0.1 * torch.eye(5, dtype=F64)
    torch.testing.assert_close(logdet_dense(S), torch.linalg.slogdet(S)[1])
    v = torch.ones(5, 1, dtype=F64)
    assert logdet_dense(v @ v.T).item() == -math.inf


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, (10 * 2 ** -23) ** 2), (F64, 10 * 2 ** -52)])
def test_singular_rule_is_10_eps_on_singular_values_or_float64s_gram(dtype, rtol):
    assert singular_rtol(dtype) == pytest.approx(rtol)
    lam = torch.tensor([[0.5 * rtol, 1.0], [2 * rtol, 1.0]], dtype=F64)
    assert singular_rows(lam, dtype).tolist() == [True, False]
