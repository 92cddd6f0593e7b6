import importlib

import pytest
import torch
from torch import nn

import sbp
from sbp.numerics.jacobian import metric_operator

F64 = torch.float64


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2 * 2 * 2), nn.Unflatten(1, (2, 2, 2)), nn.Softplus(),
                         nn.ConvTranspose2d(2, 1, 2, 2)).double()


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_matches_autograd_per_row(mode):
    f = net()
    z = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    J = sbp.jacobian(f, z, chunk=2, jvp_mode=mode)
    assert J.shape == (4, 16, 3)
    for b in range(4):
        ref = torch.autograd.functional.jacobian(lambda x: f(x[None]).reshape(-1), z[b])
        torch.testing.assert_close(J[b], ref)


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto", "dense"])
def test_metric_matvec_is_JtJ(mode):
    f = net()
    z = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    J = sbp.jacobian(f, z)
    op = metric_operator(f, z, jvp_mode=mode)
    V = torch.randn(5, 4, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    ref = torch.einsum("bij,bik,pbk->pbj", J, J, V)
    torch.testing.assert_close(op.matvec(V), ref)
    assert (op.batch, op.dim, op.out_dim) == (4, 3, 16)


def test_products_carry_gradients_to_parameters():
    f = net()
    z = torch.randn(2, 3, dtype=F64)
    op = metric_operator(f, z)
    v = torch.ones(1, 2, 3, dtype=F64)
    op.matvec(v).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in f.parameters() if p.dim() > 1)


@pytest.mark.parametrize("mode", ["forward", "reverse", "dense"])
def test_products_after_a_no_grad_product_still_carry_gradients(mode):
    # the reverse route caches its folded maps per block size: one built under no_grad has no graph
    f = net()
    z = torch.randn(2, 3, dtype=F64)
    op = metric_operator(f, z, jvp_mode=mode)
    v = torch.ones(1, 2, 3, dtype=F64)
    with torch.no_grad():
        op.matvec(v)
    op.matvec(v).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in f.parameters() if p.dim() > 1)


def test_reverse_route_splits_large_blocks_without_changing_products(monkeypatch):
    f = net()
    z = torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    V = torch.randn(7, 3, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    ref = metric_operator(f, z, jvp_mode="forward").matvec(V)
    monkeypatch.setattr(importlib.import_module("sbp.numerics.jacobian"), "FOLD_ROWS", 6)  # 2 probes x 3 rows per call
    torch.testing.assert_close(metric_operator(f, z, jvp_mode="reverse").matvec(V), ref)


def test_auto_mode_resolves_by_device():
    from sbp.numerics.jacobian import resolve_jvp_mode
    assert resolve_jvp_mode("auto", torch.device("cpu")) == "reverse"
    assert resolve_jvp_mode("auto", torch.device("cuda")) == "forward"
    assert resolve_jvp_mode("forward", torch.device("cpu")) == "forward"
    assert resolve_jvp_mode("dense", torch.device("cuda")) == "dense"
    with pytest.raises(ValueError, match="jvp_mode"):
        resolve_jvp_mode("sideways", torch.device("cpu"))


@pytest.mark.parametrize("grad_mode", ["backprop", "lowmem"])
def test_dense_products_give_the_reverse_routes_estimate_and_gradient(grad_mode):
    # jvp_mode="dense" changes how products are formed, not the estimator: same probes, same numbers
    f = net()
    z = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    out = {}
    for mode in ("reverse", "dense"):
        f.zero_grad()
        est = sbp.logdet_metric(f, z, order=12, probes=3, power_iters=3, jvp_mode=mode, grad_mode=grad_mode,
                                generator=5)
        est.logdet.sum().backward()
        out[mode] = est.logdet.detach(), [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in f.parameters()]
    torch.testing.assert_close(out["dense"][0], out["reverse"][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(out["dense"][1], out["reverse"][1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_metric_completing_known_products_has_the_dense_metrics_spectrum_and_gradient(dtype, tol):
    from sbp.numerics.dense import metric_dense, metric_dense_completing
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(24, 64), nn.Tanh(), nn.Linear(64, 80)).to(dtype)
    z = torch.randn(3, 24, dtype=dtype)
    V = torch.randint(0, 2, (4, 3, 24), generator=torch.Generator().manual_seed(1)).to(dtype) * 2 - 1
    op = metric_operator(f, z, jvp_mode="forward")
    G, Gc = metric_dense(f, z), metric_dense_completing(f, z, V, op.jvp(V), op=op)
    assert not torch.allclose(G, Gc)  # another basis ...
    torch.testing.assert_close(torch.linalg.eigvalsh(Gc), torch.linalg.eigvalsh(G), rtol=tol, atol=0)  # ... same G
    grads = [torch.autograd.grad(torch.logdet(M).sum(), f[0].weight)[0] for M in (G, Gc)]
    torch.testing.assert_close(grads[1], grads[0], rtol=100 * tol, atol=100 * tol * grads[0].abs().max().item())
    with pytest.raises(ValueError, match="0 < P < d"):
        metric_dense_completing(f, z, V[:, :2], op.jvp(V), op=op)
    same = V.clone()
    same[1] = same[0]  # dependent vectors: no basis to complete, the standard columns are taken
    torch.testing.assert_close(metric_dense_completing(f, z, same, op.jvp(same), op=op), G, rtol=0, atol=0)


def _autograd_jacobian(f, z):
    return torch.stack([torch.autograd.functional.jacobian(lambda x: f(x[None]).reshape(-1), z[b])
                        for b in range(z.shape[0])])


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto", "dense"])
def test_operator_dense_and_columns_are_J_and_J_times_the_basis(mode):
    f = net()
    z = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    op = metric_operator(f, z, jvp_mode=mode)
    ref = _autograd_jacobian(f, z)  # (B, D, d)
    torch.testing.assert_close(op.dense(chunk=2), ref)
    basis = torch.randn(2, 4, 3, dtype=F64, generator=torch.Generator().manual_seed(3))
    known = torch.randn(1, 4, 16, dtype=F64, generator=torch.Generator().manual_seed(4))
    cols = op.columns(basis, known=known)
    assert cols.shape == (4, 16, 3)
    torch.testing.assert_close(cols[..., 0], known[0])
    torch.testing.assert_close(cols[..., 1:], torch.einsum("bkd,pbd->bkp", ref, basis))
    # the column route is column_mode's: forward unless jvp_mode="reverse" asks for the folded route
    assert (op.column_jvp is None) == (mode in ("forward", "reverse"))


def test_counted_operator_counts_each_route_and_returns_the_same_products():
    from sbp.numerics.jacobian import counted
    f = net()
    z = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    op = metric_operator(f, z, jvp_mode="auto")
    wrapped, c = counted(op)
    V = torch.randn(5, 4, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(wrapped.matvec(V), op.matvec(V), rtol=0, atol=0)
    assert (c.jvps, c.vjps, c.columns, c.products) == (5, 5, 0, 5)
    torch.testing.assert_close(wrapped.dense(), op.dense(), rtol=0, atol=0)
    assert (c.jvps, c.columns, c.products) == (5, 3, 8)
    op.matvec(V)
    op.dense()
    assert c.products == 8  # the original operator is not counted
