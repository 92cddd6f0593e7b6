"""``method="auto"``: exact or stochastic, whichever is predicted to be cheaper.

Fixed budget (``auto_method``): the estimator's vector products against d dense-Jacobian columns.
With a tolerance (``auto_pilot_verdict``): one pilot block of SLQ to the tolerance's quadrature
share predicts the products that reaching the tolerance needs, from the Lanczos steps it took
(the spectrum) and the spread of its probes' values (the variance): exact wins when d columns
cost less. The pilot is abandoned as soon as a lower bound of that cost already exceeds d
(``auto_pilot_hopeless``), so that where exact wins the pilot costs a few steps, not up to d columns.
Before the pilot, ``auto_gate`` asks the same question of the pilot's own probes after one step,
from J v alone (P JVPs, no VJP, no Lanczos): where the probes' spread already rules the stochastic
route out (e.g. rtol 0.01 at d = 256 on the designed spectra), the pilot never starts. Its P products
are not wasted when exact is taken: they are P of exact's d columns, in a basis completing the probes
(``sbp.numerics.dense.metric_dense_completing``).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from sbp.numerics.tolerance import FIRST_CHECK, Tolerance
from sbp.numerics.trace import student_t_quantile

__all__ = ["AUTO_PRODUCT_COST", "auto_gate", "auto_method", "auto_operator_method", "auto_pilot", "auto_pilot_hopeless", "auto_pilot_steps",
           "auto_pilot_verdict", "graph_wanted"]

# One JVP+VJP product on a vector (in small sequential blocks of probes) costs about this many
# dense-Jacobian JVP columns (which are batched 256 at a time). Measured without a graph on DCGAN-like
# generators (widths 8 and 32, d = 64-1024, 2-core CPU, double-VJP products): 2.1-3.7. Rough, two
# architectures; near the crossover (d ~ 3 x products) auto can pick the method that is ~15 % slower.
AUTO_PRODUCT_COST = 3.0


def graph_wanted(output: Tensor) -> bool:
    """Whether a gradient can flow: grad mode is on and the forward output (computed anyway) requires grad,
    so that closures over trainable parameters keep their gradients."""
    return torch.is_grad_enabled() and output.requires_grad


def auto_method(d: int, *, order: int, probes: int, power_iters: int, method: str = "chebyshev",
                graph: bool | None = None, product_cost: float = AUTO_PRODUCT_COST) -> str:
    """``"exact"`` if d JVP columns (dense Jacobian) cost less than the stochastic estimator's
    products, ``product_cost`` times its vector products, else ``method``.

    chebyshev/taylor: ``power_iters * probes`` Lanczos products, plus ``order * probes`` for
    the recurrence and 1 for lambda_max when a graph is built (``graph``, default
    ``torch.is_grad_enabled()``) or order >= 2 power_iters; slq/bidiag: ``min(order, d) * probes + 1``.
    """
    graph = torch.is_grad_enabled() if graph is None else graph
    if method in ("slq", "bidiag"):
        vectors = min(order, d) * probes + 1
    else:
        recurrence = graph or order >= 2 * power_iters
        vectors = (power_iters + (order if recurrence else 0)) * probes + int(graph)
    return "exact" if d <= product_cost * vectors else method


def auto_operator_method(dim: int, *, order: int, probes: int, power_iters: int) -> str:
    """``sbp.logdet``'s fixed-budget ``method="auto"``, products with G compared one to one: ``"exact"`` (dim
    products with the unit vectors) when dim <= power_iters + 1 + order * probes, else ``"chebyshev"``. (This
    counts the Lanczos steps once, not per probe as ``auto_method`` does; kept so that fixed-budget results
    do not move.)"""
    return "exact" if dim <= power_iters + 1 + order * probes else "chebyshev"


def auto_pilot_steps(d: int, probes: int, product_cost: float) -> int:
    """Lanczos steps the pilot block may take before the stochastic route costs more than exact
    (0: exact is cheaper than even a 4-step pilot)."""
    steps = int(d // (product_cost * probes))
    return steps if steps >= 4 else 0


def auto_pilot_hopeless(gauss: Tensor, target: Tensor, steps: int, d: int, *, confidence: float,
                        product_cost: float) -> bool:
    """True when the stochastic route cannot be cheaper than exact, judged after ``steps`` pilot steps.

    ``gauss`` (P, B): the probes' current Gauss values; ``target`` (B,): the tolerance. However the
    quadrature ends, the run needs at least max(``steps``, ``FIRST_CHECK``) steps per probe (no
    bracket is checked before) and at least n = (t s / target)^2 probes (the whole tolerance for the
    probes, none for the quadrature), in whole blocks of P, so ``product_cost * n * steps`` dense columns
    is a lower bound of its cost (with s from the current values, which early steps underestimate).
    """
    P = gauss.shape[0]
    if P < 2:
        return False
    s = gauss.detach().std(0)
    t = student_t_quantile((1 + confidence) / 2, P - 1)
    n = ((t * s / target.clamp_min(torch.finfo(target.dtype).tiny)) ** 2).amax()
    if not bool(torch.isfinite(n)):
        return True  # a probe's value is -inf or nan: a (numerically) singular row, which exact reports
    blocks = max(1, math.ceil(float(n) / P))
    return product_cost * blocks * P * max(steps, FIRST_CHECK) >= d


def auto_pilot_verdict(values: Tensor, bias: Tensor, target: Tensor, steps: int, d: int, *, confidence: float,
                       product_cost: float, quadrature_share: float) -> bool:
    """True if the stochastic route is predicted cheaper than exact after the pilot block.

    ``values`` (P, B) per-probe values, ``bias`` (B,) their quadrature bound, ``target`` (B,) the
    tolerance. Probes needed n = (t s / (target - bias))^2 from the probes' standard deviation s;
    products n * steps, each ``product_cost`` dense columns, against d."""
    P = values.shape[0]
    if bool((bias > quadrature_share * target * (1 + 1e-9)).any()) or P < 2:
        return False
    s = values.detach().std(0)
    t = student_t_quantile((1 + confidence) / 2, P - 1)
    room = (target - bias).clamp_min(torch.finfo(target.dtype).tiny)
    needed = float(((t * s / room) ** 2).amax().clamp_min(P))
    return math.isfinite(needed) and product_cost * needed * steps < d


def auto_pilot(d: int, *, confidence: float, product_cost: float, quadrature_share: float):
    """``(give_up, verdict)`` for the pilot block: ``give_up(gauss, target, steps)``, the Krylov stop rule's
    early exit (``auto_pilot_hopeless``), and ``verdict(block, bias, target)`` for ``run_to_tolerance``:
    False once ``give_up`` has fired, else ``auto_pilot_verdict``."""
    state = {"gave_up": False}

    def give_up(gauss: Tensor, target: Tensor, steps: int) -> bool:
        state["gave_up"] = state["gave_up"] or auto_pilot_hopeless(gauss, target, steps, d, confidence=confidence,
                                                                   product_cost=product_cost)
        return state["gave_up"]

    def verdict(block, bias: Tensor, target: Tensor) -> bool:
        return not state["gave_up"] and auto_pilot_verdict(block.values, bias, target, block.steps, d,
                                                           confidence=confidence, product_cost=product_cost,
                                                           quadrature_share=quadrature_share)
    return give_up, verdict


def auto_gate(JV: Tensor, V: Tensor, tol: Tolerance, *, damping: float = 0.0, product_cost: float) -> bool:
    """True when the pilot's first step already rules the stochastic route out: ``auto_pilot_hopeless``
    on the one-node Gauss values |v|^2 log(v^T (G + damping I) v / |v|^2) of the pilot's probes ``V``
    (P, B, d), from ``JV`` = J V (P, B, D) alone (the caller keeps J V: exact's route reuses it as P columns)."""
    with torch.no_grad():  # a decision: no graph
        sq = V.pow(2).sum(-1)
        rayleigh = JV.detach().pow(2).sum(-1) / sq + damping
        gauss = sq * torch.log(rayleigh)
    return auto_pilot_hopeless(gauss, tol.target(gauss.mean(0)), 1, V.shape[-1], confidence=tol.confidence,
                               product_cost=product_cost)
