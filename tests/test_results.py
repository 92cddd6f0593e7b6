import json

from sbp.infra import results
from sbp.infra.io import write_json, write_table


def test_committed_results_page_is_what_the_committed_figures_give():
    committed = (results.ROOT / "RESULTS.md").read_text()
    assert committed == results.render(), "RESULTS.md is stale: run python -m sbp.infra.results"


def test_page_shows_tables_scalars_records_and_profiles(tmp_path):
    fig = tmp_path / "figures"
    write_table([{"model": "w8", "frechet": 12.5}], "fig3_quality", fig)
    write_json({"profile": "quick", "energies": {"U1": {"kl": 0.1}, "U2": {"kl": 0.2}}, "lists": [1, 2]},
               fig / "fig1_metrics.json")
    (fig / "fig1_reverse_kl.png").write_bytes(b"png")
    write_json({"n": 3}, fig / "paper" / "fig1_metrics.json")
    page = results.render(fig, tmp_path)
    assert "| w8 | 12.5 |" in page
    assert "| U2 | 0.2 |" in page and "| lists | 1, 2 |" in page and "| profile | quick |" in page
    assert "![fig1_reverse_kl](figures/fig1_reverse_kl.png)" in page
    assert "### Ours, profile `paper`" in page and "| n | 3 |" in page
    write_json({"profile": "quick", "energies": {"U1": {"kl": 0.1}, "U2": {"kl": 0.3}}, "lists": [1, 2]},
               fig / "fig1_metrics.json")
    assert results.render(fig, tmp_path) != page  # a changed number changes the page


def test_long_tables_are_linked(tmp_path):
    fig = tmp_path / "figures"
    write_table([{"i": i} for i in range(results.MAX_TABLE_ROWS + 1)], "fig8_big", fig)
    page = results.render(fig, tmp_path)
    assert f"{results.MAX_TABLE_ROWS + 1} rows: [figures/fig8_big.md]" in page and "| 7 |" not in page
    assert json.loads((fig / "fig8_big.json").read_text())[0] == {"i": 0}


def test_check_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results, "ROOT", tmp_path)
    (tmp_path / "figures").mkdir()
    assert results.main(["--check"]) == 1  # no page yet
    assert results.main([]) == 0 and results.main(["--check"]) == 0


def test_benchmark_tables_get_their_section(tmp_path):
    (tmp_path / "figures").mkdir()
    write_table([{"config": "sbp auto", "products": 64}], "bench_fair_d64", tmp_path / "benchmarks" / "results")
    write_table([{"config": "ignored"}], "other_table", tmp_path / "benchmarks" / "results")
    page = results.render(tmp_path / "figures", tmp_path)
    assert "### bench_fair: " in page and "| sbp auto | 64 |" in page and "ignored" not in page
    assert page.index("## Benchmark scripts") > page.index("## 08_estimator_benchmark")


def test_the_page_quotes_each_notebooks_verdict_from_its_first_cell(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    first = "# Figure 5\n\nWhat it shows.\n\n**Found**: the claim holds\nbetter on better models.\n\n**Deviations**\n- ours"
    (nbs / "05_fig5_eigen_directions.ipynb").write_text(json.dumps({"cells": [{"source": [first]}]}))
    (nbs / "06_fig6_table2_effective_dim.ipynb").write_text(json.dumps({"cells": [{"source": ["# no verdict"]}]}))
    page = results.render(tmp_path / "figures", tmp_path)
    assert "**Our verdict** (the notebook's first cell): the claim holds\nbetter on better models.\n" in page
    assert page.count("**Our verdict**") == 1 and "**Deviations**" not in page
