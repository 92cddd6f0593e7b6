"""The fair benchmark's counting and summary (sbp.experiments.benchmark.fair)."""
import pytest
import torch

import sbp
import sbp.experiments.benchmark as bm
from sbp.experiments.benchmark.fair import fair_raw, fair_summary, fair_wide
from sbp.numerics.jacobian import counted
from sbp.numerics.logdet import logdet_operator

F64 = torch.float64


def test_a_counted_operator_counts_the_exact_route_as_columns_and_leaves_the_operator_alone():
    p = bm.designed_problem(12, 1e2, rows=2, seed=1)
    plain = sbp.metric_operator(p.f, p.z, jvp_mode="reverse")
    op, c = counted(plain)
    est = logdet_operator(op, method="exact")
    assert (c.columns, c.jvps, c.vjps, c.products) == (12, 0, 0, 12) == (12, 0, 0, est.products)
    torch.testing.assert_close(est.logdet, sbp.logdet_metric(p.f, p.z, method="exact").logdet, rtol=1e-12, atol=0)
    logdet_operator(plain, method="exact")
    assert c.products == 12  # the wrapped operator counts, the original does not


def test_counted_products_match_the_estimates_own_count_and_add_the_auto_pilot():
    p = bm.designed_problem(96, 1e2, rows=2, seed=1)
    op, c = counted(sbp.metric_operator(p.f, p.z, jvp_mode="reverse"))
    est = logdet_operator(op, method="slq", rtol=0.1, probes=4, generator=0)
    # steps x probes bounds the vectors from above: done probes leave the block (per-probe stop)
    assert c.columns == 0 and c.jvps == c.vjps and est.products / 2 < c.vjps <= est.products
    ref = sbp.logdet_metric(p.f, p.z, method="slq", rtol=0.1, probes=4, generator=0, jvp_mode="reverse")
    assert torch.equal(est.logdet, ref.logdet) and est.products == ref.products  # the same path
    op, c = counted(sbp.metric_operator(p.f, p.z, jvp_mode="reverse"))
    est = logdet_operator(op, method="auto", rtol=1e-3, probes=4, generator=0)
    # the gate's J v on the pilot's 4 probes (at rtol 1e-3 the pilot never starts) are 4 of exact's 96
    # columns (the operator's column route): d products in all, as exact alone
    assert est.method == "exact" and (c.columns, c.jvps, c.vjps, c.products) == (96, 0, 0, 96)


def test_fair_summary_judges_untoleranced_rows_against_each_rtol():
    raw = [{"problem": "p", "d": 4, "condition": 10.0, "config": "gpytorch default", "rtol": None, "seed": s,
            "products": 10, "wall_s": 0.1, "picked": "slq", "errors": [e], "converged": None}
           for s, e in enumerate([0.005, 0.02, 0.2])]
    raw += [{"problem": "p", "d": 4, "condition": 10.0, "config": "sbp auto", "rtol": 0.1, "seed": 0,
             "products": 4, "wall_s": 0.2, "picked": "exact", "errors": [0.0, 0.0], "converged": [True, False]}]
    raw += [dict(raw[0], d=8, errors=[0.5])]  # the same name at another d is another problem
    out = {(r["config"], r["rtol"]): r for r in fair_summary(raw, (0.1, 0.01)) if r["d"] == 4}
    assert out["gpytorch default", 0.1]["within_rtol"] == pytest.approx(2 / 3)
    assert out["gpytorch default", 0.01]["within_rtol"] == pytest.approx(1 / 3)
    assert out["gpytorch default", 0.01]["median_error"] == 0.02
    assert out["sbp auto", 0.1]["converged"] == 0.5 and ("sbp auto", 0.01) not in out


@pytest.mark.skipif(not bm.gpytorch_available(), reason="gpytorch not installed")
def test_gpytorch_matrix_free_is_the_dense_wrapper_and_counts_its_products():
    p = bm.designed_problem(16, 1e2, rows=2, seed=1)
    G = p.gram
    ld, n = bm.gpytorch_matrix_free_logdet(lambda v: torch.einsum("bij,pbj->pbi", G, v), 2, 16, F64, seed=3,
                                           probes=4, steps=16)
    assert torch.allclose(ld, bm.gpytorch_slq_logdet(G, steps=16, probes=4, seed=3), rtol=1e-8)
    assert n >= 4 * 16 and n % 4 == 0
    rows = fair_raw(p, rtols=(0.1,), seed=0, sbp_methods=("slq",))
    assert [r["config"] for r in rows] == ["sbp slq", "gpytorch default", "gpytorch 100 probes", "exact"]
    assert rows[-1]["errors"] == [0.0, 0.0] and rows[-1]["products"] == 16


def test_fair_wide_puts_the_configurations_side_by_side():
    summary = [{"problem": "p", "d": 4, "condition": 10.0, "config": c, "rtol": 0.1, "products": n, "wall_s": 1.0,
                "p95_error": 0.01, "within_rtol": 1.0, "picked": "exact"}
               for c, n in (("sbp auto", 5), ("gpytorch default", 7), ("exact", 4))]
    (row,) = fair_wide(summary)
    assert row["auto products"] == 5 and row["gpt products"] == 7 and row["exact products"] == 4
    assert row["auto took"] == "exact" and "exact within" not in row
