"""GPyTorch's stochastic Lanczos quadrature on the same metric (optional: GPyTorch is not a dependency)."""
from __future__ import annotations

import importlib.util
import warnings

import torch
from torch import Tensor


F64 = torch.float64
GPYTORCH = "gpytorch-slq"


def gpytorch_available() -> bool:
    """True if ``gpytorch`` can be imported (an optional, benchmark-only package)."""
    return importlib.util.find_spec("gpytorch") is not None


def gpytorch_slq_logdet(gram: Tensor, *, steps: int, probes: int, seed: int) -> Tensor:
    """log det of SPD ``gram`` (B, d, d) by GPyTorch's stochastic Lanczos quadrature.

    ``inv_quad_logdet`` of the dense operator with Cholesky disabled
    (``max_cholesky_size(0)``), ``probes`` trace samples (GPyTorch draws Gaussian probes from
    the global RNG, seeded here in a forked RNG state) and exactly ``steps`` CG/Lanczos
    iterations (``max_cg_iterations = max_lanczos_quadrature_iterations = steps``; with
    trace samples CG does not stop before the tridiagonalization is complete). Cost:
    ``steps * probes`` products with the operator (plus one with a zero block).
    Raises ImportError when GPyTorch is absent.
    """
    import gpytorch
    from linear_operator import to_linear_operator

    s = gpytorch.settings
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CG "did not converge": intended, it runs a fixed number of steps
        torch.manual_seed(seed)
        with s.max_cholesky_size(0), s.fast_computations(log_prob=True), s.num_trace_samples(probes), \
                s.max_lanczos_quadrature_iterations(steps), s.max_cg_iterations(steps), s.cg_tolerance(1e-12), \
                torch.no_grad():
            _, ld = to_linear_operator(gram.to(F64)).inv_quad_logdet(inv_quad_rhs=None, logdet=True)
    return ld


def gpytorch_matrix_free_logdet(matvec, batch: int, dim: int, dtype: torch.dtype, *, seed: int,
                                probes: int | None = None, steps: int | None = None) -> tuple[Tensor, int]:
    """log det of the SPD operator ``matvec`` ((P, B, d) -> (P, B, d), e.g. ``MetricOperator.matvec``) by
    GPyTorch's SLQ as a user would call it for log det only: ``inv_quad_logdet`` with Cholesky off
    (``max_cholesky_size(0)``) and GPyTorch's own settings otherwise; ``probes`` / ``steps`` override
    ``num_trace_samples`` / ``max_lanczos_quadrature_iterations`` when given (None: GPyTorch's default,
    10 and 20 in gpytorch 1.15). Returns (log det (B,), vectors pushed through the operator per row,
    counted). Probes come from the global RNG, seeded by ``seed`` in a forked RNG state."""
    import gpytorch
    from linear_operator.operators import LinearOperator

    count = [0]

    class _Operator(LinearOperator):  # products with G: (B, d, k) columns -> (k, B, d) blocks of matvec
        def __init__(self, anchor, *, fn):
            super().__init__(anchor, fn=fn)
            self.anchor, self.fn = anchor, fn

        def _matmul(self, rhs: Tensor) -> Tensor:
            count[0] += rhs.shape[-1]
            return self.fn(rhs.permute(2, 0, 1)).permute(1, 2, 0)

        def _size(self) -> torch.Size:
            return self.anchor.shape

        def _transpose_nonbatch(self):
            return self

    s = gpytorch.settings
    cfg = [s.max_cholesky_size(0)]
    cfg += [] if probes is None else [s.num_trace_samples(probes)]
    cfg += [] if steps is None else [s.max_lanczos_quadrature_iterations(steps)]
    op = _Operator(torch.zeros(batch, dim, dim, dtype=dtype), fn=matvec)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # CG "did not converge" warnings
        torch.manual_seed(seed)
        for c in cfg:
            c.__enter__()
        try:
            _, ld = op.inv_quad_logdet(inv_quad_rhs=None, logdet=True)
        finally:
            for c in reversed(cfg):
                c.__exit__(None, None, None)
    return ld, count[0]
