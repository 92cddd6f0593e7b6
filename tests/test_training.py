"""sbp.infra.training: thread pinning, the cosine schedule, one warning summary per kind."""
import math
import warnings

import pytest
import torch

from sbp.infra.training import cosine_lr, cpu_threads, summarized_warnings


def test_summarized_warnings_counts_each_kind_once_and_passes_others_through():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with summarized_warnings("ring8 chebyshev") as said:
            for step in range(7):
                rows = "(the first 8: 1, 2, ...)" if step % 2 else f"({step}, {step + 3})"
                warnings.warn(f"bias bound 0.{step}3 above the stderr on {step + 1} of 64 rows {rows}", RuntimeWarning)
            warnings.warn("rows 3, 4 did not converge", RuntimeWarning)
            warnings.warn("an old name", DeprecationWarning)
    texts = [str(w.message) for w in seen]
    assert said == ["ring8 chebyshev: 7 warnings like the first: bias bound 0.03 above the stderr on 1 of 64 rows (0, 3)",
                    "ring8 chebyshev: 1 warning like the first: rows 3, 4 did not converge"]
    assert texts.count("an old name") == 1 and all(s in texts for s in said) and len(texts) == 3


def test_cpu_threads_restores_the_count_and_cosine_lr_ends_at_lr_final():
    old = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == old
    assert cosine_lr(0, 100, 1e-3, 1e-5) == pytest.approx(1e-3)
    assert cosine_lr(100, 100, 1e-3, 1e-5) == pytest.approx(1e-5)
    assert cosine_lr(50, 100, 1e-3, None) == 1e-3
    assert math.isclose(cosine_lr(50, 100, 1.0, 0.0), 0.5)
