"""sbp.numerics.dense: the exact metric and its log det against autograd and torch.linalg."""
import math

import pytest
import torch

from sbp.numerics.dense import logdet_dense, metric_completing, metric_dense, metric_of
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


def test_metric_of_an_operator_and_its_completion_from_known_products_are_jtj():
    from sbp.numerics.jacobian import metric_operator
    f = mlp(4, 9)
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    op = metric_operator(f, z, jvp_mode="reverse")
    G = metric_of(op)
    torch.testing.assert_close(G, metric_dense(f, z), rtol=1e-12, atol=1e-12)
    V = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    Gc = metric_completing(op, V, op.jvp(V))  # Q^T G Q: the same spectrum
    torch.testing.assert_close(torch.linalg.eigvalsh(Gc), torch.linalg.eigvalsh(G), rtol=1e-10, atol=1e-12)
