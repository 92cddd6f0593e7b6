import pytest
import torch

import sbp
from sbp.models.resnet2d import ResNet2d


def test_shapes_and_parameters():
    m = ResNet2d()
    assert m(torch.zeros(5, 2, dtype=torch.float64)).shape == (5, 2)
    assert len(m.branches) == 4
    sizes = [tuple(l.weight.shape) for l in m.branches[0]]
    assert sizes == [(32, 2), (32, 32), (2, 32)]
    assert all(l.bias is not None for b in m.branches for l in b)


def test_seeded_init():
    a, b, c = ResNet2d(seed=1), ResNet2d(seed=1), ResNet2d(seed=2)
    x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_not_invertible_by_construction():
    # A block whose residual branch has Lipschitz constant > 1 folds the plane:
    # x + R(x) with R(x) = -2 x on one side has Jacobian det I - 2 I < 0 somewhere and > 0 elsewhere.
    m = ResNet2d(blocks=1, slope=0.0)
    l1, l2, l3 = m.branches[0]
    with torch.no_grad():
        l1.weight.zero_(); l1.weight[0, 0] = 1.0; l1.bias.zero_()
        l2.weight.zero_(); l2.weight[0, 0] = 1.0; l2.bias.zero_()
        l3.weight.zero_(); l3.weight[0, 0] = -2.0; l3.bias.zero_()
    # x1 > 0: x1 -> x1 - 2 x1 = -x1; x1 < 0: identity: two points share an image
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[-1.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(m(a), m(b))
    J = sbp.jacobian(m, torch.cat([a, b]))
    assert torch.linalg.det(J[0]).item() < 0 < torch.linalg.det(J[1]).item()


def test_bad_inputs():
    with pytest.raises(ValueError, match="blocks"):
        ResNet2d(blocks=0)
    with pytest.raises(ValueError, match="slope"):
        ResNet2d(slope=1.5)
    with pytest.raises(ValueError, match="shape"):
        ResNet2d()(torch.zeros(3, 3, dtype=torch.float64))
