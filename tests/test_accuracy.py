import pytest
import torch

from sbp.accuracy import error_sweep, relative_error


def test_relative_error_guards_small_values():
    est = torch.tensor([1.1, 0.2, -30.0])
    exact = torch.tensor([1.0, 0.0, -20.0])
    torch.testing.assert_close(relative_error(est, exact), torch.tensor([0.1, 0.2, 0.5]))


def test_error_sweep_decreases_with_order_on_a_linear_map():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(12, 6, generator=g, dtype=torch.float64)
    z = torch.zeros(2, 6, dtype=torch.float64)
    rows = error_sweep(lambda z: z @ A.T, z, methods=["chebyshev"], orders=[2, 40], probes=64, seeds=[0, 1])
    assert [r["order"] for r in rows] == [2, 40]
    assert rows[1]["rel_error"] < rows[0]["rel_error"]
    assert rows[1]["products"] == 6 + 1 + 40
    assert all(r["probe_noise"] > 0 for r in rows)
