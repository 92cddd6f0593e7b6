"""Benchmarks of the log det(J^T J) estimators against exact (issue 7; notebook 08, benchmarks/).

Each function runs one comparison and returns plain rows (dicts) for tables and plots:

- ``error_vs_products``: relative error of every method against the exact value at equal
  numbers of Jacobian products, on a ``Problem`` (a map f, latent codes z, exact log det).
  Products are *counted*, not computed from a formula: ``counted_estimate`` wraps the JVP
  and VJP of ``sbp.jacobian.metric_operator`` and adds the number of vectors each call
  pushes through, per sample, including the Lanczos (power-method) steps of the spectral
  interval, the Rayleigh quotient of lambda_max and the Hutch++ sketch.
- ``wall_time_vs_exact``: wall time of the estimator, the exact log det and ``method="auto"``
  across latent sizes.
- ``memory_vs_order``: bytes held by the autograd graph of one estimate (saved tensors,
  deterministic) against the order, and ``peak_rss_step`` (peak resident memory of one
  training step in a fresh process; noisy).
- ``gpytorch_slq_logdet``: GPyTorch's stochastic Lanczos quadrature on the same metric
  (optional: GPyTorch is not a dependency).

Problems: ``designed_problem`` (linear maps with log-spaced spectra) and ``metric_problem``
(any map and codes: trained generators, codes from likelihood ascent).
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from .accuracy import relative_error
from .checks import check_latent, check_positive_int
from .jacobian import jacobian, metric_operator
from .logdet import LogdetEstimate, _estimate, auto_method, logdet_dense, logdet_metric

__all__ = [
    "METHODS", "Problem", "ProductCounter", "designed_map", "designed_problem", "metric_problem",
    "counted_estimate", "plan_for_budget", "error_vs_products", "best_by_budget", "deflation_share",
    "gpytorch_available", "gpytorch_slq_logdet", "DCGANLike", "timed", "wall_time_vs_exact",
    "graph_bytes", "memory_vs_order", "peak_rss_step", "hutchpp_gain", "hutchpp_ideal_gain", "target_rows",
]

F64 = torch.float64

# The estimators compared, as keyword arguments of ``logdet_metric``.
METHODS: dict[str, dict] = {
    "chebyshev": {"method": "chebyshev"},
    "taylor": {"method": "taylor"},
    "hutch++": {"method": "chebyshev", "variance_reduction": "hutchpp"},
    "slq": {"method": "slq"},
    "bidiag": {"method": "bidiag"},
}
GPYTORCH = "gpytorch-slq"


# ---------------------------------------------------------------- problems

def designed_map(singular_values: Tensor, out_dim: int, seed: int = 0) -> Tensor:
    """A (D x d) matrix A = U diag(s) V^T with random orthonormal U, V; log det(A^T A) = 2 sum log s."""
    d = singular_values.numel()
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(out_dim, d, generator=g, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    return U @ torch.diag(singular_values.to(F64)) @ V.T


@dataclass(frozen=True)
class Problem:
    """log det(J^T J) of ``f`` at the rows of ``z`` with its exact value and spectrum."""

    name: str
    family: str
    f: Callable[[Tensor], Tensor]
    z: Tensor  # (B, d)
    exact: Tensor  # (B,) float64, dense Jacobian + Cholesky
    eigenvalues: Tensor  # (B, d) float64, increasing
    gram: Tensor  # (B, d, d) float64, J^T J (for the GPyTorch comparison)

    @property
    def condition(self) -> float:
        """Median condition number of J^T J over the rows."""
        return (self.eigenvalues[:, -1] / self.eigenvalues[:, 0]).median().item()


def metric_problem(name: str, family: str, f: Callable[[Tensor], Tensor], z: Tensor,
                   jvp_mode: str = "reverse") -> Problem:
    """A ``Problem`` from any map ``f`` and codes ``z`` (B, d): exact values from the dense Jacobian."""
    check_latent(z)
    with torch.no_grad():
        J = jacobian(f, z, jvp_mode=jvp_mode).to(F64)
        G = J.mT @ J
        G = (G + G.mT) / 2
        return Problem(name=name, family=family, f=f, z=z, exact=logdet_dense(G),
                       eigenvalues=torch.linalg.eigvalsh(G), gram=G)


def designed_problem(d: int, condition: float, rows: int = 4, seed: int = 0) -> Problem:
    """J = A (d x d) with log-spaced eigenvalues of J^T J from 1 down to 1/condition.

    The map is linear, so every row of z (zeros) has the same metric and the rows are
    independent repetitions: each gets its own probes.
    """
    check_positive_int(d, "d", minimum=2)
    if not (condition >= 1 and math.isfinite(condition)):
        raise ValueError(f"condition must be a finite number >= 1, got {condition}")
    lam = torch.logspace(0, -math.log10(condition), d, dtype=F64)
    A = designed_map(lam.sqrt(), d, seed=seed)
    return metric_problem(f"designed cond {condition:.0e}", "designed", lambda z: z @ A.T,
                          torch.zeros(rows, d, dtype=F64))


# ---------------------------------------------------------------- counted estimates

@dataclass
class ProductCounter:
    """Vectors pushed through J (``jvps``) and J^T (``vjps``), per sample."""

    jvps: int = 0
    vjps: int = 0

    @property
    def pairs(self) -> int:
        """JVP+VJP pairs: one pair is one product with J^T J (bidiag's last JVP has no VJP)."""
        return max(self.jvps, self.vjps)


def counted_estimate(f: Callable[[Tensor], Tensor], z: Tensor, *, method: str, order: int, probes: int,
                     power_iters: int = 20, generator: torch.Generator | int | None = None,
                     variance_reduction: str = "none", grad_mode: str = "backprop",
                     jvp_mode: str = "reverse") -> tuple[LogdetEstimate, ProductCounter]:
    """``logdet_metric(f, z, ...)`` (same numbers) with its Jacobian products counted.

    Runs the estimator of ``sbp.logdet`` on the operator of ``metric_operator(f, z)`` whose
    ``jvp``/``vjp`` add the number of vectors of every block they receive (blocks are
    (P, B, d): P vectors for each of the B samples) to a ``ProductCounter``.
    """
    check_latent(z)
    op = metric_operator(f, z, jvp_mode=jvp_mode)
    count = ProductCounter()

    def jvp(v: Tensor) -> Tensor:
        count.jvps += v.shape[0]
        return op.jvp(v)

    def vjp(u: Tensor) -> Tensor:
        count.vjps += u.shape[0]
        return op.vjp(u)

    B, d = z.shape
    est = _estimate(lambda v: vjp(jvp(v)), B, d, z.dtype, z.device, method=method, order=order, probes=probes,
                    lower=None, upper=None, power_iters=power_iters, generator=generator, grad_mode=grad_mode,
                    jvp=jvp, vjp=vjp, variance_reduction=variance_reduction)
    return est, count


def plan_for_budget(method: str, budget: int, *, probes: int, d: int) -> tuple[int, int]:
    """(order or Lanczos steps, power_iters) spending at most ``budget`` JVP+VJP pairs per
    sample on a value without a graph (how ``error_vs_products`` runs every method).

    chebyshev/taylor: k = min(d, budget // probes) Lanczos steps from every probe give the
    interval and, by Gauss quadrature, the value of any order < 2k: order 2k - 1, k probes
    pairs each. Hutch++: half the budget on the interval's Lanczos steps, the rest on the
    order (sketch + deflated probes: order * probes pairs). slq/bidiag: steps * probes + 1
    (steps <= d); GPyTorch: steps * probes. At least 1 everywhere.
    """
    check_positive_int(budget, "budget")
    per_probe = budget // probes
    if method == GPYTORCH:
        return max(1, min(d, per_probe)), 1
    spec = METHODS.get(method)
    if spec is None:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS) + [GPYTORCH]}")
    if spec["method"] in ("slq", "bidiag"):
        return max(1, min(d, (budget - 1) // probes)), 1
    if spec.get("variance_reduction") == "hutchpp":
        k = max(1, min(d, per_probe // 2))
        return max(1, per_probe - k), k
    k = max(1, min(d, per_probe))
    return 2 * k - 1, k


# ---------------------------------------------------------------- GPyTorch (optional)

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


# ---------------------------------------------------------------- error against products

def _error_row(problem: Problem, method: str, budget: int, order: int, probes: int, pairs: list[int],
               errs: list[Tensor], noise: list[Tensor]) -> dict:
    e = torch.cat(errs).double()
    return {"problem": problem.name, "family": problem.family, "d": problem.z.shape[1],
            "condition": problem.condition, "method": method, "budget": int(budget), "order": int(order),
            "probes": int(probes), "matvecs": int(max(pairs)), "samples": e.numel(),
            "median_error": e.median().item(), "q25_error": e.quantile(0.25).item(),
            "q75_error": e.quantile(0.75).item(), "median_stderr": torch.cat(noise).double().median().item()}


def error_vs_products(problem: Problem, *, budgets: Sequence[int], probes: int = 8, seeds: Sequence[int] = (0, 1, 2),
                      methods: Sequence[str] = tuple(METHODS), gpytorch: bool = True,
                      jvp_mode: str = "reverse") -> list[dict]:
    """Relative error (``sbp.accuracy.relative_error``) of each method at each budget of
    JVP+VJP pairs per sample, over the rows of ``problem.z`` x ``seeds``.

    One row per (method, budget): the order or number of Lanczos steps used
    (``plan_for_budget``, which also sets the Lanczos steps of the interval), the *counted* pairs per sample (``matvecs``), the median and
    quartiles of the error, the median Hutchinson standard error relative to |exact|.
    With ``gpytorch=True`` and GPyTorch installed, rows for ``"gpytorch-slq"`` too
    (its products counted as steps * probes).
    """
    d = problem.z.shape[1]
    rows = []
    for name in methods:
        spec = METHODS[name]
        for budget in budgets:
            order, power_iters = plan_for_budget(name, budget, probes=probes, d=d)
            errs, noise, pairs = [], [], []
            for seed in seeds:
                with torch.no_grad():
                    est, count = counted_estimate(problem.f, problem.z, order=order, probes=probes,
                                                  power_iters=power_iters, generator=seed, jvp_mode=jvp_mode, **spec)
                errs.append(relative_error(est.logdet.double(), problem.exact))
                noise.append(est.stderr.double() / problem.exact.abs().clamp_min(1.0))
                pairs.append(count.pairs)
            rows.append(_error_row(problem, name, budget, order, probes, pairs, errs, noise))
    if gpytorch and gpytorch_available():
        for budget in budgets:
            steps, _ = plan_for_budget(GPYTORCH, budget, probes=probes, d=d)
            errs = [relative_error(gpytorch_slq_logdet(problem.gram, steps=steps, probes=probes, seed=s), problem.exact)
                    for s in seeds]
            nan = [torch.full_like(problem.exact, math.nan)]
            rows.append(_error_row(problem, GPYTORCH, budget, steps, probes, [steps * probes], errs, nan))
    return rows


def best_by_budget(rows: Sequence[dict], methods: Sequence[str] = tuple(METHODS)) -> list[dict]:
    """For each (problem, budget): the sbp method with the smallest median error, and GPyTorch's
    error and the ratio best / GPyTorch where GPyTorch rows exist (nan otherwise)."""
    out = []
    for key in dict.fromkeys((r["problem"], r["budget"]) for r in rows):
        group = [r for r in rows if (r["problem"], r["budget"]) == key]
        ours = min((r for r in group if r["method"] in methods), key=lambda r: r["median_error"])
        gp = [r["median_error"] for r in group if r["method"] == GPYTORCH]
        gp_err = gp[0] if gp else math.nan
        out.append({"problem": key[0], "family": ours["family"], "budget": key[1], "best": ours["method"],
                    "best_error": ours["median_error"], "best_matvecs": ours["matvecs"], "gpytorch_error": gp_err,
                    "best_over_gpytorch": ours["median_error"] / gp_err if gp else math.nan})
    return out


def hutchpp_gain(rows: Sequence[dict], plain: str = "chebyshev", reduced: str = "hutch++") -> list[dict]:
    """For each (problem, budget): median error of ``plain`` Hutchinson over that of ``reduced``
    (Hutch++) at the same budget and polynomial: > 1 means Hutch++ helps, 2 halves the error."""
    out = []
    for key in dict.fromkeys((r["problem"], r["budget"]) for r in rows):
        by = {r["method"]: r for r in rows if (r["problem"], r["budget"]) == key}
        if plain in by and reduced in by:
            a, b = by[plain], by[reduced]
            out.append({"problem": key[0], "family": a["family"], "budget": key[1], "plain_error": a["median_error"],
                        "hutchpp_error": b["median_error"], "gain": a["median_error"] / max(b["median_error"], 1e-300)})
    return out


def deflation_share(eigenvalues: Tensor, k: int) -> Tensor:
    """Share of ||log G - c I||_F^2 carried by its k largest eigenvalues in magnitude, c the mean
    log eigenvalue, per row of ``eigenvalues`` (B, d).

    Hutch++ (shifted by c, as in ``sbp.logdet``) computes the trace on a rank-k sketch exactly
    and Hutchinson only sees the rest: the Frobenius norm that drives the variance can fall
    at most by this share (about k/d for a flat spectrum, near 1 when a few eigenvalues dominate).
    """
    check_positive_int(k, "k")
    m = eigenvalues.to(F64).log()
    dev = (m - m.mean(-1, keepdim=True)) ** 2
    return dev.sort(-1, descending=True).values[..., :k].sum(-1) / dev.sum(-1).clamp_min(1e-300)


def hutchpp_ideal_gain(share: float, probes: int) -> float:
    """The most Hutch++ can gain in error over plain Hutchinson with the same ``probes`` P,
    given the top-k share of ``deflation_share`` (k = P // 3): sqrt(m / (P (1 - share))),
    m = P - 2k the probes left for the remainder. Plain Hutchinson's variance is about
    ||M||_F^2 / P; with a perfect rank-k sketch Hutch++'s is (1 - share) ||M||_F^2 / m. Halving
    the error needs share >= 1 - m / (4 P) (0.875 for P = 8)."""
    check_positive_int(probes, "probes", minimum=3)
    m = probes - 2 * (probes // 3)
    return math.sqrt(m / (probes * max(1.0 - float(share), 1e-300)))


# ---------------------------------------------------------------- wall time

class DCGANLike(nn.Module):
    """Linear -> 4x4 -> stride-2 transposed convolutions -> 3 x resolution x resolution (no batch norm).

    ``resolution`` 64 (four upsamplings, 8w -> w channels) or 32 (three, 4w -> w). Weights
    from ``torch.manual_seed(seed)``.
    """

    def __init__(self, d: int, width: int = 32, seed: int = 0, resolution: int = 64):
        super().__init__()
        ups = {32: 3, 64: 4}.get(resolution)
        if ups is None:
            raise ValueError(f"resolution must be 32 or 64, got {resolution}")
        torch.manual_seed(seed)
        self.c0 = width * 2 ** (ups - 1)
        self.fc = nn.Linear(d, self.c0 * 16)
        layers, c = [], self.c0
        for i in range(ups):
            out = 3 if i == ups - 1 else c // 2
            layers += [nn.LeakyReLU(0.2), nn.ConvTranspose2d(c, out, 4, 2, 1)]
            c = out
        self.net = nn.Sequential(*layers, nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.fc(z).view(z.shape[0], self.c0, 4, 4))


def timed(fn: Callable[[], object], repeats: int = 3, warmup: bool = True) -> tuple[float, object]:
    """Shortest wall time of ``fn()`` over ``repeats`` calls (after one warm-up call), and its last result.

    The minimum, as ``timeit`` advises: on a shared machine the other calls measure the load.
    """
    check_positive_int(repeats, "repeats")
    out = fn() if warmup else None
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def wall_time_vs_exact(sizes: Sequence[int], *, width: int = 8, resolution: int = 64, order: int = 20,
                       probes: int = 4, power_iters: int = 20, repeats: int = 1, jvp_mode: str = "reverse",
                       seed: int = 0) -> list[dict]:
    """Wall time of one log det (batch 1, no graph) by ``"exact"`` and ``"chebyshev"`` on a
    ``DCGANLike`` generator at each latent size (``timed``; one warm-up of each method at the
    first size only), which is faster, and where ``method="auto"`` lands: the method that
    ``auto_method`` picks and its time. ``logdet_metric(method="auto")`` runs exactly that
    method (the pick is a formula), so its time is the picked method's; timing it again would
    only add the machine's noise. Also the estimator's relative error against exact."""
    rows = []
    kw = dict(order=order, probes=probes, power_iters=power_iters, generator=seed, jvp_mode=jvp_mode)
    for i, d in enumerate(sizes):
        f = DCGANLike(d, width=width, seed=seed, resolution=resolution).eval().requires_grad_(False)
        z = torch.randn(1, d, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            t_ex, ex = timed(lambda: logdet_metric(f, z, method="exact"), repeats, i == 0)  # its fastest route
            t_est, est = timed(lambda: logdet_metric(f, z, method="chebyshev", **kw), repeats, i == 0)
        pick = auto_method(d, order=order, probes=probes, power_iters=power_iters, graph=False)
        t_auto = t_ex if pick == "exact" else t_est
        rows.append({"d": d, "exact_s": t_ex, "estimator_s": t_est, "faster": "exact" if t_ex <= t_est else "chebyshev",
                     "auto_pick": pick, "auto_s": t_auto, "auto_over_best": t_auto / min(t_ex, t_est) - 1,
                     "estimator_error": relative_error(est.logdet.double(), ex.logdet.double()).item()})
    return rows


# ---------------------------------------------------------------- memory

def graph_bytes(t: Tensor) -> int:
    """Bytes of the tensors saved for the backward in the autograd graph of ``t`` (unique storages).

    Deterministic (sizes only, no allocator): what a training step holds between the
    estimate and its backward, the part of the memory that grows with the order.
    (``saved_tensors_hooks`` would be simpler but do not work under ``torch.func``.)
    """
    sizes: dict = {}

    def add(x: object) -> None:
        if isinstance(x, Tensor):
            try:
                s = x.untyped_storage()
                sizes[s.data_ptr()] = s.nbytes()
            except RuntimeError:  # functorch-wrapped tensors have no plain storage
                sizes[("tensor", id(x))] = x.numel() * x.element_size()
        elif isinstance(x, (tuple, list)):
            for y in x:
                add(y)

    seen, stack = set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        for name in dir(node):
            if name.startswith("_saved_") or name == "saved_tensors":
                try:
                    add(getattr(node, name))
                except RuntimeError:  # freed buffers or non-tensor saved values
                    pass
        stack.extend(nxt for nxt, _ in node.next_functions)
    return int(sum(sizes.values()))


def memory_vs_order(f: nn.Module, z: Tensor, *, orders: Sequence[int], methods: Sequence[str] = ("chebyshev",),
                    grad_modes: Sequence[str] = ("backprop", "lowmem"), probes: int = 4, seed: int = 0,
                    jvp_mode: str = "reverse") -> list[dict]:
    """One training step (estimate with a graph to f's parameters, then backward) per
    (method, grad_mode, order): rows with ``graph_bytes`` of the estimate, in MB, and the
    estimate's mean. f's parameters must require grad."""
    rows = []
    for method in methods:
        for mode in grad_modes:
            for order in orders:
                f.zero_grad(set_to_none=True)
                est = logdet_metric(f, z, method=method, order=order, probes=probes, generator=seed,
                                    grad_mode=mode, jvp_mode=jvp_mode)
                mb = graph_bytes(est.logdet) / 2 ** 20
                est.logdet.sum().backward()
                rows.append({"method": method, "grad_mode": mode, "order": int(order), "graph_mb": mb,
                             "logdet": est.logdet.mean().item()})
    return rows


_RSS_CHILD = r"""
import json, re, sys, time
import torch
torch.set_num_threads(1)
import sbp
from sbp.benchmark import DCGANLike
method, mode, order, d, B, probes, width = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:8])
f = DCGANLike(d, width=width, seed=0, resolution=32)
z = torch.randn(B, d, generator=torch.Generator().manual_seed(1))
f(z).sum().backward()
f.zero_grad()
def kb(field):
    return int(re.search(field + r":\s+(\d+)", open("/proc/self/status").read()).group(1))
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to the current RSS
    fh.write("5")
rss0 = kb("VmRSS")
t0 = time.perf_counter()
est = sbp.logdet_metric(f, z, method=method, order=order, probes=probes, generator=0, grad_mode=mode)
est.logdet.sum().backward()
wall = time.perf_counter() - t0
print(json.dumps(dict(peak_mb=(kb("VmHWM") - rss0) / 1024, wall=wall, logdet=est.logdet.mean().item(),
                      products=est.products)))
"""


def peak_rss_step(method: str, grad_mode: str, order: int, *, d: int = 64, batch: int = 4, probes: int = 4,
                  width: int = 16) -> dict:
    """Peak resident memory of one training step (estimate + backward) in a fresh process.

    A ``DCGANLike`` generator (d -> 3x32x32, ``width``), batch ``batch``, 1 thread; returns
    ``peak_mb``: peak RSS during the step (``VmHWM``, reset through ``/proc/self/clear_refs``
    just before it, after the model was built and ran one forward and backward) minus the
    RSS at that moment, ``wall``, ``logdet``, ``products``. RSS includes allocator slack:
    differences of a few MB are noise. CPU, Linux >= 4.0 only.
    """
    args = [method, grad_mode, str(order), str(d), str(batch), str(probes), str(width)]
    root = str(Path(__file__).resolve().parents[1])  # this checkout's sbp, not another installed copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, *args], capture_output=True, text=True, check=True,
                         env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- targets (issue 7)

def _geomean(xs: Sequence[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def target_rows(error_rows: Sequence[dict], memory_rows: Sequence[dict], time_rows: Sequence[dict] = (),
                rss_rows: Sequence[dict] = (), hutchpp_families: Sequence[str] = ("generator",),
                hutchpp_bound: float | None = None) -> list[dict]:
    """The four targets of issue 7 with measured values: rows {target, measured, value, met}.

    ``met`` is True/False, or None where the target was not measured (no GPyTorch, no timings).
    1. sbp's best method vs GPyTorch SLQ at equal products: per family, the geometric mean over
       (problem, budget) of best / GPyTorch; met if <= 1 on every family and < 1 on one.
    2. Hutch++ vs plain Hutchinson on ``hutchpp_families``: geometric-mean gain; met if >= 2
       (``hutchpp_bound``, e.g. ``hutchpp_ideal_gain`` of those metrics, is quoted with it).
    3. lowmem memory at the largest order / smallest order: autograd-graph bytes
       (``memory_vs_order``) and, if given, peak RSS (``peak_rss_step`` rows with keys
       grad_mode, order, peak_mb); met if <= 1.2.
    4. auto's time over the faster of exact and chebyshev, worst size; met if <= 10%.
    """
    out = []
    best = best_by_budget(error_rows)
    families = list(dict.fromkeys(r["family"] for r in best))
    ratios = {f: [r["best_over_gpytorch"] for r in best if r["family"] == f and not math.isnan(r["best_over_gpytorch"])]
              for f in families}
    if all(ratios[f] for f in families):
        g = {f: _geomean(ratios[f]) for f in families}
        out.append({"target": "sbp best <= GPyTorch SLQ at equal products, every family; better on one",
                    "measured": ", ".join(f"{f} {v:.2f}x" for f, v in g.items()), "value": max(g.values()),
                    "met": all(v <= 1 for v in g.values()) and any(v < 1 for v in g.values())})
    else:
        out.append({"target": "sbp best <= GPyTorch SLQ at equal products, every family; better on one",
                    "measured": "not measured: gpytorch not installed", "value": math.nan, "met": None})
    gains = [r["gain"] for r in hutchpp_gain(error_rows) if r["family"] in hutchpp_families]
    gm = _geomean(gains)
    out.append({"target": f"Hutch++ halves plain Hutchinson's error ({', '.join(hutchpp_families)} metrics)",
                "measured": f"error ratio plain / Hutch++ {gm:.2f}x (geometric mean of {len(gains)} budgets)"
                            + (f"; at most {hutchpp_bound:.2f}x from the spectrum" if hutchpp_bound else ""),
                "value": gm, "met": bool(gm >= 2) if gains else None})

    def ratio(rows: Sequence[dict], key: str) -> tuple[float, int, int]:
        low = [r for r in rows if r["grad_mode"] == "lowmem"]
        lo, hi = min(low, key=lambda r: r["order"]), max(low, key=lambda r: r["order"])
        return hi[key] / max(lo[key], 1e-300), lo["order"], hi["order"]

    for rows, key, what in ((memory_rows, "graph_mb", "autograd graph"), (rss_rows, "peak_mb", "peak RSS")):
        if rows:
            r, o1, o2 = ratio(rows, key)
            out.append({"target": f"lowmem memory at order {o2} <= 1.2x order {o1} ({what})",
                        "measured": f"{r:.2f}x", "value": r, "met": bool(r <= 1.2)})
    if time_rows:
        worst = max(time_rows, key=lambda r: r["auto_over_best"])
        out.append({"target": "auto within 10% of the faster of exact and chebyshev, every size",
                    "measured": f"worst {worst['auto_over_best']:+.0%} at d={worst['d']}",
                    "value": worst["auto_over_best"], "met": bool(worst["auto_over_best"] <= 0.10)})
    else:
        out.append({"target": "auto within 10% of the faster of exact and chebyshev, every size",
                    "measured": "not measured", "value": math.nan, "met": None})
    return out
