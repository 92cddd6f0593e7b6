import pytest
import torch
from torch.func import jvp, vmap

import sbp
from sbp.models.dcgan import Discriminator, Generator, TranslatedLeakyReLU, WNConv2d, WNLinear


@pytest.mark.parametrize("res", [32, 64])
def test_shapes_and_range(res):
    torch.manual_seed(0)
    G, D = Generator(6, 4, res), Discriminator(4, res)
    x = G(torch.randn(5, 6) * 10)
    assert x.shape == (5, 3, res, res) and x.abs().max() <= 1
    assert D(x).shape == (5,)


@pytest.mark.parametrize("res", [32, 64])
def test_initial_output_scale_survives_upsampling(res):
    # the transposed convs' stride gain keeps the scale: without it the output std is ~0.09 at 32x32
    torch.manual_seed(0)
    G = Generator(16, 16, res)
    with torch.no_grad():
        std = G(torch.randn(256, 16)).std().item()
    assert 0.3 < std < 0.8


def _n_layers(m):
    return sum(isinstance(c, (WNLinear, WNConv2d)) or type(c).__name__ == "WNConvTranspose2d" for c in m.modules())


@pytest.mark.parametrize("res", [32, 64])
def test_five_layers_each_translated_lrelu(res):
    G, D = Generator(6, 4, res), Discriminator(4, res)
    assert _n_layers(G) == 5 and _n_layers(D) == 5
    assert any(isinstance(m, TranslatedLeakyReLU) for m in G.modules())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in G.modules())


@pytest.mark.parametrize("train", [True, False])
def test_rows_independent(train):
    torch.manual_seed(0)
    G = Generator(6, 4).train(train)
    z = torch.randn(4, 6)
    full = G(z)
    assert torch.allclose(full[1:2], G(z[1:2]), atol=1e-6)
    z2 = z.clone()
    z2[0] += 1.0
    out2 = G(z2)
    assert torch.allclose(out2[1:], full[1:], atol=1e-6)  # other rows unchanged
    assert not torch.allclose(out2[0], full[0], atol=1e-3)  # the changed row changed


def test_weight_norm_generator_learned_discriminator_fixed():
    G, D = Generator(6, 4), Discriminator(4)
    g_names = {n for n, _ in G.named_parameters()}
    assert "fc.g" in g_names
    assert not any(n.endswith(".g") for n, _ in D.named_parameters())
    assert any(n.endswith(".g") for n, _ in D.named_buffers())
    # the effective weight's per-unit norm equals g whatever v is
    lin = D.fc
    with torch.no_grad():
        lin.v.mul_(7.3)
    assert torch.allclose(lin.weight().flatten(1).norm(dim=1), lin.g)
    conv = D.convs[0]
    assert torch.allclose(conv.weight().flatten(1).norm(dim=1), conv.g)
    up = G.body[-1]  # transposed conv: weight (in, out, k, k), one norm per output channel
    w = up.weight(out_dim=1)
    assert torch.allclose(w.transpose(0, 1).flatten(1).norm(dim=1), up.g, atol=1e-6)


def test_translated_lrelu():
    act = TranslatedLeakyReLU(2)
    with torch.no_grad():
        act.offset.copy_(torch.tensor([1.0, -1.0]))
    x = torch.tensor([[0.0, 0.0], [2.0, 2.0]]).view(2, 2, 1, 1)
    y = act(x).view(2, 2)
    # channel 0: offset 1, x=0 below it -> 1 + 0.2 * (0 - 1) = 0.8; channel 1: x=0 above -1 -> 0
    assert torch.allclose(y, torch.tensor([[0.8, 0.0], [2.0, 2.0]]))


def test_torch_func_and_logdet_metric_exact():
    torch.manual_seed(0)
    G = Generator(5, 3).eval().requires_grad_(False)
    z = torch.randn(2, 5, dtype=torch.float64)
    G = G.double()
    v = torch.randn(3, 2, 5, dtype=torch.float64)
    jv = vmap(lambda t: jvp(G, (z,), (t,))[1])(v)
    eps = 1e-6
    fd = (G(z + eps * v[0]) - G(z - eps * v[0])) / (2 * eps)
    assert torch.allclose(jv[0], fd, atol=1e-6)
    est = sbp.logdet_metric(G, z, method="exact")
    assert est.logdet.shape == (2,) and torch.isfinite(est.logdet).all()
    J = sbp.jacobian(G, z)
    ref = torch.linalg.slogdet(J.transpose(1, 2) @ J).logabsdet
    assert torch.allclose(est.logdet, ref, rtol=1e-8)


def test_bad_sizes():
    with pytest.raises(ValueError, match="resolution"):
        Generator(4, 4, 48)
    with pytest.raises(ValueError, match="latent_dim"):
        Generator(0, 4)
    with pytest.raises(ValueError, match="expects z"):
        Generator(4, 4)(torch.randn(2, 5))
    with pytest.raises(ValueError, match="width"):
        Discriminator(0)
