"""sbp.experiments.latent.zoo_compare: four zoos' tables side by side."""
import math

import pytest

from sbp.experiments.latent.zoo_compare import compare_zoos, read_rows
from sbp.infra.io import write_table


def test_compare_zoos_puts_each_zoos_value_and_se_in_one_row(tmp_path):
    (tmp_path / "quick").mkdir()
    (tmp_path / "reference_8k").mkdir()
    (tmp_path / "reference_24k").mkdir()
    write_table([{"model": "w8", "N": 1.5, "se": 0.1}, {"model": "w16", "N": 2.5, "se": 0.2}], "t", tmp_path / "quick")
    write_table([{"model": "w8", "N": 3.0, "se": 0.3}], "t", tmp_path / "reference_8k")
    write_table([{"model": "w16", "N": 3.5, "se": 0.35}], "t", tmp_path / "reference_24k")
    current = [{"model": "w8", "N": 4.0, "se": 0.4}, {"model": "w16", "N": 5.0, "se": 0.5}]
    rows = compare_zoos(tmp_path, "t", {"N": "se"}, current)
    first = {k: v for k, v in rows[0].items() if not k.startswith("24k")}
    assert first == {"model": "w8", "measure": "N", "quick": 1.5, "quick_se": 0.1, "8k": 3.0, "8k_se": 0.3,
                     "converged": 4.0, "converged_se": 0.4}
    assert math.isnan(rows[0]["24k"]) and math.isnan(rows[0]["24k_se"])
    assert rows[1]["24k"] == 3.5 and rows[1]["24k_se"] == 0.35
    assert rows[1]["quick"] == 2.5 and math.isnan(rows[1]["8k"]) and rows[1]["converged"] == 5.0
    with pytest.raises(KeyError, match="no column 'M'"):
        compare_zoos(tmp_path, "t", {"M": "se"}, current)
    with pytest.raises(FileNotFoundError, match="needs that zoo's table"):
        compare_zoos(tmp_path, "missing", {"N": "se"}, current)
    assert read_rows(tmp_path / "quick" / "t.csv")[1] == {"model": "w16", "N": 2.5, "se": 0.2}
