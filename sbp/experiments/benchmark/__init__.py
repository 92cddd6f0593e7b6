"""Benchmarks of the log det(J^T J) estimators against exact (notebook 08, benchmarks/).

Each function runs one comparison and returns plain rows (dicts) for tables and plots:

- ``error_vs_products``: relative error of every method against the exact value at equal
  numbers of Jacobian products, on a ``Problem`` (a map f, latent codes z, exact log det).
  Products are *counted*, not computed from a formula: ``counted_estimate`` wraps the JVP
  and VJP of ``sbp.numerics.jacobian.metric_operator`` and adds the number of vectors each call
  pushes through, per sample, including the Lanczos (power-method) steps of the spectral
  interval, the Rayleigh quotient of lambda_max and the Hutch++ sketch.
- ``wall_time_vs_exact``: wall time of the estimator, the exact log det and ``method="auto"``
  across latent sizes.
- ``memory_vs_order``: bytes held by the autograd graph of one estimate (saved tensors,
  deterministic) against the order, and ``peak_rss_step`` / ``peak_rss_vs_order`` (peak
  resident memory of one training step in a fresh process; noisy).
- ``gpytorch_slq_logdet`` / ``gpytorch_matrix_free_logdet``: GPyTorch's stochastic Lanczos quadrature on the same metric
  (optional: GPyTorch is not a dependency).

Problems: ``designed_problem`` (linear maps with log-spaced spectra) and ``metric_problem``
(any map and codes: trained generators, codes from likelihood ascent).

Modules: ``problems`` (maps and codes with exact values), ``products`` (counted estimates,
error against products), ``gpytorch_slq`` (optional GPyTorch comparison), ``cost`` (wall
time, memory, targets), ``accuracy`` (notebook 00's error sweep).
"""
from sbp.experiments.benchmark.accuracy import error_sweep, polynomial_logdet
from sbp.experiments.benchmark.cost import (crossovers, graph_bytes, memory_vs_order, peak_rss_step, peak_rss_vs_order,
                                            target_rows, timed, wall_time_vs_exact)
from sbp.experiments.benchmark.gpytorch_slq import (GPYTORCH, gpytorch_available, gpytorch_matrix_free_logdet,
                                                   gpytorch_slq_logdet)
from sbp.experiments.benchmark.problems import DCGANLike, Problem, designed_map, designed_problem, metric_problem
from sbp.experiments.benchmark.products import (METHODS, ProductCounter, best_by_budget, counted_estimate, deflation_share,
                                                error_vs_products, hutchpp_gain, hutchpp_ideal_gain, plan_for_budget)

__all__ = [
    "METHODS", "GPYTORCH", "Problem", "ProductCounter", "designed_map", "designed_problem", "metric_problem",
    "counted_estimate", "plan_for_budget", "error_vs_products", "best_by_budget", "deflation_share",
    "gpytorch_available", "gpytorch_slq_logdet", "gpytorch_matrix_free_logdet", "DCGANLike", "timed", "wall_time_vs_exact",
    "graph_bytes", "memory_vs_order", "peak_rss_step", "peak_rss_vs_order", "crossovers", "hutchpp_gain",
    "hutchpp_ideal_gain", "target_rows",
    "error_sweep", "polynomial_logdet",
]
