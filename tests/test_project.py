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
        params = "".join(tagged[0]["source"])
        default = re.search(r'^profile = "(\w+)"', params, flags=re.M).group(1)
        code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        declared = re.search(r'default_profile="(\w+)"', code)
        assert default == (declared.group(1) if declared else "quick"), \
            f"{name}: the parameters' profile must be the default_profile given to setup (figures/ holds it)"
        assert default in ("quick", "reference"), f"{name}: the default profile must run on a CPU in minutes"
        assert nb["metadata"]["kernelspec"]["name"] == "python3"


LOCK = "requirements/lock.txt"


def _lock():
    lines = [l.strip() for l in (ROOT / LOCK).read_text().splitlines()]
    pins = dict(l.split("==") for l in lines if l and not l.startswith("#"))
    return {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in pins.items()}


def test_lock_pins_torch_and_every_declared_dependency_within_its_range():
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = _lock()
    assert lock["torch"] == "2.13.0"  # never a CUDA build by accident
    extras = [spec for specs in project["optional-dependencies"].values() for spec in specs]
    for spec in project["dependencies"] + extras:
        req = Requirement(spec)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in lock, f"{req.name} is not in {LOCK}"
        assert req.specifier.contains(lock[name]), f"{LOCK} pins {req.name}=={lock[name]}, outside {spec}"
        assert "==" not in str(req.specifier), f"pyproject.toml pins {spec}: give a compatible range"


def test_environment_yml_readme_and_ci_use_the_lock():
    env = (ROOT / "environment.yml").read_text()
    assert f"- -c {LOCK}" in env and "- -e .[test]" in env
    assert not re.findall(r"^\s+- [A-Za-z0-9_.-]+==", env, flags=re.M), "environment.yml: versions live in the lock"
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert f'pip install -c {LOCK} -e . && python -m sbp.infra.reproduce' in readme
    test_command = f'pip install -c {LOCK} -e ".[test]" && python -m pytest'
    assert test_command in readme and test_command in ci
    assert "apt-get install -y chromium chromium-driver" in ci


def test_the_profiles_are_defined_once():
    from sbp.experiments.gan import zoo
    from sbp.experiments import notebook
    from sbp.infra import profiles, reproduce

    assert zoo.PROFILES is notebook.PROFILES is reproduce.PROFILES is profiles.PROFILES
    defined = [p for p in (ROOT / "sbp").rglob("*.py") if re.search(r"^PROFILES\s*=", p.read_text(), flags=re.M)]
    assert [p.name for p in defined] == ["profiles.py"]


def _cells(name):
    return json.loads((ROOT / "notebooks" / name).read_text())["cells"]


def test_notebooks_call_the_one_setup():
    for name in ORDER:
        code = "".join("".join(c["source"]) for c in _cells(name) if c["cell_type"] == "code")
        assert "setup(profile" in code, f"{name}: use sbp.experiments.notebook.setup(profile, seed, ...)"
        assert "paths(" not in code and "model_grid(profile)" not in code, f"{name}: resolve folders and specs via setup"


def test_first_cell_is_short_and_history_goes_to_measurements():
    for name in ORDER:
        cells = _cells(name)
        first = "".join(cells[0]["source"])
        assert len(first) <= 2000, f"{name}: first cell has {len(first)} characters; history goes to Measurements"
        last = cells[-1]
        assert last["cell_type"] == "markdown" and "".join(last["source"]).startswith("## Measurements"), \
            f"{name}: the last cell must be the markdown section '## Measurements'"
