import pytest
import torch

from sbp.numerics.errors import relative_error


def test_relative_error_guards_small_values():
    est = torch.tensor([1.1, 0.2, -30.0])
    exact = torch.tensor([1.0, 0.0, -20.0])
    torch.testing.assert_close(relative_error(est, exact), torch.tensor([0.1, 0.2, 0.5]))


def test_relative_error_batch_mean():
    est = torch.tensor([1.1, 0.05, -20.0], dtype=torch.float64)
    ex = torch.tensor([1.0, 0.0, -10.0], dtype=torch.float64)
    assert relative_error(est, ex).mean().item() == pytest.approx((0.1 + 0.05 + 1.0) / 3)
