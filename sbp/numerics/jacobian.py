"""Matrix-free products with the metric G = J^T J of a batched map f (Algorithm 1).

``J v`` is a forward-mode JVP and ``J^T w`` a reverse-mode VJP, both from
``torch.func`` and ``vmap``-batched over a block of probe vectors (``jvp_mode="forward"``,
the paper's Algorithm 1). Rows of ``z`` are independent samples, so one batched product
gives every sample's ``J_b v_b`` at once. ``jvp_mode="reverse"`` instead folds the P probe
vectors into the batch (f is run once on z repeated P times) and gets ``J v`` as the VJP
of the linear VJP map: no forward-mode rules and no ``vmap``. On CPU this is the faster
route (PyTorch's forward-mode rule for a matrix product clones the weight matrix at every
call; benchmarks/bench_core.py measures both). ``jvp_mode="dense"`` is for tiny latent
sizes (Figures 1-2, d = 2): the d Jacobian columns are formed once by the reverse route and
every product is then a (B, D, d) matrix product, so a polynomial of order m costs d network
products instead of 2 m (benchmarks/bench_fig1_step.py); the estimates agree to rounding.
The graph to the parameters of ``f`` and to ``z`` is kept either way, so everything built from
these products is differentiable (Eq. 3).

This module knows nothing of estimators: it only supplies products and dense Jacobians.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from torch.func import jvp, vjp, vmap

from sbp.numerics.checks import check_eval_mode, check_latent, check_output

__all__ = ["MetricOperator", "metric_operator", "jacobian", "column_mode", "JVP_MODES", "resolve_jvp_mode",
           "ProductCounts", "counted"]

JVP_MODES = ("auto", "forward", "reverse", "dense")
FOLD_ROWS = 4096  # "reverse" mode runs f on at most this many folded rows (or B) at once


def _flat(f: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """f with its output flattened to (B, D); a 0-d output and errors raised inside f (under torch.func's
    transforms: in-place updates of buffers, random ops under vmap, .item()) re-raised naming f."""
    def g(z: Tensor) -> Tensor:
        try:
            out = f(z)
        except RuntimeError as e:
            raise RuntimeError(f"f raised while sbp took its Jacobian-vector products (torch.func jvp/vjp/vmap): {e}\n"
                               "f must be a pure function of z, row by row: no in-place updates of buffers or of z, "
                               "no random ops, no .item() / data-dependent Python control flow; call .eval() on "
                               "modules with dropout or batch norm") from e
        if not isinstance(out, Tensor) or out.dim() == 0:
            raise ValueError(f"f must return a tensor with a batch dimension, shape (B, ...) for z of shape (B, d); "
                             f"got {'a 0-d tensor (a scalar)' if isinstance(out, Tensor) else type(out).__name__}: "
                             "return one output row per row of z (e.g. no .sum() over the batch)")
        return out.reshape(out.shape[0], -1)
    return g


@dataclass(frozen=True)
class MetricOperator:
    """The Jacobian operator of f at z: products with J (B x D x d), J^T and G = J^T J for every row of a
    batch, and J's dense columns. Every log det method (stochastic, exact, auto) sees only this object.

    Blocks of vectors have shape ``(P, B, d)`` (inputs) or ``(P, B, D)`` (outputs):
    P probe vectors for each of the B samples. ``column_jvp`` is J on wide blocks of basis vectors
    (``columns``, ``dense``: the exact route's columns, by ``column_mode``'s route); None: ``jvp``.
    Wrap the products to observe them (``counted``): ``dataclasses.replace`` with new callables.
    """

    output: Tensor  # f(z) flattened, (B, D)
    jvp: Callable[[Tensor], Tensor]  # (P, B, d) -> (P, B, D)
    vjp: Callable[[Tensor], Tensor]  # (P, B, D) -> (P, B, d)
    batch: int
    dim: int
    out_dim: int
    column_jvp: Callable[[Tensor], Tensor] | None = None  # (k, B, d) -> (k, B, D), wide blocks of columns
    z: Tensor | None = None  # the point (B, d): dtype and device of the basis vectors

    def matvec(self, v: Tensor) -> Tensor:
        """G v = J^T (J v) for a block ``v`` of shape (P, B, d)."""
        return self.vjp(self.jvp(v))

    def columns(self, basis: Tensor, *, known: Tensor | None = None, chunk: int | None = 256) -> Tensor:
        """J applied to the k vectors ``basis`` (k, B, d) of each row, ``chunk`` at a time (None: all at once),
        after the products ``known`` (k0, B, D) already made: (B, D, k0 + k). Differentiable."""
        apply = self.column_jvp if self.column_jvp is not None else self.jvp
        k = basis.shape[0]
        step = k if chunk is None else max(1, int(chunk))
        cols = [] if known is None else [known]
        cols += [apply(basis[i:i + step]) for i in range(0, k, step)]  # each (c, B, D)
        return torch.cat(cols, dim=0).permute(1, 2, 0)

    def dense(self, *, chunk: int | None = 256) -> Tensor:
        """The dense Jacobian J (B, D, d): ``columns`` of the standard basis (d column products per row)."""
        like = self.z if self.z is not None else self.output
        basis = torch.eye(self.dim, dtype=like.dtype, device=like.device)[:, None, :].expand(-1, self.batch, -1)
        return self.columns(basis, chunk=chunk)


@dataclass
class ProductCounts:
    """Vectors per row through J (``jvps``), J^T (``vjps``) and dense Jacobian columns (``columns``)."""

    jvps: int = 0
    vjps: int = 0
    columns: int = 0

    @property
    def products(self) -> int:
        """Vector products per row: JVP+VJP pairs (the larger count) plus dense columns."""
        return max(self.jvps, self.vjps) + self.columns


def counted(op: MetricOperator) -> tuple[MetricOperator, ProductCounts]:
    """``op`` with every product counted: (the wrapped operator, its live ``ProductCounts``). Pass the
    operator to ``sbp.numerics.logdet.logdet_operator`` (any method); the original ``op`` is untouched."""
    counts = ProductCounts()
    columns = op.column_jvp if op.column_jvp is not None else op.jvp

    def jvp(v: Tensor) -> Tensor:
        counts.jvps += v.shape[0]
        return op.jvp(v)

    def vjp(u: Tensor) -> Tensor:
        counts.vjps += u.shape[0]
        return op.vjp(u)

    def column_jvp(v: Tensor) -> Tensor:
        counts.columns += v.shape[0]
        return columns(v)
    return dataclasses.replace(op, jvp=jvp, vjp=vjp, column_jvp=column_jvp), counts


def resolve_jvp_mode(jvp_mode: str, device: torch.device) -> str:
    """``"auto"`` -> ``"forward"`` on CUDA (the paper's route), ``"reverse"`` elsewhere (faster on CPU);
    ``"forward"``, ``"reverse"`` and ``"dense"`` are returned as they are."""
    if jvp_mode not in JVP_MODES:
        raise ValueError(f"jvp_mode must be one of {JVP_MODES}, got {jvp_mode!r}")
    if jvp_mode == "auto":
        return "forward" if device.type == "cuda" else "reverse"
    return jvp_mode


def _folded_products(g: Callable[[Tensor], Tensor], z: Tensor
                     ) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """J v and J^T w for blocks (P, B, .) with the P vectors folded into f's batch.

    f runs once per distinct folded block size on ``z`` repeated; J v is the VJP of the
    (linear) VJP map. Blocks with P B > FOLD_ROWS are split, so memory stays bounded.
    """
    B = z.shape[0]
    cache: dict[tuple[int, bool], tuple[Callable, Callable]] = {}

    def linear_maps(p: int) -> tuple[Callable, Callable]:
        key = (p, torch.is_grad_enabled())  # maps built under no_grad carry no graph
        if key not in cache:
            out, vjp_fn = vjp(g, z.repeat(p, 1))  # row i * B + b is z_b
            _, lin = vjp(lambda u: vjp_fn(u)[0], torch.zeros_like(out))
            cache[key] = (lambda w: vjp_fn(w)[0], lambda v: lin(v)[0])
        return cache[key]

    def apply(which: int, x: Tensor) -> Tensor:
        P = x.shape[0]
        step = max(1, min(P, FOLD_ROWS // B))
        parts = []
        for i in range(0, P, step):
            xi = x[i:i + step]
            p = xi.shape[0]
            parts.append(linear_maps(p)[which](xi.reshape(p * B, -1)).reshape(p, B, -1))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)

    return (lambda v: apply(1, v)), (lambda w: apply(0, w))


def metric_operator(f: Callable[[Tensor], Tensor], z: Tensor, *, jvp_mode: str = "auto",
                    check: bool = True) -> MetricOperator:
    """Build the J^T J operator of ``f`` at each row of ``z`` (shape (B, d)).

    ``jvp_mode``: ``"forward"`` (the paper's choice) computes J v by forward-mode
    ``torch.func.jvp`` under ``vmap``; ``"reverse"`` folds the probes into the batch and
    computes J v as the VJP of the VJP (see the module docstring); ``"auto"`` (default)
    takes ``"forward"`` on CUDA and ``"reverse"`` on CPU. The products agree to rounding.
    """
    if check:
        check_latent(z)
        check_eval_mode(f)
    mode = resolve_jvp_mode(jvp_mode, z.device)
    g = _flat(f)
    column_jvp = None if column_mode(jvp_mode, z.device) == mode else _forward_jvp(g, z)
    if mode == "dense":
        return dataclasses.replace(_dense_operator(g, z, check), column_jvp=column_jvp)
    if mode == "forward":
        out, vjp_fn = vjp(g, z)
    else:
        out = g(z)
    if check:
        check_output(out, z.shape[0], z.shape[1])

    if mode == "forward":
        jvp_block = _forward_jvp(g, z)

        def vjp_block(w: Tensor) -> Tensor:
            return vmap(lambda u: vjp_fn(u)[0])(w)
    else:
        jvp_block, vjp_block = _folded_products(g, z)

    return MetricOperator(output=out, jvp=jvp_block, vjp=vjp_block, batch=z.shape[0], dim=z.shape[1],
                          out_dim=out.shape[1], column_jvp=column_jvp, z=z)


def _forward_jvp(g: Callable[[Tensor], Tensor], z: Tensor) -> Callable[[Tensor], Tensor]:
    """J v by forward-mode ``torch.func.jvp`` under ``vmap`` over the block (P, B, d) -> (P, B, D)."""
    def jvp_block(v: Tensor) -> Tensor:
        return vmap(lambda t: jvp(g, (z,), (t,))[1])(v)
    return jvp_block


def _dense_operator(g: Callable[[Tensor], Tensor], z: Tensor, check: bool) -> MetricOperator:
    """``jvp_mode="dense"``: J (B, D, d) from d folded reverse-mode columns, products as matrix products."""
    out = g(z)
    if check:
        check_output(out, z.shape[0], z.shape[1])
    B, d = z.shape
    basis = torch.eye(d, dtype=z.dtype, device=z.device)[:, None, :].expand(-1, B, -1)
    J = _folded_products(g, z)[0](basis).permute(1, 2, 0)  # (B, D, d), with a graph when grad is enabled
    return MetricOperator(output=out, jvp=lambda v: torch.einsum("bkd,pbd->pbk", J, v),
                          vjp=lambda w: torch.einsum("bkd,pbk->pbd", J, w), batch=B, dim=d, out_dim=out.shape[1], z=z)


def column_mode(jvp_mode: str, device: torch.device) -> str:
    """The product route of dense Jacobian columns: ``"auto"`` (and ``"dense"``) is ``"forward"`` here: wide
    blocks of basis vectors amortize forward mode's per-call cost, and it is then the faster route on CPU
    too (benchmarks/bench_core.py, "exact" columns)."""
    resolve_jvp_mode(jvp_mode, device)  # validates
    return "forward" if jvp_mode in ("auto", "dense") else jvp_mode


def jacobian(f: Callable[[Tensor], Tensor], z: Tensor, *, chunk: int | None = 256,
             jvp_mode: str = "auto", op: MetricOperator | None = None, basis: Tensor | None = None,
             known: Tensor | None = None) -> Tensor:
    """Dense Jacobians of ``f`` at each row of ``z``: shape (B, D, d), D = output size per row.

    Columns come from JVPs with the standard basis, ``chunk`` columns per batched call
    (``None``: all at once), on ``op``'s column route if given (``MetricOperator.columns``), else on a new
    operator. ``basis`` (k, B, d): J applied to these k vectors of each row instead;
    ``known`` (k0, B, D): products already made, put first ((B, D, k0 + k) in all). Differentiable.
    Used by ``method="exact"``.
    """
    if op is None:
        op = metric_operator(f, z, jvp_mode=column_mode(jvp_mode, z.device))
    if basis is None:
        if known is None:
            return op.dense(chunk=chunk)
        B, d = z.shape
        basis = torch.eye(d, dtype=z.dtype, device=z.device)[:, None, :].expand(-1, B, -1)  # (d, B, d)
    return op.columns(basis, known=known, chunk=chunk)
