"""Top eigenpairs of the metric G = J^T J at each latent code (Section 5, Figure 5).

Two ways to the same answer:

- ``metric_eigh``: dense, ``torch.linalg.eigh`` of J^T J built from ``sbp.jacobian``
  (d JVPs per sample, float64): ground truth while d is small.
- ``metric_topk``: matrix-free block subspace iteration with Rayleigh-Ritz on the
  operator of ``sbp.metric_operator`` (one JVP+VJP over a (k + oversample, B, d) block
  per iteration); reports residuals ||G u - lambda u|| so the caller can see convergence.

Both return eigenvalues in decreasing order, eigenvectors as columns of (B, d, k),
each with the sign fixed so that its largest-magnitude entry is positive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.checks import as_generator, check_latent, check_positive_int
from sbp.numerics.dense import metric_dense
from sbp.numerics.jacobian import metric_operator

__all__ = ["Eigenpairs", "metric_eigh", "metric_topk", "metric_eigenpairs", "fix_signs", "eigenvalue_error",
           "eigenvector_alignment", "relative_eigengap", "compare_eigenpairs"]


@dataclass(frozen=True)
class Eigenpairs:
    """Eigenvalues (B, k), decreasing, and unit eigenvectors (B, d, k) of J^T J."""

    values: Tensor
    vectors: Tensor
    residuals: Tensor  # (B, k) ||G u - lambda u|| (0 for the dense method up to rounding)
    method: str
    iterations: int

    @property
    def condition(self) -> Tensor:
        """lambda_max / lambda_min over the pairs computed (the true condition number for k = d)."""
        return self.values[:, 0] / self.values[:, -1]

    def first(self, n: int) -> "Eigenpairs":
        """The pairs of the first ``n`` latent codes (rows)."""
        n = check_positive_int(n, "n")
        if n > self.values.shape[0]:
            raise ValueError(f"n must be <= the number of codes {self.values.shape[0]}, got {n}")
        return Eigenpairs(values=self.values[:n], vectors=self.vectors[:n], residuals=self.residuals[:n],
                          method=self.method, iterations=self.iterations)


def fix_signs(vectors: Tensor) -> Tensor:
    """Flip each column of (B, d, k) so that its largest-magnitude entry is positive."""
    idx = vectors.abs().argmax(dim=1, keepdim=True)
    sign = torch.sign(torch.gather(vectors, 1, idx))
    return vectors * torch.where(sign == 0, torch.ones_like(sign), sign)


def _check_k(k: int | None, d: int) -> int:
    if k is None:
        return d
    k = check_positive_int(k, "k")
    if k > d:
        raise ValueError(f"k must be <= the latent size d={d}, got k={k}")
    return k


def metric_eigh(f: Callable[[Tensor], Tensor], z: Tensor, k: int | None = None, *,
                jvp_mode: str = "auto") -> Eigenpairs:
    """Dense eigendecomposition of J^T J (float64) at each row of ``z``; top ``k`` (default all d)."""
    check_latent(z)
    k = _check_k(k, z.shape[1])
    with torch.no_grad():
        G = metric_dense(f, z, jvp_mode=jvp_mode)
    lam, U = torch.linalg.eigh(G)
    lam, U = lam.flip(-1)[:, :k], U.flip(-1)[:, :, :k]
    U = fix_signs(U)
    res = (G @ U - U * lam[:, None, :]).norm(dim=1)
    return Eigenpairs(values=lam.to(z.dtype), vectors=U.to(z.dtype), residuals=res.to(z.dtype),
                      method="exact", iterations=0)


def metric_topk(f: Callable[[Tensor], Tensor], z: Tensor, k: int, *, iters: int = 100, oversample: int = 4,
                tol: float = 1e-6, generator: torch.Generator | int | None = None,
                jvp_mode: str = "auto") -> Eigenpairs:
    """Top-``k`` eigenpairs of J^T J by block subspace iteration with Rayleigh-Ritz.

    Each iteration applies G = J^T J (one JVP + one VJP) to a block of
    ``k + oversample`` vectors per sample, orthonormalises it (QR) and rotates it
    onto the Ritz vectors of the projected matrix. The error of pair i falls like
    (lambda_{k+oversample+1} / lambda_i)^iteration. Stops after ``iters`` iterations or
    once every residual ||G u_i - theta_i u_i|| <= ``tol`` * theta_1.
    Runs without a graph (the result is not differentiable).
    """
    check_latent(z)
    B, d = z.shape
    k = _check_k(k, d)
    iters = check_positive_int(iters, "iters")
    oversample = check_positive_int(oversample, "oversample", minimum=0)
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    m = min(d, k + oversample)
    gen = as_generator(generator, z.device)
    with torch.no_grad():
        op = metric_operator(f, z, jvp_mode=jvp_mode)

        def apply(X: Tensor) -> Tensor:  # (B, d, m) -> (B, d, m)
            return op.matvec(X.permute(2, 0, 1)).permute(1, 2, 0)

        gen_device = gen.device if gen is not None else z.device
        X = torch.randn((B, d, m), generator=gen, device=gen_device, dtype=z.dtype).to(z.device)
        X, _ = torch.linalg.qr(X)
        GX = apply(X)
        it = 0
        for it in range(1, iters + 1):
            X, _ = torch.linalg.qr(GX)
            GX = apply(X)
            H = X.mT @ GX
            theta, S = torch.linalg.eigh((H + H.mT) / 2)
            theta, S = theta.flip(-1), S.flip(-1)
            X, GX = X @ S, GX @ S
            res = (GX - X * theta[:, None, :]).norm(dim=1)
            if bool((res[:, :k] <= tol * theta[:, :1].abs()).all()):
                break
    return Eigenpairs(values=theta[:, :k], vectors=fix_signs(X[:, :, :k]), residuals=res[:, :k], method="subspace",
                      iterations=it)


def metric_eigenpairs(f: Callable[[Tensor], Tensor], z: Tensor, k: int | None = None, *, method: str = "auto",
                      exact_max_dim: int = 256, **kw) -> Eigenpairs:
    """``metric_eigh`` when ``method="exact"`` (or ``"auto"`` and d <= ``exact_max_dim``), else ``metric_topk``."""
    if method not in ("auto", "exact", "subspace"):
        raise ValueError(f"method must be 'auto', 'exact' or 'subspace', got {method!r}")
    check_latent(z)
    if method == "exact" or (method == "auto" and z.shape[1] <= exact_max_dim):
        return metric_eigh(f, z, k, jvp_mode=kw.get("jvp_mode", "auto"))
    return metric_topk(f, z, _check_k(k, z.shape[1]), **kw)


def _check_against(approx: Tensor, reference: Tensor, name: str, ndim: int) -> int:
    """The number k of approximate pairs (last axis), after checking shapes against the reference."""
    if approx.dim() != ndim or reference.dim() != ndim:
        raise ValueError(f"{name} and its reference must be {ndim}-D, got shapes {tuple(approx.shape)} and "
                         f"{tuple(reference.shape)}")
    k = approx.shape[-1]
    if approx.shape[:-1] != reference.shape[:-1] or reference.shape[-1] < k:
        raise ValueError(f"{name} {tuple(approx.shape)} must match its reference {tuple(reference.shape)} except in "
                         "the last axis, where the reference needs at least as many pairs")
    return k


def eigenvalue_error(values: Tensor, reference: Tensor) -> Tensor:
    """|lambda_i - lambda_i^ref| / lambda_i^ref (B, k) of approximate eigenvalues (B, k) against
    reference eigenvalues (B, >= k), both in decreasing order (e.g. ``metric_topk`` against ``metric_eigh``)."""
    k = _check_against(values, reference, "values", 2)
    ref = reference[:, :k]
    return ((values - ref) / ref).abs()


def eigenvector_alignment(vectors: Tensor, reference: Tensor) -> Tensor:
    """|u_i^T u_i^ref| (B, k) for unit eigenvectors (B, d, k) against reference ones (B, d, >= k):
    1 where the approximate eigenvector is the reference one up to sign."""
    k = _check_against(vectors, reference, "vectors", 3)
    return (vectors * reference[:, :, :k]).sum(1).abs()


def relative_eigengap(values: Tensor, k: int) -> Tensor:
    """(lambda_i - lambda_{i+1}) / lambda_i for i = 1..k (B, k), from decreasing eigenvalues (B, > k).

    Subspace iteration resolves eigenvector i only as well as this gap separates it (the
    error of pair i falls like (lambda_{i+1} / lambda_i)^iteration for a block of size i).
    """
    k = check_positive_int(k, "k")
    if values.dim() != 2 or values.shape[1] <= k:
        raise ValueError(f"values must be (B, m) with m > k={k} (the gap of pair k needs lambda_(k+1)), "
                         f"got shape {tuple(values.shape)}")
    return (values[:, :k] - values[:, 1:k + 1]) / values[:, :k]


def compare_eigenpairs(approx: Eigenpairs, reference: Eigenpairs) -> dict[str, float]:
    """Accuracy of approximate eigenpairs (k per code) against reference ones at the same codes.

    Returns ``max_rel_eigenvalue_error`` (max of ``eigenvalue_error``),
    ``min_abs_cosine_eigenvector`` and ``median_abs_cosine_eigenvector`` (of
    ``eigenvector_alignment``) and ``min_rel_eigengap`` (of the reference's
    ``relative_eigengap`` over the k pairs; it needs k + 1 reference eigenvalues).
    """
    rel = eigenvalue_error(approx.values, reference.values)
    align = eigenvector_alignment(approx.vectors, reference.vectors)
    gap = relative_eigengap(reference.values, approx.values.shape[1])
    return {"max_rel_eigenvalue_error": rel.max().item(), "min_abs_cosine_eigenvector": align.min().item(),
            "median_abs_cosine_eigenvector": align.median().item(), "min_rel_eigengap": gap.min().item()}
