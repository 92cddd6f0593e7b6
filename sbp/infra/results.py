"""``RESULTS.md``, generated from what the notebooks wrote to ``figures/``: never edited by hand.

One section per notebook: the paper's claim (fixed text below), the figures, and our numbers
as the notebook wrote them: every table (``<name>.md`` beside its CSV and JSON, written by
``sbp.infra.io.write_table``) and every JSON of scalars, flattened to ``key | value`` rows.
Runs of other profiles (``figures/<profile>/``) get a subsection each. The main job
regenerates the page; ``python -m sbp.infra.results --check`` fails when the committed page
differs from what the committed figures give (tests/test_results.py runs it).

    python -m sbp.infra.results            # write RESULTS.md
    python -m sbp.infra.results --check    # exit 1 if RESULTS.md is stale
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sbp.infra.io import atomic_write_bytes

__all__ = ["SECTIONS", "render", "write_results", "flatten"]

ROOT = Path(__file__).resolve().parents[2]
MAX_TABLE_ROWS = 40  # longer tables are linked, not copied

# (notebook, title, file prefixes in figures/, the paper's claim)
SECTIONS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("00_estimator_accuracy", "Estimator accuracy (Algorithm 1)", ("fig0_",),
     "Stochastic Chebyshev / Taylor polynomials with Hutchinson probes estimate log det(J^T J) from "
     "Jacobian-vector products; the error falls with the polynomial order."),
    ("01_fig1_reverse_kl", "Figure 1: reverse-KL fits of four test energies", ("fig1_",),
     "Minimizing KL(p_model || p) through the estimated log det fits the four energies of Rezende & Mohamed; "
     "a spectral-norm penalty (Eq. 8) keeps energies 3 and 4 from stretching; the estimated log-likelihood "
     "stays close to the exact one."),
    ("02_fig2_forward_kl", "Figure 2: forward-KL fits (data -> latent)", ("fig2_",),
     "Minimizing KL(p || p_model) with a data -> latent map fits two densities; with an unnormalized target "
     "the model puts mass outside the support."),
    ("03_fig3_gan_samples", "Figure 3: DCGAN samples", ("fig3_",),
     "DCGANs of several widths and latent sizes give plausible samples (CelebA, LSUN Bedroom)."),
    ("04_fig4_table1_likelihood_ascent", "Figure 4 and Table 1: likelihood ascent", ("fig4_", "table1_"),
     "Ascending log p_G(G(z)) over z makes the outputs aberrant while the likelihood soars and J^T J "
     "becomes ill-conditioned."),
    ("05_fig5_eigen_directions", "Figure 5: eigen-directions of J^T J", ("fig5_",),
     "Perturbing z along the dominant eigenvectors of J^T J changes distinct, meaningful attributes, more "
     "than random directions do."),
    ("06_fig6_table2_effective_dim", "Figure 6 and Table 2: effective latent dimensionality", ("fig6_", "table2_"),
     "N_tau, the number of eigen-directions that change the output more than a random direction, grows with "
     "the latent size; larger width may capture more factors."),
    ("07_explore_latent_space", "Latent-space explorer (interactive)", ("fig7_",),
     "(Not a figure of the paper: sliders along eigenvectors and random directions, with the log-likelihood.)"),
    ("08_estimator_benchmark", "Estimator benchmark", ("fig8_",),
     "(Not a figure of the paper: error against counted Jacobian products, memory against order, wall time "
     "against the exact log det.)"),
]


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, value)`` rows of a JSON object; lists of scalars joined by commas."""
    if isinstance(obj, dict):
        return [row for k in sorted(obj) for row in flatten(obj[k], f"{prefix}{k}.")]
    if isinstance(obj, list) and not any(isinstance(v, (dict, list)) for v in obj):
        return [(prefix[:-1], ", ".join(_scalar(v) for v in obj))]
    if isinstance(obj, list):
        return [row for i, v in enumerate(obj) for row in flatten(v, f"{prefix}{i}.")]
    return [(prefix[:-1], _scalar(obj))]


def _scalar(v: Any) -> str:
    return "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _files(folder: Path, prefixes: tuple[str, ...], ext: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"*.{ext}") if p.name.startswith(prefixes))


def _render_folder(folder: Path, prefixes: tuple[str, ...], root: Path, level: str) -> list[str]:
    out = []
    rel = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    for png in _files(folder, prefixes, "png"):
        out += [f"![{png.stem}]({rel(png)})", ""]
    tables = {p.stem for p in _files(folder, prefixes, "md")}
    for md in _files(folder, prefixes, "md"):
        lines = md.read_text().strip().splitlines()
        out.append(f"{level} `{md.stem}`")
        if len(lines) - 2 > MAX_TABLE_ROWS:
            out += ["", f"{len(lines) - 2} rows: [{rel(md)}]({rel(md)}), also as CSV and JSON.", ""]
        else:
            out += ["", *lines, ""]
    for js in _files(folder, prefixes, "json"):
        if js.stem in tables:
            continue
        obj = json.loads(js.read_text())
        records = {k: v for k, v in obj.items() if _is_records(v)} if isinstance(obj, dict) else {}
        rest = {k: v for k, v in obj.items() if k not in records} if isinstance(obj, dict) else obj
        out += [f"{level} `{js.stem}`", ""]
        for key, rec in records.items():
            out += _record_table(key, rec) + [""]
        if rest:
            out += ["| key | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in flatten(rest)], ""]
    return out


def _is_records(v: Any) -> bool:
    """A dict of dicts of scalars (e.g. metrics per energy): shown as one table, a row per outer key."""
    return (isinstance(v, dict) and len(v) > 1 and all(isinstance(r, dict) for r in v.values())
            and all(not isinstance(x, (dict, list)) for r in v.values() for x in r.values()))


def _record_table(key: str, records: dict) -> list[str]:
    cols = sorted({c for r in records.values() for c in r})
    lines = [f"| {key} | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    return lines + [f"| {name} | " + " | ".join(_scalar(r.get(c, "")) for c in cols) + " |"
                    for name, r in records.items()]


def render(figures: Path | None = None, root: Path | None = None) -> str:
    """The text of RESULTS.md from the files in ``figures`` (default: the repository's ``figures/``)."""
    root = root or ROOT
    figures = figures or root / "figures"
    profiles = sorted(p for p in figures.iterdir() if p.is_dir()) if figures.is_dir() else []
    out = ["# Results", "",
           "Generated by `python -m sbp.infra.results` from `figures/` (the main job runs it): do not edit by hand.",
           "Each section: the paper's claim, our figures, and our numbers as the notebook wrote them. The notebook's",
           "first cell says what we conclude; its final section, Measurements, has the history.", ""]
    for name, title, prefixes, claim in SECTIONS:
        out += [f"## {name}: {title}", "", f"Notebook: [`notebooks/{name}.ipynb`](notebooks/{name}.ipynb)", "",
                f"**The paper:** {claim}", ""]
        body = _render_folder(figures, prefixes, root, "####")
        out += ["### Ours (default profile)", "", *(body or ["(nothing written yet)", ""])]
        for prof in profiles:
            extra = _render_folder(prof, prefixes, root, "####")
            if extra:
                out += [f"### Ours, profile `{prof.name}`", "", *extra]
    return "\n".join(out).rstrip() + "\n"


def write_results(path: Path | None = None, figures: Path | None = None) -> Path:
    """Write RESULTS.md (default: at the repository root) from ``figures``."""
    return atomic_write_bytes(path or ROOT / "RESULTS.md", render(figures).encode())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Generate RESULTS.md from figures/.")
    p.add_argument("--check", action="store_true", help="exit 1 if RESULTS.md differs from what figures/ give")
    a = p.parse_args(argv)
    target = ROOT / "RESULTS.md"
    if a.check:
        stale = not target.exists() or target.read_text() != render()
        print("RESULTS.md is stale: run python -m sbp.infra.results" if stale else "RESULTS.md is up to date")
        return int(stale)
    print(f"wrote {write_results()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
