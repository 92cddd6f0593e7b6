"""sbp.infra.parallel: the same results on one process and on several, and clear errors."""
import pytest
import torch

from sbp.experiments.density2d import fit as D
from sbp.infra.parallel import default_processes, process_map

_TINY = dict(method="chebyshev", model="invertible", width=8, blocks=2, activation="elu", scale=0.9, iterations=5,
             batch=16, order=6, probes=2, seed=0, show_progress=False)


def test_fits_on_two_worker_processes_are_bit_identical_to_fits_here():
    tasks = [dict(target="ring8", **_TINY), dict(target="U1", **{**_TINY, "method": "exact"})]
    here = process_map(D.fit_forward_kl, tasks, processes=1)
    there = process_map(D.fit_forward_kl, tasks, processes=2)
    assert [r.method for r in there] == ["chebyshev", "exact"]  # in task order
    for a, b in zip(here, there):
        assert (a.loss == b.loss).all()
        assert all(torch.equal(p, q) for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values()))


def test_process_map_checks_its_arguments():
    assert default_processes(1) == 1 and default_processes(10**6) >= 1
    with pytest.raises(TypeError, match="dict of keyword arguments"):
        process_map(D.fit_forward_kl, [("ring8",)])
    with pytest.raises(ValueError, match="processes must be >= 1"):
        process_map(D.fit_forward_kl, [{}, {}], processes=0)
    assert process_map(D.fit_forward_kl, []) == []
