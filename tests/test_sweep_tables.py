"""The Figure 1 sweep file read back as tables (sbp.experiments.density2d.sweep)."""
import json
import math

import pytest

from sbp.experiments.density2d.sweep import load_sweep, seed_spread, sweep_table


def _row(energy, seed, tv, grid="chosen", method="exact", **setting):
    return dict(grid=grid, energy=energy, method=method, seed=seed, setting=setting or dict(lr=1e-3, batch=256),
                tv=tv, outside=0.0, kl=2 * tv, folded=0.0, s_per_it=0.01)


def test_seed_spread_groups_by_energy_method_and_setting(tmp_path):
    rows = [_row("U1", 0, 0.2), _row("U1", 1, 0.3), _row("U1", 2, 0.25), _row("U2", 0, 0.4),
            _row("U1", 0, 0.5, method="chebyshev"), _row("U1", 0, 0.9, grid="coarse")]
    path = tmp_path / "sweep.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    spread = seed_spread(load_sweep(path))
    assert [(r["energy"], r["method"], r["seeds"]) for r in spread] == [("U1", "chebyshev", 1), ("U1", "exact", 3),
                                                                        ("U2", "exact", 1)]
    u1 = spread[1]
    assert u1["tv_mean"] == pytest.approx(0.25) and (u1["tv_min"], u1["tv_max"]) == (0.2, 0.3)
    assert u1["kl_max"] == pytest.approx(0.6) and u1["setting"] == "batch=256, lr=0.001"


def test_sweep_table_sorts_by_tv_within_energy_and_filters_grids():
    rows = [_row("U2", 0, 0.1), _row("U1", 0, 0.3, grid="coarse"), _row("U1", 1, 0.2, grid="coarse"), _row("U1", 2, 0.9)]
    table = sweep_table(rows, grids=("coarse",))
    assert [r["tv"] for r in table] == [0.2, 0.3] and table[0]["ms_per_step"] == pytest.approx(10.0)
    assert math.isnan(table[0]["split_lower"])


def test_load_sweep_says_what_is_missing_or_broken(tmp_path):
    with pytest.raises(FileNotFoundError, match="fig1_fit_sweep.py"):
        load_sweep(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"grid": "coarse"}\n{oops\n')
    with pytest.raises(ValueError, match="line 2"):
        load_sweep(bad)
