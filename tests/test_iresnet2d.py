"""The invertible 2-D ResNet (ours, Figure 2): Lip(branch) < 1, injective, q integrates to one."""
import math

import pytest
import torch

import sbp
from sbp.experiments.density2d.energies import grid
from sbp.models.iresnet2d import InvertibleResNet2d
from sbp.models.resnet2d import ResNet2d


def _stretched(model: torch.nn.Module, factor: float) -> torch.nn.Module:
    # weights far above norm 1, so that the spectral normalization is active in every layer
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                p.mul_(factor)
    return model


def _lipschitz_by_power_iteration(branch, x: torch.Tensor, iters: int = 30) -> float:
    """max over the rows of x of ||J_branch(x)||_2, by the power method on J^T J (JVP then VJP)."""
    op = sbp.metric_operator(branch, x, jvp_mode="reverse")
    v0 = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    lam, _ = sbp.power_method(op.matvec, v0, iters)
    return float(lam.detach().max().sqrt())


def _points(n: int = 2000, scale: float = 3.0, seed: int = 0) -> torch.Tensor:
    return scale * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("activation", ["elu", "tanh"])
def test_every_branch_is_a_contraction_measured_on_its_jacobian(activation):
    m = _stretched(InvertibleResNet2d(width=16, blocks=3, scale=0.9, activation=activation, seed=2), 20.0)
    x = _points()
    for k in range(3):
        lip = _lipschitz_by_power_iteration(lambda u: m.branch(k, u), x)
        assert 0.05 < lip < 0.9 + 1e-9  # c = 0.9 bounds it
        # the difference quotient on pairs of points agrees: |c h(a) - c h(b)| < |a - b|
        a, b = x[:1000], x[1000:]
        ratio = (m.branch(k, a) - m.branch(k, b)).norm(dim=1) / (a - b).norm(dim=1)
        assert float(ratio.detach().max()) < 0.9
    # the measurement can fail: the paper's branch at the same weights has Lipschitz constant far above 1
    paper = _stretched(ResNet2d(width=16, blocks=1, seed=2, last_scale=1.0), 20.0)
    l1, l2, l3 = paper.branches[0]
    branch = lambda u: l3(torch.nn.functional.leaky_relu(l2(torch.nn.functional.leaky_relu(l1(u), 0.2)), 0.2))
    assert _lipschitz_by_power_iteration(branch, x) > 10


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-6), (torch.float32, 1e-4)])
def test_the_fixed_point_inverse_recovers_x(dtype, atol):
    # float64 parameters: to 1e-6; float32 ones (the default): g(x) itself is rounded to float32
    m = _stretched(InvertibleResNet2d(width=32, blocks=8, seed=3, dtype=dtype), 10.0)
    x = _points(4000, scale=4.0, seed=4)
    with torch.no_grad():
        y = m(x)
    assert y.dtype == torch.float64 and float((m.inverse(y) - x).abs().max()) < atol
    # injective where the paper's model is not: distinct points keep distinct images
    assert float((y[:2000] - y[2000:]).norm(dim=1).min()) > 0.1 * float((x[:2000] - x[2000:]).norm(dim=1).min())
    with pytest.raises(RuntimeError, match="did not reach"):
        m.inverse(y, max_iter=2)


def test_det_of_the_jacobian_is_positive_everywhere():
    m = _stretched(InvertibleResNet2d(width=32, blocks=8, seed=5), 10.0)
    J = sbp.jacobian(m, _points(4000, seed=6))
    assert float(torch.linalg.det(J.detach()).min()) > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_q_integrates_to_one_on_a_box_that_holds_it(seed):
    # q(x) = p_Z(g(x)) |det J_g(x)| on [-L, L]^2; the box holds q when g maps its edge beyond radius 4.5
    # (then P_Z(g(box)) >= 1 - exp(-4.5^2 / 2) = 1 - 4e-5)
    m = _stretched(InvertibleResNet2d(width=32, blocks=8, seed=seed), 3.0)
    L, n = 8.0, 200
    t = torch.linspace(-L, L, 801, dtype=torch.float64)
    edge = torch.cat([torch.stack([t, torch.full_like(t, s)], 1) for s in (-L, L)]
                     + [torch.stack([torch.full_like(t, s), t], 1) for s in (-L, L)])
    with torch.no_grad():
        assert float(m(edge).norm(dim=1).min()) > 4.5
    pts, _, area = grid((-L, L), n)
    logdet = sbp.logdet_metric(m, pts, method="exact", jvp_mode="reverse").logdet.detach()
    with torch.no_grad():
        lq = sbp.log_normal(m(pts)) + 0.5 * logdet
    mass = float(torch.logsumexp(lq, 0).exp() * area)
    assert mass == pytest.approx(1.0, abs=0.01)
    # the test can fail: the paper's unconstrained model at full-scale branches folds, and its q has mass > 1
    paper = _stretched(ResNet2d(width=32, blocks=4, seed=seed, last_scale=1.0), 3.0)
    logdet = sbp.logdet_metric(paper, pts, method="exact", jvp_mode="reverse").logdet.detach()
    with torch.no_grad():
        lq = sbp.log_normal(paper(pts)) + 0.5 * logdet
    assert float(torch.logsumexp(lq, 0).exp() * area) > 1.05


def test_normalized_once_reuses_the_weights_and_matches_the_plain_call():
    m = InvertibleResNet2d(width=8, blocks=2, seed=7)
    x = _points(5)
    with m.normalized_once():
        a = m(x)
        assert m._weights() is m._weights()
    assert torch.equal(a, m(x)) and m._frozen is None


def test_bad_inputs():
    with pytest.raises(ValueError, match="scale"):
        InvertibleResNet2d(scale=1.0)
    with pytest.raises(ValueError, match="not 1-Lipschitz"):
        InvertibleResNet2d(activation="silu")
    with pytest.raises(ValueError, match="blocks"):
        InvertibleResNet2d(blocks=0)
    with pytest.raises(ValueError, match="shape"):
        InvertibleResNet2d()(torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="seed"):
        InvertibleResNet2d(seed="0")
    assert math.isclose(InvertibleResNet2d(scale=0.5).scale, 0.5)


@pytest.mark.parametrize("activation", ["elu", "tanh", "leaky_relu", "smooth_leaky_relu"])
def test_forward_with_jacobian_is_the_autodiff_jacobian(activation):
    m = _stretched(InvertibleResNet2d(width=16, blocks=3, scale=0.9, activation=activation, seed=7,
                                      dtype=torch.float64), 5.0)
    x = _points(300, seed=8)
    y, J = m.forward_with_jacobian(x)
    assert torch.equal(y, m(x))
    assert torch.allclose(J, sbp.jacobian(m, x), atol=1e-12, rtol=1e-10)
    # and its gradient: that of log det J from automatic differentiation
    params = list(m.parameters())
    g_hand = torch.autograd.grad(torch.linalg.slogdet(J)[1].sum(), params, materialize_grads=True)
    g_auto = torch.autograd.grad(torch.linalg.slogdet(sbp.jacobian(m, x))[1].sum(), params, materialize_grads=True)
    assert all(torch.allclose(a, b, atol=1e-10, rtol=1e-8) for a, b in zip(g_hand, g_auto))


def test_spectral_norms_are_the_largest_singular_values():
    from sbp.models.iresnet2d import spectral_norms
    W = torch.randn(5, 7, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    for M in (W, W.mT):
        assert torch.allclose(spectral_norms(M), torch.linalg.matrix_norm(M, ord=2), rtol=1e-12)
