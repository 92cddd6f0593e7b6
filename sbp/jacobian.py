"""Matrix-free products with the metric G = J^T J of a batched map f (Algorithm 1).

``J v`` is a forward-mode JVP and ``J^T w`` a reverse-mode VJP, both from
``torch.func`` and ``vmap``-batched over a block of probe vectors. Rows of ``z`` are
independent samples, so one batched product gives every sample's ``J_b v_b`` at once.
The reverse pass reuses a single forward (one ``vjp`` call); the graph to the
parameters of ``f`` and to ``z`` is kept, so everything built from these products is
differentiable (Eq. 3).

This module knows nothing of estimators: it only supplies products and dense Jacobians.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from torch.func import jvp, vjp, vmap

from .checks import check_latent, check_output

__all__ = ["MetricOperator", "metric_operator", "jacobian", "JVP_MODES"]

JVP_MODES = ("forward", "reverse")


def _flat(f: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    def g(z: Tensor) -> Tensor:
        out = f(z)
        return out.reshape(out.shape[0], -1)
    return g


@dataclass(frozen=True)
class MetricOperator:
    """Products with J (B x D x d), J^T and G = J^T J for every row of a batch.

    Blocks of vectors have shape ``(P, B, d)`` (inputs) or ``(P, B, D)`` (outputs):
    P probe vectors for each of the B samples.
    """

    output: Tensor  # f(z) flattened, (B, D)
    jvp: Callable[[Tensor], Tensor]  # (P, B, d) -> (P, B, D)
    vjp: Callable[[Tensor], Tensor]  # (P, B, D) -> (P, B, d)
    batch: int
    dim: int
    out_dim: int

    def matvec(self, v: Tensor) -> Tensor:
        """G v = J^T (J v) for a block ``v`` of shape (P, B, d)."""
        return self.vjp(self.jvp(v))


def metric_operator(f: Callable[[Tensor], Tensor], z: Tensor, *, jvp_mode: str = "forward",
                    check: bool = True) -> MetricOperator:
    """Build the J^T J operator of ``f`` at each row of ``z`` (shape (B, d)).

    ``jvp_mode="forward"`` (default, the paper's choice) computes J v by forward-mode
    ``torch.func.jvp``. ``"reverse"`` computes it as the VJP of the (linear) VJP map,
    reusing the single forward pass; on CPU this is often faster for transposed
    convolutions, whose forward-mode rules are slow (see benchmarks/bench_core.py).
    """
    if check:
        check_latent(z)
    if jvp_mode not in JVP_MODES:
        raise ValueError(f"jvp_mode must be one of {JVP_MODES}, got {jvp_mode!r}")
    g = _flat(f)
    out, vjp_fn = vjp(g, z)
    if check:
        check_output(out, z.shape[0], z.shape[1])

    def vjp_block(w: Tensor) -> Tensor:
        return vmap(lambda u: vjp_fn(u)[0])(w)

    if jvp_mode == "forward":
        def jvp_block(v: Tensor) -> Tensor:
            return vmap(lambda t: jvp(g, (z,), (t,))[1])(v)
    else:
        _, lin = vjp(lambda u: vjp_fn(u)[0], torch.zeros_like(out))

        def jvp_block(v: Tensor) -> Tensor:
            return vmap(lambda t: lin(t)[0])(v)

    return MetricOperator(output=out, jvp=jvp_block, vjp=vjp_block, batch=z.shape[0],
                          dim=z.shape[1], out_dim=out.shape[1])


def jacobian(f: Callable[[Tensor], Tensor], z: Tensor, *, chunk: int | None = 256,
             jvp_mode: str = "forward") -> Tensor:
    """Dense Jacobians of ``f`` at each row of ``z``: shape (B, D, d), D = output size per row.

    Columns come from JVPs with the standard basis, ``chunk`` columns per batched call
    (``None``: all at once). Differentiable. Used by ``method="exact"``.
    """
    op = metric_operator(f, z, jvp_mode=jvp_mode)
    B, d = z.shape
    eye = torch.eye(d, dtype=z.dtype, device=z.device)
    step = d if chunk is None else max(1, int(chunk))
    cols = []
    for i in range(0, d, step):
        basis = eye[i:i + step, None, :].expand(-1, B, -1)  # (c, B, d)
        cols.append(op.jvp(basis))  # (c, B, D)
    return torch.cat(cols, dim=0).permute(1, 2, 0)  # (B, D, d)
