import pytest
import torch

from latent_models import tiny_conv_generator
from sbp.numerics.eigen import (compare_eigenpairs, eigenvalue_error, eigenvector_alignment, metric_eigenpairs, metric_eigh,
                                metric_topk, relative_eigengap)
from sbp.numerics.jacobian import jacobian


def test_dense_matches_eigendecomposition_of_linear_map():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(20, 5, generator=g, dtype=torch.float64)
    z = torch.randn(3, 5, generator=g, dtype=torch.float64)
    ep = metric_eigh(lambda z: z @ A.T, z)
    ref = torch.linalg.eigvalsh(A.T @ A).flip(0)
    torch.testing.assert_close(ep.values, ref.expand(3, -1), rtol=1e-12, atol=0)
    G = A.T @ A
    torch.testing.assert_close(G @ ep.vectors, ep.vectors * ep.values[:, None, :], rtol=1e-10, atol=1e-10)
    assert bool((ep.values[:, :-1] >= ep.values[:, 1:]).all())


@pytest.mark.parametrize("jvp_mode", ["forward", "reverse"])
def test_subspace_iteration_matches_exact_on_conv_generator(jvp_mode):
    d, k = 12, 4
    f = tiny_conv_generator(d)
    z = torch.randn(5, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    exact = metric_eigh(f, z)
    top = metric_topk(f, z, k, iters=300, oversample=4, tol=1e-10, generator=0, jvp_mode=jvp_mode)
    # eigen-gaps of the test problem, so that eigenvectors are well defined
    gaps = (exact.values[:, :k] - exact.values[:, 1:k + 1]) / exact.values[:, :1]
    assert float(gaps.min()) > 1e-3
    torch.testing.assert_close(top.values, exact.values[:, :k], rtol=1e-8, atol=0)
    align = (top.vectors * exact.vectors[:, :, :k]).sum(1)  # signs fixed by both
    torch.testing.assert_close(align, torch.ones_like(align), rtol=0, atol=1e-6)
    assert float(top.residuals.max()) <= 1e-10 * float(exact.values[:, 0].max()) * 10


def test_subspace_iteration_reports_unconverged_residuals():
    d = 12
    f = tiny_conv_generator(d)
    z = torch.randn(2, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    one = metric_topk(f, z, 6, iters=1, oversample=0, generator=0)
    exact = metric_eigh(f, z, 6)
    assert one.iterations == 1
    # Ritz values never exceed the true top eigenvalue, and one step leaves visible residuals
    assert bool((one.values[:, 0] <= exact.values[:, 0] * (1 + 1e-12)).all())
    assert float(one.residuals.max()) > 1e-6 * float(exact.values.max())


def test_condition_and_dispatch():
    f = tiny_conv_generator(6)
    z = torch.randn(2, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ep = metric_eigenpairs(f, z)
    J = jacobian(f, z)
    s = torch.linalg.svdvals(J)
    torch.testing.assert_close(ep.condition, (s[:, 0] / s[:, -1]) ** 2, rtol=1e-8, atol=0)
    assert ep.method == "exact"
    assert metric_eigenpairs(f, z, 2, method="subspace", generator=0).method == "subspace"


def test_bad_input():
    f = tiny_conv_generator(6)
    z = torch.zeros(2, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="k must be <="):
        metric_eigh(f, z, 7)
    with pytest.raises(ValueError, match="method"):
        metric_eigenpairs(f, z, method="lanczos")
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        metric_topk(f, [[0.0] * 6], 2)


def test_eigen_check_metrics_on_known_inputs():
    values = torch.tensor([[4.0, 2.0, 1.0]])
    ref = torch.tensor([[5.0, 2.0, 1.0, 0.5]])
    torch.testing.assert_close(eigenvalue_error(values, ref), torch.tensor([[0.2, 0.0, 0.0]]))
    torch.testing.assert_close(relative_eigengap(ref, 3), torch.tensor([[0.6, 0.5, 0.5]]))
    eye = torch.eye(4)[None]
    vecs = torch.stack([-eye[0, :, 0], (eye[0, :, 1] + eye[0, :, 2]) / 2 ** 0.5], 1)[None]  # (1, 4, 2)
    torch.testing.assert_close(eigenvector_alignment(vecs, eye), torch.tensor([[1.0, 0.5 ** 0.5]]))
    with pytest.raises(ValueError, match="lambda_"):
        relative_eigengap(ref, 4)
    with pytest.raises(ValueError, match="at least as many pairs"):
        eigenvalue_error(ref, values)
    with pytest.raises(ValueError, match="3-D"):
        eigenvector_alignment(vecs[0], eye)


def test_compare_eigenpairs_of_subspace_iteration_against_dense():
    d, k = 10, 3
    f = tiny_conv_generator(d)
    z = torch.randn(4, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    exact = metric_eigh(f, z)
    top = metric_topk(f, z[:2], k, iters=300, tol=1e-10, generator=0)
    ref = exact.first(2)
    assert ref.values.shape == (2, d) and torch.equal(ref.vectors, exact.vectors[:2])
    check = compare_eigenpairs(top, ref)
    assert check["max_rel_eigenvalue_error"] < 1e-8 and check["min_abs_cosine_eigenvector"] > 1 - 1e-6
    assert check["median_abs_cosine_eigenvector"] >= check["min_abs_cosine_eigenvector"]
    gap = (exact.values[:2, :k] - exact.values[:2, 1:k + 1]) / exact.values[:2, :k]
    assert check["min_rel_eigengap"] == gap.min().item()
    # a solver stopped early is seen: one iteration leaves larger errors
    rough = compare_eigenpairs(metric_topk(f, z[:2], k, iters=1, oversample=0, generator=0), ref)
    assert rough["max_rel_eigenvalue_error"] > 1e3 * check["max_rel_eigenvalue_error"]
    with pytest.raises(ValueError, match="must match"):
        compare_eigenpairs(top, exact)
    with pytest.raises(ValueError, match="number of codes"):
        exact.first(5)
