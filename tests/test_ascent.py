import math

import pytest
import torch

from latent_models import tiny_conv_generator
from sbp.experiments.latent.aberrance import aberrance, aberrance_quantile
from sbp.experiments.latent.ascent import (check_finite_logdet, likelihood_ascent, loglik_gradient, metric_spectrum,
                                          nearest_neighbour_distance)
from sbp.experiments.latent.search import search_ascent
from sbp.numerics.density import log_density_pushforward, log_normal
from sbp.numerics.logdet import logdet_metric


def test_linear_map_ascends_to_origin_with_constant_condition():
    """For f(z) = A z, log p = log N(z) - const: ascent shrinks z; cond(A^T A) is constant."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(10, 3, generator=g, dtype=torch.float64)
    z0 = 2 * torch.randn(2, 3, generator=g, dtype=torch.float64)
    tr = likelihood_ascent(lambda z: z @ A.T, z0, steps=60, lr=0.1, record_every=20, method="exact",
                           show_progress=False)
    assert tr.steps == [0, 20, 40, 60]
    ll = tr.stacked("loglik")
    assert bool((ll[1:] > ll[:-1]).all())
    s = torch.linalg.svdvals(A)
    torch.testing.assert_close(tr.stacked("condition"), ((s[0] / s[-1]) ** 2).expand(4, 2))
    assert float(tr.latents[-1].norm(dim=1).max()) < 0.5 * float(z0.norm(dim=1).min())


def test_records_exact_loglik_and_ascends_through_chebyshev_estimate():
    d = 6
    f = tiny_conv_generator(d)
    z0 = torch.randn(3, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    tr = likelihood_ascent(f, z0, steps=8, lr=0.1, record_every=4, method="chebyshev", order=20, probes=4,
                           generator=0, show_progress=False)
    assert tr.loglik_method == "exact"
    ref, _ = log_density_pushforward(f, tr.latents[-1], method="exact")
    torch.testing.assert_close(tr.loglik[-1], ref.detach())
    eig, _ = metric_spectrum(f, tr.latents[-1])
    torch.testing.assert_close(tr.condition[-1], eig[:, -1] / eig[:, 0])
    assert bool((tr.loglik[-1] > tr.loglik[0]).all())
    assert tr.images[0].shape == (3, 3, 8, 8)
    # the generator's parameters are left trainable and without gradients
    assert all(p.requires_grad and p.grad is None for p in f.parameters())


def test_estimate_recorded_when_latent_too_large_for_exact():
    f = tiny_conv_generator(4)
    z0 = torch.zeros(1, 4, dtype=torch.float64)
    tr = likelihood_ascent(f, z0, steps=1, lr=0.01, method="taylor", order=5, probes=2, exact_max_dim=2,
                           generator=0, show_progress=False)
    assert tr.loglik_method == "taylor" and len(tr.loglik) == 2


def test_max_norm_projection_and_bad_input():
    f = lambda z: torch.cat([z, 2 * z], 1)  # noqa: E731
    z0 = torch.full((1, 2), 3.0, dtype=torch.float64)
    tr = likelihood_ascent(lambda z: torch.cat([z, z ** 3], 1), z0, steps=3, lr=1.0, method="exact",
                           max_norm=1.0, show_progress=False)
    assert float(tr.latents[-1].norm()) <= 1.0 + 1e-12
    with pytest.raises(ValueError, match="lr"):
        likelihood_ascent(f, z0, lr=0.0)
    with pytest.raises(ValueError, match="z0 must be 2-D"):
        likelihood_ascent(f, torch.zeros(2))


def test_first_order_logdet_change_matches_a_smooth_map_and_misses_relu_jumps():
    """grad(log det)^T dz summed over small steps tracks log det for a smooth f; not across ReLU regions."""
    g = torch.Generator().manual_seed(3)
    A = torch.randn(12, 4, generator=g, dtype=torch.float64)
    B = torch.randn(12, 12, generator=g, dtype=torch.float64) / 12 ** 0.5
    z0 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    smooth = lambda z: torch.tanh(torch.tanh(z @ A.T) @ B.T)  # noqa: E731
    tr = likelihood_ascent(smooth, z0, steps=200, lr=0.005, record_every=200, method="exact", show_progress=False)
    change = tr.logdet[-1] - tr.logdet[0]
    assert float(change.abs().min()) > 0.1  # it did move
    torch.testing.assert_close(tr.logdet_first_order[-1], change, rtol=0.02, atol=0.02)
    assert bool((tr.logdet_first_order[0] == 0).all())
    relu = lambda z: torch.relu(z @ A.T) @ B.T  # noqa: E731  piecewise linear: J piecewise constant
    tr = likelihood_ascent(relu, 3 * z0, steps=100, lr=0.05, record_every=100, method="exact", show_progress=False)
    assert bool((tr.logdet_first_order[-1].abs() < 1e-9).all())  # the gradient sees no change ...
    assert float((tr.logdet[-1] - tr.logdet[0]).abs().max()) > 0.1  # ... while log det jumps


def test_logdet_along_a_line_smooth_and_relu():
    from sbp.experiments.latent.ascent import logdet_along
    g = torch.Generator().manual_seed(4)
    A = torch.randn(9, 3, generator=g, dtype=torch.float64)
    z, u = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    ts = torch.linspace(0, 1e-3, 5, dtype=torch.float64)
    vals, deriv = logdet_along(lambda x: torch.tanh(x @ A.T), z, 5 * u, ts)
    assert vals.shape == (5,)
    torch.testing.assert_close(vals - vals[0], deriv * ts, rtol=1e-2, atol=1e-9)  # smooth: first order holds
    vals, deriv = logdet_along(lambda x: torch.relu(x @ A.T), z, u, torch.linspace(-3, 3, 61, dtype=torch.float64))
    assert float(deriv.abs()) < 1e-9 and float(vals.max() - vals.min()) > 0.1  # flat pieces, jumps between
    with pytest.raises(ValueError, match="direction"):
        logdet_along(lambda x: x @ A.T, z, torch.zeros(3, dtype=torch.float64), ts)


def test_loglik_gradient_exact_is_minus_z_for_a_linear_map():
    """log det(A^T A) does not depend on z, so grad log p_G = grad log N(z; 0, I) = -z."""
    g = torch.Generator().manual_seed(2)
    A = torch.randn(9, 4, generator=g, dtype=torch.float64)
    z = torch.randn(3, 4, generator=g, dtype=torch.float64)
    grad = loglik_gradient(lambda z: z @ A.T, z, method="exact")
    torch.testing.assert_close(grad, -z, rtol=1e-10, atol=1e-10)
    assert not z.requires_grad


def test_loglik_gradient_matches_autograd_of_the_density():
    f = tiny_conv_generator(5)
    z = torch.randn(2, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    zr = z.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(log_density_pushforward(f, zr, method="exact")[0].sum(), zr)
    torch.testing.assert_close(loglik_gradient(f, z, method="exact"), ref, rtol=1e-8, atol=1e-10)
    # the estimator's gradient: the same probes (seed) give the same numbers as differentiating logdet_metric
    kw = dict(order=12, probes=3, power_iters=6, generator=7, jvp_mode="reverse")
    zr = z.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad((log_normal(zr) - 0.5 * logdet_metric(f, zr, **kw).logdet).sum(), zr)
    assert torch.equal(loglik_gradient(f, z, method="chebyshev", **kw), ref)
    with pytest.raises(ValueError, match="2-D"):
        loglik_gradient(f, z[0], method="exact")


def test_nearest_neighbour_distance_against_brute_force():
    g = torch.Generator().manual_seed(4)
    ref = torch.randn(7, 2, 3, 3, generator=g)
    x = torch.cat([ref[[5]] + 0.0, torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)])
    out = nearest_neighbour_distance(x, ref)
    brute = torch.tensor([min(float((a.float() - b).norm()) for b in ref) for a in x])
    torch.testing.assert_close(out, brute, rtol=1e-5, atol=1e-5)
    assert out.dtype == torch.float32 and float(out[0]) < 1e-3
    with pytest.raises(ValueError, match="must match"):
        nearest_neighbour_distance(x, ref[:, :1])
    with pytest.raises(ValueError, match="one sample per row"):
        nearest_neighbour_distance(torch.zeros(3), ref)


def test_ascent_stops_with_clear_error_on_singular_metric():
    """relu(z): J = diag(z > 0) is singular in row 1 (a negative coordinate), log det = -inf there."""
    z0 = torch.tensor([[1.0, 2.0], [-1.0, 1.0], [0.5, -3.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"rows \[1, 2\]"):
        likelihood_ascent(torch.relu, z0, steps=5, lr=0.1, method="exact", show_progress=False)
    with pytest.raises(ValueError, match=r"rows \[1, 2\]"):
        search_ascent(torch.relu, z0, steps=5, generator=0)
    with pytest.raises(ValueError, match=r"step 0 in rows \[0\]"):
        check_finite_logdet(torch.tensor([float("nan"), 1.0]), 0)


def test_search_ascent_never_lowers_exact_loglik_on_relu_generator():
    f = tiny_conv_generator(5)
    z0 = torch.randn(3, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    tr = search_ascent(f, z0, steps=25, radius=0.5, directions=3, record_every=1, generator=0)
    ll = tr.stacked("loglik")
    assert ll.shape == (26, 3)
    assert bool((ll[1:] >= ll[:-1]).all())
    assert bool((ll[-1] > ll[0] + 0.1).all())  # and it does climb
    ref, _ = log_density_pushforward(f, tr.latents[-1], method="exact")
    torch.testing.assert_close(tr.loglik[-1], ref.detach())
    with pytest.raises(ValueError, match="shrink"):
        search_ascent(f, z0, shrink=(2.0,))
    with pytest.raises(ValueError, match="radius"):
        search_ascent(f, z0, radius=0.0)


def test_both_ascents_reach_the_known_maximum_of_a_linear_map():
    """f(z) = A z: log p_G = log N(z; 0, I) - 1/2 log det(A^T A), maximal at z = 0."""
    g = torch.Generator().manual_seed(4)
    A = torch.randn(9, 3, generator=g, dtype=torch.float64)
    f = lambda z: z @ A.T  # noqa: E731
    z0 = 2 * torch.randn(2, 3, generator=g, dtype=torch.float64)
    best = -1.5 * math.log(2 * math.pi) - 0.5 * float(torch.logdet(A.T @ A))
    tr = search_ascent(f, z0, steps=150, radius=1.0, record_every=150, generator=1)
    torch.testing.assert_close(tr.loglik[-1], torch.full((2,), best, dtype=torch.float64), atol=1e-3, rtol=0)
    tr = likelihood_ascent(f, z0, steps=400, lr=0.05, record_every=400, method="exact", show_progress=False)
    torch.testing.assert_close(tr.loglik[-1], torch.full((2,), best, dtype=torch.float64), atol=1e-3, rtol=0)


def test_aberrance_quantile_and_bad_input():
    ordinary = torch.tensor([1.0, 2.0, 3.0, 4.0])
    q = aberrance_quantile(torch.tensor([0.5, 2.5, 10.0]), ordinary)
    torch.testing.assert_close(q, torch.tensor([0.0, 0.5, 1.0]))
    ref = torch.zeros(3, 1, 2, 2)
    x = torch.ones(2, 1, 2, 2) * torch.tensor([1.0, 3.0])[:, None, None, None]
    dist, q = aberrance(x, ref, torch.ones(4, 1, 2, 2) * 2.0)
    torch.testing.assert_close(dist, torch.tensor([2.0, 6.0]))
    torch.testing.assert_close(q, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        aberrance_quantile(torch.zeros(2, 2), ordinary)
    with pytest.raises(ValueError, match="finite"):
        aberrance_quantile(torch.tensor([float("nan")]), ordinary)
