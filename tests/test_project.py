"""Project-level checks: run order, notebook structure, pins."""
import json
import re
import tomllib
from pathlib import Path

from sbp.infra.reproduce import ORDER

ROOT = Path(__file__).resolve().parents[1]


def test_every_notebook_is_in_the_run_order_and_back():
    on_disk = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(ORDER) == on_disk
    assert ORDER == sorted(ORDER)  # numbered in the order they run


def test_notebooks_have_parameters_and_a_markdown_header():
    for name in ORDER:
        nb = json.loads((ROOT / "notebooks" / name).read_text())
        cells = nb["cells"]
        assert cells[0]["cell_type"] == "markdown", f"{name}: first cell must be markdown"
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters'"
        assert 'profile = "quick"' in "".join(tagged[0]["source"]), f"{name}: quick profile must be the default"
        assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_environment_yml_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    env = (ROOT / "environment.yml").read_text()
    env_pins = set(re.findall(r"^\s+- ([A-Za-z0-9_.-]+==[^\s]+)\s*$", env, flags=re.M))
    assert env_pins == pins
