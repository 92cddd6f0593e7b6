"""sbp.numerics.density: Eq. 1-2 for linear maps, where log det(J^T J) is known."""
import math

import torch

import sbp
from helpers import designed_map

F64 = torch.float64


def test_log_normal_matches_torch_distributions():
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    ref = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=F64), torch.eye(3, dtype=F64)).log_prob(z)
    torch.testing.assert_close(sbp.log_normal(z), ref)


def test_pushforward_and_pullback_of_linear_maps():
    s = torch.tensor([2.0, 0.5, 1.5], dtype=F64)
    A = designed_map(s, 5)
    z = torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    logp, est = sbp.log_density_pushforward(lambda x: x @ A.T, z, method="exact")
    torch.testing.assert_close(logp, sbp.log_normal(z) - torch.log(s).sum())
    assert est.method == "exact"
    x = torch.randn(2, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    logq, _ = sbp.log_density_pullback(lambda y: y @ A[:3].T, x, method="exact")
    ld = torch.linalg.slogdet(A[:3].T @ A[:3])[1]
    torch.testing.assert_close(logq, sbp.log_normal(x @ A[:3].T) + 0.5 * ld)
    assert math.isfinite(logq.sum().item())
