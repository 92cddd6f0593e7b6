import json

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from sbp.infra.io import markdown_table, save_figure, write_json, write_table  # noqa: E402


def test_save_figure_is_deterministic(tmp_path):
    def make():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return save_figure(fig, "f", tmp_path)

    first = [p.read_bytes() for p in make()]
    second = [p.read_bytes() for p in make()]
    assert first == second
    assert (tmp_path / "f.png").exists() and (tmp_path / "f.pdf").exists()
    assert not plt.get_fignums()  # closed


def test_write_table_three_formats(tmp_path):
    rows = [{"model": "a", "value": 1.23456789}, {"model": "b", "value": float("nan")}]
    write_table(rows, "t", tmp_path)
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "model,value"
    assert "| a | 1.235 |" in (tmp_path / "t.md").read_text()
    data = json.loads((tmp_path / "t.json").read_text())
    assert data[0]["value"] == 1.23457 and data[1]["value"] == "nan"


def test_write_json_rounds_and_sorts(tmp_path):
    write_json({"b": 1 / 3, "a": [2 / 3], "c": 3.14159e-9}, tmp_path / "x.json", digits=3)
    assert (tmp_path / "x.json").read_text() == '{\n  "a": [\n    0.667\n  ],\n  "b": 0.333,\n  "c": 3.14e-09\n}\n'


def test_empty_table_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no rows"):
        write_table([], "t", tmp_path)
    with pytest.raises(ValueError):
        markdown_table([])
