"""``method="auto"``: exact or stochastic, whichever is predicted to be cheaper; every decision of it is here.

One cost model (``CostModel``) serves both entry points: exact costs d units (d dense Jacobian columns for
``logdet_metric``, d products with the unit vectors for ``sbp.logdet``) and each vector product of the
stochastic route ``product_cost`` units (``METRIC_COST``: a JVP+VJP pair ~ ``AUTO_PRODUCT_COST`` columns;
``OPERATOR_COST``: a product with G ~ one with a unit vector). ``auto_estimate`` runs the decision on the
routes the facade hands it.

Fixed budget (``CostModel.method``): the estimator's vector products against exact's d units.
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
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from sbp.numerics.checks import as_generator
from sbp.numerics.dense import metric_completing
from sbp.numerics.jacobian import MetricOperator
from sbp.numerics.result import LogdetEstimate
from sbp.numerics.tolerance import FIRST_CHECK, Tolerance
from sbp.numerics.trace import peek_rademacher, student_t_quantile

__all__ = ["AUTO_PRODUCT_COST", "CostModel", "METRIC_COST", "OPERATOR_COST", "auto_estimate", "metric_gate",
           "auto_gate", "auto_method", "auto_pilot", "auto_pilot_hopeless", "auto_pilot_steps", "auto_pilot_verdict",
           "graph_wanted"]

# One JVP+VJP product on a vector (in small sequential blocks of probes) costs about this many
# dense-Jacobian JVP columns (which are batched 256 at a time). Measured without a graph on DCGAN-like
# generators (widths 8 and 32, d = 64-1024, 2-core CPU, double-VJP products): 2.1-3.7. Rough, two
# architectures; near the crossover (d ~ 3 x products) auto can pick the method that is ~15 % slower.
AUTO_PRODUCT_COST = 3.0


def graph_wanted(output: Tensor) -> bool:
    """Whether a gradient can flow: grad mode is on and the forward output (computed anyway) requires grad,
    so that closures over trainable parameters keep their gradients."""
    return torch.is_grad_enabled() and output.requires_grad


@dataclass(frozen=True)
class CostModel:
    """auto's cost model: exact costs d units, each vector product of the stochastic route ``product_cost`` units."""

    product_cost: float

    def stochastic_products(self, d: int, *, method: str, order: int, probes: int, power_iters: int,
                            graph: bool) -> int:
        """The fixed-budget estimator's vector products per row. chebyshev/taylor: ``power_iters * probes``
        Lanczos products, plus ``order * probes`` for the recurrence and 1 for lambda_max when a graph is built
        or order >= 2 power_iters (else the Lanczos matrices give the value); slq/bidiag: ``min(order, d) * probes + 1``."""
        if method in ("slq", "bidiag"):
            return min(order, d) * probes + 1
        recurrence = graph or order >= 2 * power_iters
        return (power_iters + (order if recurrence else 0)) * probes + int(graph)

    def method(self, d: int, *, order: int, probes: int, power_iters: int, graph: bool,
               method: str = "chebyshev") -> str:
        """Fixed budget: ``"exact"`` if d units cost no more than the estimator's products, else ``method``."""
        vectors = self.stochastic_products(d, method=method, order=order, probes=probes, power_iters=power_iters,
                                           graph=graph)
        return "exact" if d <= self.product_cost * vectors else method

    def pilot_steps(self, d: int, probes: int) -> int:
        """Lanczos steps the pilot block may take before the stochastic route costs more than exact
        (0: exact is cheaper than even a 4-step pilot)."""
        steps = int(d // (self.product_cost * probes))
        return steps if steps >= 4 else 0


METRIC_COST = CostModel(AUTO_PRODUCT_COST)  # logdet_metric: a JVP+VJP pair against a dense Jacobian column
OPERATOR_COST = CostModel(1.0)  # sbp.logdet: a product with G on a probe against one on a unit vector


def auto_method(d: int, *, order: int, probes: int, power_iters: int, method: str = "chebyshev",
                graph: bool | None = None, product_cost: float = AUTO_PRODUCT_COST) -> str:
    """``CostModel(product_cost).method``: ``"exact"`` if d JVP columns (dense Jacobian) cost less than the
    stochastic estimator's products, else ``method``; ``graph`` defaults to ``torch.is_grad_enabled()``."""
    graph = torch.is_grad_enabled() if graph is None else graph
    return CostModel(product_cost).method(d, order=order, probes=probes, power_iters=power_iters, graph=graph,
                                          method=method)


def auto_pilot_steps(d: int, probes: int, product_cost: float) -> int:
    """``CostModel(product_cost).pilot_steps``."""
    return CostModel(product_cost).pilot_steps(d, probes)


Estimate = Callable[[], LogdetEstimate]
Pilot = Callable[[], "LogdetEstimate | None"]


def auto_estimate(cost: CostModel, d: int, tol: Tolerance | None, *, order: int, probes: int, power_iters: int,
                  graph: bool, exact: Estimate, stochastic: Callable[[str], LogdetEstimate], pilot: Pilot,
                  gate: Callable[[Pilot], LogdetEstimate] | None = None) -> LogdetEstimate:
    """``method="auto"`` for both entry points. Fixed budget: ``exact()`` or ``stochastic(method)`` by
    ``cost.method``. With ``tol``: ``exact()`` where even a 4-step pilot costs more; else ``pilot()`` (an SLQ
    block run to the tolerance that returns None where exact is predicted cheaper; ``auto_pilot``), first
    through ``gate(pilot)`` when given (``metric_gate``), and ``exact()`` where the pilot gives up."""
    if tol is None:
        choice = cost.method(d, order=order, probes=probes, power_iters=power_iters, graph=graph)
        return exact() if choice == "exact" else stochastic(choice)
    if cost.pilot_steps(d, probes) == 0:
        return exact()
    if gate is not None:
        return gate(pilot)
    est = pilot()
    return est if est is not None else exact()


def metric_gate(op: MetricOperator, tol: Tolerance, exact_of: Callable[[Tensor], LogdetEstimate], *, generator,
                probes: int, damping: float, cost: CostModel = METRIC_COST) -> Callable[[Pilot], LogdetEstimate]:
    """``logdet_metric``'s gate before the pilot: J v of the pilot's own probes on the operator's column route
    (``auto_gate``); where it or the pilot rules the stochastic route out, exact's G is completed from those P
    products (``dense.metric_completing``: d - P more columns) and ``exact_of(G)`` returned."""
    def gate(pilot: Pilot) -> LogdetEstimate:
        x = op.z if op.z is not None else op.output
        V = peek_rademacher(as_generator(generator, x.device), (probes, op.batch, op.dim), x.dtype, x.device)
        with torch.enable_grad() if graph_wanted(op.output) else torch.no_grad():
            JV = op.columns(V, chunk=None).permute(2, 0, 1)  # (P, B, D)
            hopeless = auto_gate(JV, V, tol, damping=damping, product_cost=cost.product_cost)
            est = None if hopeless else pilot()
        return est if est is not None else exact_of(metric_completing(op, V, JV))
    return gate


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
    early exit (``auto_pilot_hopeless``), and ``verdict(block, bias, target)`` for ``trace.trace_loop``:
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
