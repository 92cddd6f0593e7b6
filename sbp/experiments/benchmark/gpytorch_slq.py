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
