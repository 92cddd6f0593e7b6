"""sbp.numerics.trace: Hutchinson, Hutch++ and the Student-t helpers against exact traces."""
import math

import pytest
import torch

from sbp.numerics.trace import (hutchpp, interval_halfwidth, mean_stderr, peek_rademacher, rademacher,
                                rademacher_sampler, student_t_quantile)

F64 = torch.float64


def hutchinson(quadratic, sample, shape):
    """Hutchinson's estimator as the trace loop forms it: the mean and stderr of v^T M v over one probe block."""
    return mean_stderr(quadratic(sample(shape)))


def sampler(seed=0):
    return rademacher_sampler(torch.Generator().manual_seed(seed), F64, torch.device("cpu"))


def test_rademacher_entries_and_peek_does_not_advance():
    g = torch.Generator().manual_seed(3)
    peek = peek_rademacher(g, (4, 2, 5), F64, torch.device("cpu"))
    draw = rademacher((4, 2, 5), generator=g, dtype=F64, device=torch.device("cpu"))
    assert torch.equal(peek, draw) and set(draw.unique().tolist()) == {-1.0, 1.0}


def test_hutchinson_is_exact_on_diagonal_matrices_and_unbiased_otherwise():
    D = torch.diag(torch.arange(1.0, 7.0, dtype=F64))
    est = hutchinson(lambda V: (V * (V @ D)).sum(-1), sampler(), (5, 1, 6))
    assert est.mean.item() == pytest.approx(21.0) and est.stderr.item() == pytest.approx(0.0, abs=1e-12)
    M = torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=F64)
    M = M + M.T
    est = hutchinson(lambda V: (V * (V @ M)).sum(-1), sampler(1), (4000, 1, 6))
    assert abs(est.mean.item() - torch.trace(M).item()) < 4.5 * est.stderr.item()
    var = 2 * ((M ** 2).sum() - (torch.diag(M) ** 2).sum()).item()  # Rademacher variance (REFERENCES)
    assert est.stderr.item() == pytest.approx(math.sqrt(var / 4000), rel=0.1)


def test_hutchpp_is_unbiased_and_beats_hutchinson_on_a_dominant_low_rank_part():
    U = torch.linalg.qr(torch.randn(20, 3, generator=torch.Generator().manual_seed(0), dtype=F64)).Q
    M = U @ torch.diag(torch.tensor([50.0, 20.0, 9.0], dtype=F64)) @ U.T + 0.1 * torch.eye(20, dtype=F64)
    pp = torch.stack([hutchpp(lambda X: X @ M, sampler(s), (12, 1, 20)).mean for s in range(200)])[:, 0]
    h = torch.stack([hutchinson(lambda V: (V * (V @ M)).sum(-1), sampler(s), (12, 1, 20)).mean
                     for s in range(200)])[:, 0]
    assert abs(pp.mean().item() - torch.trace(M).item()) < 4.5 * pp.std().item() / 200 ** 0.5
    assert pp.std() < 0.5 * h.std()


def test_mean_stderr_and_intervals():
    q = torch.tensor([[1.0], [2.0], [3.0], [6.0]], dtype=F64)
    tr = mean_stderr(q)
    assert tr.mean.item() == 3.0 and tr.stderr.item() == pytest.approx(q.std().item() / 2)
    assert math.isnan(mean_stderr(q[:1]).stderr.item())
    half = interval_halfwidth(tr.stderr, 4, 0.95)
    assert half.item() == pytest.approx(student_t_quantile(0.975, 3) * tr.stderr.item())
    assert math.isinf(interval_halfwidth(tr.stderr, 1, 0.95).item())


def _quadratic_integrand(M):
    """An integrand of tr M: v^T M v per probe, in a block with the fields trace_loop reads."""
    from types import SimpleNamespace

    def integrand(V, target):
        B = V.shape[1]
        no = torch.zeros(B, dtype=torch.bool)
        blk = SimpleNamespace(values=(V * (V @ M)).sum(-1), products=V.shape[0], singular=no, unresolved=None,
                              stderr=None)
        return blk, torch.zeros(B, dtype=F64)
    return integrand


def test_trace_loop_runs_one_block_for_a_fixed_budget_and_blocks_to_a_tolerance():
    from sbp.numerics.tolerance import make_tolerance
    from sbp.numerics.trace import trace_loop
    M = torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=F64)
    M = M @ M.T + 6 * torch.eye(6, dtype=F64)
    fixed = trace_loop(_quadratic_integrand(M), sampler(2), (8, 1, 6))
    ref = hutchinson(lambda V: (V * (V @ M)).sum(-1), sampler(2), (8, 1, 6))  # the same probes
    assert torch.equal(fixed.estimate, ref.mean) and torch.equal(fixed.stderr, ref.stderr)
    assert fixed.converged is None and len(fixed.blocks) == 1 and fixed.products == 8
    tol = make_tolerance(None, 0.01, 0.95, 100000, 6)
    run = trace_loop(_quadratic_integrand(M), sampler(3), (8, 1, 6), tol)
    n = 8 * len(run.blocks)
    assert len(run.blocks) > 1 and run.products == n and bool(run.converged.all())
    assert interval_halfwidth(run.stderr, n, 0.95).item() <= 0.01 * run.estimate.abs().item()
    assert abs(run.estimate.item() - torch.trace(M).item()) < 0.03 * torch.trace(M).item()
    capped = trace_loop(_quadratic_integrand(M), sampler(3), (8, 1, 6), make_tolerance(None, 1e-6, 0.95, 40, 6))
    assert capped.products <= 40 and not bool(capped.converged.any())
    assert trace_loop(_quadratic_integrand(M), sampler(3), (8, 1, 6), tol, pilot=lambda *a: False) is None
