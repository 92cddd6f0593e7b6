"""The latent-space verdicts on four zoos side by side: do the paper's claims hold better on better generators?

Figures 5 and 6 / Table 2 were measured on four generations of the same grid (the same code, seeds and
latent codes; only the generators differ):

- ``quick``: the quick profile, 2,000 steps (``figures/quick/``);
- ``8k``: the reference zoo as first shipped, 8,000 steps (``figures/reference_8k/``, copied from the
  commit that wrote them);
- ``24k``: the reference zoo on a 24,000-step schedule (``figures/reference_24k/``, copied from the commit
  that wrote them, 01138d0);
- ``converged``: the reference zoo as shipped now (``models/reference/README.md``: 48,000 steps, ``w16_d8`` 96,000,
  ``w32_d16`` 24,000 at half the step size; the notebook's own rows).

``compare_zoos`` puts one measure (a mean and its standard error over latent codes) of each model in
one row, a column pair per zoo.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

__all__ = ["ZOOS", "read_rows", "compare_zoos"]

# (label, folder under figures/ holding that zoo's tables; None: the rows passed in)
ZOOS: tuple[tuple[str, str | None], ...] = (("quick", "quick"), ("8k", "reference_8k"), ("24k", "reference_24k"),
                                             ("converged", None))


def read_rows(path: str | os.PathLike) -> list[dict]:
    """The rows of a table CSV written by ``sbp.infra.io.write_table`` (numbers as float where they parse)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the zoo comparison needs that zoo's table (run its notebook "
                                f"with that profile, or restore the folder from git)")

    def value(s: str):
        try:
            return float(s)
        except ValueError:
            return s
    with open(path) as fh:
        return [{k: value(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def compare_zoos(figures: str | os.PathLike, table: str, measures: Mapping[str, str], current: Sequence[dict],
                 models: Sequence[str] | None = None) -> list[dict]:
    """One row per (model, measure): ``<zoo>`` and ``<zoo>_se`` for each zoo of ``ZOOS``.

    ``figures``: the committed figures folder that holds the other zoos' tables (a notebook's ``nb.shipped``,
    not ``nb.figures``, which the test command redirects to a folder without them);
    ``table``: the CSV name (``fig5_disentanglement``, ``table2_effective_dim``); ``measures``: the column of
    each measure -> the column of its standard error; ``current``: the converged zoo's rows (the notebook's);
    ``models``: the models to show (default: those of ``current``). A model absent from a zoo gets nan.
    """
    figures = Path(figures)
    zoos = {label: (list(current) if folder is None else read_rows(figures / folder / f"{table}.csv"))
            for label, folder in ZOOS}
    models = list(models) if models is not None else [r["model"] for r in current]
    out = []
    for m in models:
        for measure, se in measures.items():
            row: dict = {"model": m, "measure": measure}
            for label, rows in zoos.items():
                hit = next((r for r in rows if r["model"] == m), None)
                if hit is not None and measure not in hit:
                    raise KeyError(f"{table} of zoo {label!r} has no column {measure!r}")
                row[label] = float(hit[measure]) if hit is not None else math.nan
                row[f"{label}_se"] = float(hit[se]) if hit is not None else math.nan
            out.append(row)
    return out
