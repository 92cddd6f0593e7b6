"""The package's layers, checked on its imports (ast): numerics at the bottom, experiments on top.

Ranks: ``sbp.numerics`` 0 (knows no network module, no data and no file), ``sbp.infra`` 1,
``sbp.models`` and ``sbp.data`` 2, ``sbp.experiments`` 3, the ``sbp`` package itself 4. A module
may import sbp modules of its own rank or below, and no private name (``_x``) of another module.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RANKS = {"numerics": 0, "infra": 1, "models": 2, "data": 2, "experiments": 3}
# What "knows no network, no data and no file" excludes from the numerics layer.
NUMERICS_FORBIDDEN = ("torch.nn", "os", "pathlib", "io", "json", "csv", "tempfile", "pickle", "shutil")


def rank(module: str) -> int:
    parts = module.split(".")
    return 4 if len(parts) == 1 else RANKS.get(parts[1], 4)


def imports(module: str, source: str, is_package: bool = False) -> list[tuple[str, list[str]]]:
    """(imported module, imported names) for every import in ``source``, relative ones resolved."""
    package = module if is_package else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            out.append((base, [a.name for a in node.names]))
    return out


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    found = []
    for target, names in imports(module, source, is_package):
        if target.startswith("sbp"):
            if rank(target) > rank(module):
                found.append(f"{module} (rank {rank(module)}) imports {target} (rank {rank(target)})")
            if target != module:
                found += [f"{module} imports the private name {n} of {target}" for n in names
                          if n.startswith("_") and not n.startswith("__")]
        elif rank(module) == 0 and any(target == f or target.startswith(f + ".") for f in NUMERICS_FORBIDDEN):
            found.append(f"{module} (numerics) imports {target}")
        if rank(module) == 0 and target == "torch" and "nn" in names:
            found.append(f"{module} (numerics) imports torch.nn")
    return found


def sbp_modules():
    for path in sorted((ROOT / "sbp").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        yield ".".join(parts[:-1] if is_package else parts), path, is_package


def test_the_checker_sees_violations():
    assert violations("sbp.numerics.x", "from sbp.experiments.gan import zoo")
    assert violations("sbp.numerics.x", "from ..infra.io import write_json")
    assert violations("sbp.numerics.x", "import pathlib")
    assert violations("sbp.numerics.x", "from torch import nn")
    assert violations("sbp.models.x", "from sbp.experiments.latent.ascent import likelihood_ascent")
    assert violations("sbp.experiments.a", "from sbp.numerics.logdet import _estimate")
    assert not violations("sbp.experiments.a", "from sbp.numerics.logdet import logdet_metric\nimport os")
    assert not violations("sbp.numerics.x", "from sbp.numerics.trace import rademacher\nimport math")
    assert not violations("sbp", "from sbp.experiments.gan.zoo import get_generator")


@pytest.mark.parametrize("module,path,is_package", list(sbp_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_respect_the_layers(module, path, is_package):
    assert violations(module, path.read_text(), is_package) == []


def test_modules_are_small():
    # the log det facade is recomposed into named parts separately; every other module stays under 400 lines
    long = {str(p.relative_to(ROOT)): n for _, p, _ in sbp_modules()
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_benchmarks_import_no_private_names():
    bad = [v for p in sorted((ROOT / "benchmarks").glob("*.py"))
           for v in violations("benchmarks." + p.stem, p.read_text()) if "private" in v]
    assert bad == []


def _long_functions(folder: str, limit: int = 80, root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted((root / "sbp" / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                        and isinstance(first.value.value, str):
                    lines -= first.end_lineno - first.lineno + 1  # the docstring documents, it is not code
                if lines > limit:
                    out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return out


def test_the_length_checker_sees_a_long_function(tmp_path):
    (tmp_path / "sbp" / "x").mkdir(parents=True)
    body = "    a = 1\n" * 79
    doc = '    """A docstring\n\n    of four\n    lines."""\n'
    (tmp_path / "sbp" / "x" / "m.py").write_text(f"def f():\n{body}    b = 2\n\n\ndef g():\n{doc}{body}")
    assert _long_functions("x", root=tmp_path) == ["sbp/x/m.py:1 f (81 lines)"]  # g: 80 lines and its docstring


@pytest.mark.parametrize("folder", ["numerics", "infra", "models", "data", "experiments"])
def test_no_function_is_over_80_lines(folder):
    assert _long_functions(folder) == []
