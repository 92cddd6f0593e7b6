"""sbp: spectral backpropagation (Ramesh & LeCun 2018, arXiv 1806.00499).

Differentiable, matrix-free estimates of log det(J^T J) for the Jacobian J of a
generator, and the experiments of the paper built on them.
"""
from sbp.numerics.bounds import lanczos_bounds, power_method
from sbp.numerics.density import log_density_pullback, log_density_pushforward, log_normal
from sbp.numerics.jacobian import jacobian, metric_operator
from sbp.numerics.dense import logdet_dense, metric_dense
from sbp.numerics.logdet import LogdetEstimate, logdet, logdet_metric

__all__ = [
    "LogdetEstimate", "logdet", "logdet_dense", "metric_dense", "logdet_metric", "jacobian", "metric_operator",
    "power_method", "lanczos_bounds", "log_normal", "log_density_pushforward", "log_density_pullback",
]
__version__ = "0.1.0"
