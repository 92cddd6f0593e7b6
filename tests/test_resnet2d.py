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


def test_activation_choices_share_the_parameters_and_default_to_the_papers():
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    paper, smooth = ResNet2d(seed=3), ResNet2d(seed=3, activation="tanh")
    assert paper.activation == "leaky_relu"
    for p, q in zip(paper.parameters(), smooth.parameters()):
        assert torch.equal(p, q)
    # the paper's branch by hand: leaky_relu with slope 0.2
    h = x
    for l1, l2, l3 in paper.branches:
        h = h + l3(torch.nn.functional.leaky_relu(l2(torch.nn.functional.leaky_relu(l1(h), 0.2)), 0.2))
    assert torch.equal(paper(x), h)
    assert not torch.allclose(smooth(x), h)
    with pytest.raises(ValueError, match="activation 'relu6'"):
        ResNet2d(activation="relu6")


@pytest.mark.parametrize("name", ["smooth_leaky_relu", "elu", "silu", "tanh"])
def test_smooth_activations_give_a_jacobian_continuous_across_a_kink(name):
    # LeakyReLU's Jacobian jumps where a unit's input crosses 0; the smooth ones' does not.
    m = ResNet2d(blocks=1, seed=0, last_scale=1.0, activation=name)
    leaky = ResNet2d(blocks=1, seed=0, last_scale=1.0)
    l1 = m.branches[0][0]
    w, b = l1.weight[0].detach(), l1.bias[0].detach()
    x0 = (-b / (w @ w)) * w  # unit 0 of the first layer has input 0 here
    n = w / w.norm()
    pts = torch.stack([x0 - 1e-7 * n, x0 + 1e-7 * n])
    jump = [(J[1] - J[0]).abs().max().item() for J in (sbp.jacobian(m, pts), sbp.jacobian(leaky, pts))]
    assert jump[0] < 1e-5
    assert jump[1] > 1e-3


def test_smooth_leaky_relu_keeps_the_slopes_and_zero():
    from sbp.models.activations import smooth_leaky_relu
    u = torch.tensor([-40.0, 0.0, 40.0], dtype=torch.float64, requires_grad=True)
    y = smooth_leaky_relu(u, 0.2)
    g, = torch.autograd.grad(y.sum(), u)
    assert y[1].item() == 0.0
    assert torch.allclose(g, torch.tensor([0.2, 0.6, 1.0], dtype=torch.float64))
