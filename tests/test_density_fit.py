import math
import shutil

import numpy as np
import pytest
import torch

import sbp.experiments.density2d.fit as D
from sbp.infra.checkpoint import previous_path
from sbp.infra.training import cosine_lr
from sbp.models.resnet2d import ResNet2d


def test_spectral_penalty():
    lam = torch.tensor([1.0, 6.0], requires_grad=True)
    p = D.spectral_penalty(lam, 0.5, 4.0)
    assert p.item() == pytest.approx(0.5 * 2.0 / 2)
    p.backward()
    assert lam.grad.tolist() == [0.0, 0.25]


@pytest.mark.parametrize("method", ["chebyshev", "exact"])
def test_short_reverse_kl_run_lowers_loss(method):
    r = D.fit_reverse_kl("U1", method=method, iterations=60, lr=5e-3, seed=0, show_progress=False)
    assert r.loss.shape == (60,) and np.isfinite(r.loss).all()
    # compare mean losses over the first and last 15 iterations; the gap must exceed 4 stderr of the difference
    a, b = r.loss[:15], r.loss[-15:]
    se = math.sqrt(a.var(ddof=1) / 15 + b.var(ddof=1) / 15)
    assert a.mean() - b.mean() > 4 * se
    if method == "chebyshev":
        assert np.isfinite(r.rel_error).all() and (r.rel_error > 0).all()
    else:
        assert np.isnan(r.rel_error).all()


def test_default_interval_is_exact_in_2d():
    # why density_fit passes no ``lower``: with d = 2 <= power_iters, Lanczos is exact, so the core's
    # default interval is [lambda_min, lambda_max] up to its 1e-6 safety margins
    import sbp
    m = ResNet2d(seed=3)
    x = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    est = sbp.logdet_metric(m, x, order=10, probes=2, power_iters=2, jvp_mode="reverse", generator=1)
    J = torch.func.vmap(torch.func.jacrev(lambda v: m(v[None])[0]))(x)
    ev = torch.linalg.eigvalsh(J.mT @ J)
    torch.testing.assert_close(est.lower, ev[:, 0], rtol=2e-6, atol=0)
    torch.testing.assert_close(est.upper, ev[:, 1], rtol=2e-6, atol=0)


def test_cosine_lr():
    assert cosine_lr(0, 100, 1e-2, 1e-4) == pytest.approx(1e-2)
    assert cosine_lr(50, 100, 1e-2, 1e-4) == pytest.approx((1e-2 + 1e-4) / 2)
    assert cosine_lr(99, 100, 1e-2, 1e-4) == pytest.approx(1e-4, rel=0.05)
    assert cosine_lr(70, 100, 1e-2, None) == 1e-2
    with pytest.raises(ValueError, match="lr_final"):
        D.fit_reverse_kl("U1", lr=1e-3, lr_final=1e-2, iterations=1)


def test_schedule_is_applied_and_resumable(tmp_path, monkeypatch):
    # a decaying step size changes the run; a run interrupted after 10 of 20 steps and resumed gives the
    # same losses (the step size is a function of the iteration); other iteration counts are refused
    kw = dict(method="exact", lr=1e-2, seed=0, show_progress=False)
    const = D.fit_reverse_kl("U2", iterations=20, **kw)
    full = D.fit_reverse_kl("U2", iterations=20, lr_final=1e-4, **kw)
    assert np.abs(full.loss[5:] - const.loss[5:]).max() > 1e-6
    ck, half = tmp_path / "ck.pt", tmp_path / "half.pt"
    D.fit_reverse_kl("U2", iterations=20, lr_final=1e-4, checkpoint=ck, checkpoint_every=10, **kw)
    shutil.copy(previous_path(ck), half)  # the checkpoint after 10 steps, kept as the previous one
    resumed = D.fit_reverse_kl("U2", iterations=20, lr_final=1e-4, checkpoint=half, **kw)
    np.testing.assert_allclose(resumed.loss, full.loss, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="configuration"):
        D.fit_reverse_kl("U2", iterations=30, lr_final=1e-4, checkpoint=half, **kw)


def test_short_forward_kl_run_lowers_loss():
    # held-out exact log-likelihood, per-sample paired difference after vs before training: > 4 stderr
    r = D.fit_forward_kl("ring8", method="chebyshev", iterations=60, lr=5e-3, seed=0, show_progress=False)
    import sbp.experiments.density2d.energies as E
    from sbp.numerics.density import log_normal
    x = E.sample_target("ring8", 2000, generator=99)

    def ll(m):
        with torch.no_grad():
            return log_normal(m(x)) + 0.5 * D.exact_logdet(m, x)

    d = ll(r.model) - ll(ResNet2d(seed=0))
    assert d.mean().item() > 4 * d.std().item() / math.sqrt(d.numel())


def test_forward_kl_trains_the_invertible_model_and_records_it_in_the_config():
    from sbp.models.iresnet2d import InvertibleResNet2d
    kw = dict(iterations=40, lr=5e-3, batch=128, width=16, blocks=2, activation="elu", seed=0, show_progress=False)
    r = D.fit_forward_kl("ring8", method="chebyshev", model="invertible", scale=0.8, **kw)
    assert isinstance(r.model, InvertibleResNet2d) and r.model.scale == 0.8
    assert r.config["model"] == "invertible" and r.config["scale"] == 0.8
    assert r.loss[-10:].mean() < r.loss[:10].mean()
    # the paper's model keeps the configuration it always had (no model key), so old checkpoints resume
    assert "model" not in D.fit_forward_kl("ring8", iterations=1, show_progress=False).config
    with pytest.raises(ValueError, match="unknown model 'flow'"):
        D.fit_forward_kl("ring8", iterations=1, model="flow")
    with pytest.raises(ValueError, match="not 1-Lipschitz"):
        D.fit_forward_kl("ring8", iterations=1, model="invertible", activation="silu")


def test_identity_model_kl_oracles():
    # f = identity: q = N(0, I). KL(N(0,I) || ring8) and KL(ring8 || N(0,I)) have no closed form, but with
    # the identity the exact log det is 0 and reverse_kl must equal mean[log N(z) + U(z)] + log Z.
    ident = lambda z: z * 1.0
    import sbp.experiments.density2d.energies as E
    from sbp.numerics.density import log_normal
    k = D.reverse_kl(ident, "U2", n=2000, seed=0)
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = (log_normal(z) + E.u2(z)).mean().item() + E.log_normalizer("U2")
    assert k["kl"] == pytest.approx(ref, abs=1e-10)
    f = D.forward_kl(ident, "ring8", n=2000, seed=0)
    assert math.isfinite(f["kl"]) and f["kl"] > 0


def test_model_density_grid_mass_identity():
    lq, mass = D.model_log_density_grid(lambda x: x * 1.0, n=200)
    # N(0, I) mass on [-4, 4]^2 = erf(4/sqrt 2)^2
    assert mass == pytest.approx(math.erf(4 / math.sqrt(2)) ** 2, abs=1e-3)
    assert lq.shape == (200, 200)


def test_anneal_beta_and_box_wall():
    assert D.anneal_beta(0, 0, 0.01) == 1.0
    assert D.anneal_beta(0, 100, 0.2) == pytest.approx(0.2)
    assert D.anneal_beta(50, 100, 0.2) == pytest.approx(0.6)
    assert D.anneal_beta(150, 100, 0.2) == 1.0
    x = torch.tensor([[0.0, 3.9], [4.5, 0.0], [-5.0, 6.0]], dtype=torch.float64, requires_grad=True)
    w = D.box_wall(x, 0.5)
    torch.testing.assert_close(w.detach(), torch.tensor([0.0, 0.25 / 0.5, (1 + 4) / 0.5], dtype=torch.float64))
    w.sum().backward()
    assert x.grad[0].abs().sum() == 0


def test_anneal_and_confine_enter_the_loss(monkeypatch):
    # one step each, same seed and batch: the first recorded loss differs by exactly the changed energy term
    kw = dict(method="exact", iterations=1, seed=0, show_progress=False)
    plain = D.fit_reverse_kl("U2", **kw).loss[0]
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        u = D.ENERGIES["U2"](ResNet2d(seed=0)(z)).mean().item()
    annealed = D.fit_reverse_kl("U2", anneal_iters=10, beta0=0.25, **kw).loss[0]
    assert plain - annealed == pytest.approx(0.75 * u, rel=1e-9)
    monkeypatch.setattr(D, "box_wall", lambda x, width: torch.full((x.shape[0],), width, dtype=x.dtype))
    assert D.fit_reverse_kl("U2", confine=0.3, **kw).loss[0] - plain == pytest.approx(0.3, rel=1e-9)


def test_checkpoint_resume_gives_same_result(tmp_path):
    full = D.fit_reverse_kl("U2", method="exact", iterations=20, seed=0, show_progress=False)
    ck = tmp_path / "ck.pt"
    D.fit_reverse_kl("U2", method="exact", iterations=10, seed=0, show_progress=False, checkpoint=ck)
    resumed = D.fit_reverse_kl("U2", method="exact", iterations=20, seed=0, show_progress=False, checkpoint=ck)
    np.testing.assert_allclose(resumed.loss, full.loss, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="configuration"):
        D.fit_reverse_kl("U3", method="exact", iterations=20, seed=0, show_progress=False, checkpoint=ck)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown energy"):
        D.fit_reverse_kl("U7", iterations=1)
    with pytest.raises(ValueError, match="method"):
        D.fit_reverse_kl("U1", method="lanczos", iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        D.fit_forward_kl("ring8", iterations=0)
    with pytest.raises(ValueError, match="lr"):
        D.fit_forward_kl("ring8", lr=-1.0, iterations=1)
    with pytest.raises(ValueError, match="unknown target"):
        D.fit_forward_kl("moons", iterations=1)
    with pytest.raises(ValueError, match="reg_weight"):
        D.fit_reverse_kl("U3", reg_weight=-1.0, iterations=1)
    with pytest.raises(ValueError, match="anneal_iters"):
        D.fit_reverse_kl("U3", anneal_iters=-5, iterations=1)
    with pytest.raises(ValueError, match="beta0"):
        D.fit_reverse_kl("U3", anneal_iters=5, beta0=0.0, iterations=1)
    with pytest.raises(ValueError, match="confine"):
        D.fit_reverse_kl("U3", confine=float("nan"), iterations=1)


class _Collapsed(torch.nn.Module):
    """x = (w z1, w z1): J has rank 1 at every z, log det(J^T J) = -inf."""

    def __init__(self, **_):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, z):
        return self.w * torch.cat([z[:, :1], z[:, :1]], 1)


@pytest.mark.parametrize("method", ["exact", "chebyshev"])
def test_training_stops_on_a_singular_metric_naming_the_rows(method, monkeypatch):
    monkeypatch.setattr(D, "ResNet2d", _Collapsed)
    kw = dict(method=method, iterations=3, batch=4, seed=0, show_progress=False, monitor=False)
    with pytest.raises(ValueError, match=r"not finite at step 0 in rows \[0, 1, 2, 3\].*folds the plane"):
        D.fit_reverse_kl("U1", **kw)
    with pytest.raises(ValueError, match=r"not finite at step 0 in rows \[0, 1, 2, 3\]"):
        D.fit_forward_kl("U1", **kw)


def test_monitor_every_k_records_only_those_iterations_and_leaves_training_unchanged():
    kw = dict(method="chebyshev", iterations=6, batch=16, order=6, probes=2, seed=4, show_progress=False)
    every = D.fit_reverse_kl("U1", monitor=True, **kw)
    third = D.fit_reverse_kl("U1", monitor=3, **kw)
    assert np.array_equal(every.loss, third.loss)
    assert np.array_equal(np.flatnonzero(~np.isnan(third.rel_error)), [0, 3])
    assert np.array_equal(third.rel_error[[0, 3]], every.rel_error[[0, 3]])
    for bad in (-1, 2.0, "3"):
        with pytest.raises(ValueError, match="monitor"):
            D.fit_reverse_kl("U1", monitor=bad, **kw)


def test_the_models_own_jacobian_trains_as_autodiff_does():
    # jacobian="model" (J from the model's forward-mode pass) against "autodiff" (jvp_mode="dense"): the same
    # estimator on the same J, so the same losses to rounding; a broken J (transposed, say) would not be
    kw = dict(model="invertible", width=16, blocks=3, activation="elu", scale=0.9, iterations=8, batch=32,
              order=8, probes=2, seed=1, show_progress=False, lr=3e-3)
    for method in ("chebyshev", "exact"):
        a = D.fit_forward_kl("ring8", method=method, jacobian="model", **kw)
        b = D.fit_forward_kl("ring8", method=method, jacobian="autodiff", jvp_mode="dense", **kw)
        assert np.allclose(a.loss, b.loss, rtol=1e-5, atol=1e-6), method
        assert a.config["jacobian"] == "model" and "jacobian" not in b.config
    with pytest.raises(ValueError, match="'model' needs model='invertible'"):
        D.fit_forward_kl("ring8", iterations=1, jacobian="model")


def test_u1_batches_are_the_same_when_a_run_resumes(tmp_path):
    # U1's batches come from pools of 32; a run interrupted mid-pool (at 10 of 40 steps, lr constant) and
    # resumed sees the batches the uninterrupted run saw
    kw = dict(method="exact", model="invertible", width=8, blocks=2, activation="elu", batch=16, seed=0,
              show_progress=False, jacobian="model")
    whole = D.fit_forward_kl("U1", iterations=40, **kw)
    ck = tmp_path / "u1.pt"
    D.fit_forward_kl("U1", iterations=10, checkpoint=ck, **kw)
    resumed = D.fit_forward_kl("U1", iterations=40, checkpoint=ck, **kw)
    np.testing.assert_allclose(resumed.loss, whole.loss, rtol=0, atol=1e-12)
    # every step its own batch, the same whichever step a fresh sampler starts at
    import torch
    from sbp.experiments.density2d.energies import target_batches
    first, fresh = target_batches("U1", 16, 0), target_batches("U1", 16, 0)
    gen = torch.Generator().manual_seed(1)
    seen = [first(gen, it) for it in range(40)]
    assert all(not torch.equal(seen[i], seen[j]) for i in range(40) for j in range(i))
    assert torch.equal(fresh(gen, 33), seen[33])
