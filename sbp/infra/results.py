"""``RESULTS.md``, generated from what the notebooks wrote to ``figures/``: never edited by hand.

One section per notebook: the paper's claim (fixed text below), the figures, and our numbers
as the notebook wrote them: every table (``<name>.md`` beside its CSV and JSON, written by
``sbp.infra.io.write_table``) and every JSON of scalars, flattened to ``key | value`` rows.
Runs of other profiles (``figures/<profile>/``) get a subsection each; the benchmark
scripts' tables (``benchmarks/results/``, ``BENCHMARKS``) a section at the end. The main job
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

__all__ = ["SECTIONS", "BENCHMARKS", "render", "write_results", "flatten", "found"]

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
     "against the exact log det. `fig8_best_by_budget` is a second view: the best of five sbp methods per "
     "cell, chosen after the fact, which a user cannot do in advance; the fair comparison, sbp's own choice "
     "for a tolerance against GPyTorch and exact, is under Benchmark scripts below.)"),
]

# (script in benchmarks/, title, file prefixes in benchmarks/results/, what it measures)
BENCHMARKS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("bench_fair", "Fair benchmark: a tolerance, sbp's own choice against GPyTorch and exact", ("bench_fair_",),
     "For rtol 0.1 / 0.03 / 0.01: the counted products (JVP+VJP pairs, dense Jacobian columns) per row of z, "
     "the wall time per call (4 rows, one thread, median over seeds) and the true relative error (95th "
     "percentile over rows x seeds; `within`: share of rows with error <= rtol) of `method=\"auto\"` with "
     "the tolerance (`slq`: sbp's stochastic route with the same tolerance), of GPyTorch's SLQ as a user takes it "
     "(`gpt`: its defaults, 10 probes, 20 Lanczos steps; `gpt100`: 100 probes) and of exact. GPyTorch takes "
     "no tolerance: its rows are judged against each rtol. `bench_fair_all` has every configuration. The slq and GPyTorch "
     "rows' wall times were taken with bench_tolerance running on the other core of the 2-core CPU: rough; the "
     "`auto` and exact rows were measured again together, on an idle CPU (`bench_fair.py --rerun-auto gate-columns`: "
     "where auto takes exact, the gate's products are P of its d columns, so it makes exactly d products)."),
    ("bench_tolerance", "Coverage of the reported intervals and the tolerance kept", ("bench_tolerance_",),
     "Over 200 seeds x 4 rows: how often the fixed-budget interval estimate +- t stderr at 95 % and 99.7 % "
     "contains the exact value, and in tolerance mode (`slq` with rtol, at confidence 0.95 / 0.997) the share "
     "of rows reported converged and, among them, the share whose true error is within the tolerance "
     "(target: >= confidence; `kept_stderr` is its binomial standard error). `tag` names the code version."),
    ("bench_speed", "Speed against exact with and without a graph", ("bench_speed",),
     "64x64 DCGAN-like generator (width 32), batch 1: chebyshev order 20 with 4 probes against exact, without a "
     "graph, with a graph, and with a graph plus backward (target at d = 1024: >= 4x faster with a graph); "
     "`method=\"auto\"` with rtol = 0.01 against exact (target: at most as slow). `bench_speed_auto_exact`: where "
     "auto with rtol = 0.01 takes exact (bench_fair's problems, float64, 4 rows, no graph), its median wall time "
     "against exact over alternating calls."),
    ("bench_tolerance_grad", "Bias of the gradient under a tolerance", ("bench_tolerance_grad",),
     "tanh MLP R^8 -> R^32 (float64, fixed weights) at 4 codes, 60 probe seeds: the gradient of sum log det(J^T J) "
     "with respect to the parameters, estimated with a fixed budget or to rtol, against the exact gradient: "
     "relative bias ||mean - exact|| / ||exact|| with its standard error over seeds, relative RMS error, and the "
     "share of calls whose tolerance was reached (first 20 seeds)."),
    ("bench_fig1_step", "Cost of a Figure 1 training step", ("bench_fig1_step",),
     "Median ms per Adam step (batch 64 / 256, monitoring off, one thread, after 10 warm-up steps; no compilation) "
     "of the estimator-trained step (Chebyshev order 20, 2 probes) against the exact one, by product route and "
     "gradient mode, with the autograd-engine calls per step, for the paper's LeakyReLU and notebook 01's tanh. "
     "Target: at most 3x exact."),
    ("fig1_gradient_bias", "Figure 1: is the pathwise gradient of E[log |det J|] the expectation's gradient?",
     ("fig1_gradient_bias",),
     "ResNet2d with each activation (`sbp.models.activations`), at initialization (branches at full scale) and after "
     "600 steps of a U1 fit: the directional derivative of the mean of log |det J_f(z)| over 200,000 fixed codes "
     "along random unit directions in parameter space, by autograd at the fixed codes (`pathwise`, what training "
     "uses) and by central differences with the same codes (`central`, h = 1e-3), and their difference relative "
     "to `central` and in standard errors over 20 chunks of the codes. With LeakyReLU the Jacobian jumps at the "
     "kinks and the pathwise derivative misses the boundary term; with a smooth activation the two agree to the "
     "difference quotient's O(h^2)."),
    ("fig2_invertible_sweep", "Figure 2 settings sweep: the invertible model (ours), fit quality per setting",
     ("fig2_invertible_sweep",),
     "Each row one `InvertibleResNet2d` (blocks x + c h(x), spectrally normalized layers, ELU) trained by maximum "
     "likelihood on a Figure 2 target (exact log det unless `method` says chebyshev; base: width 64, 8 blocks, c = 0.9, "
     "Adam 3e-3 with cosine decay to 0, batch 256, 2,000 steps, seed 0), scored on the 200 x 200 grid of the box: "
     "TV of q renormalized on the box and of q as it is (40 x 40 bins; goals ring8 <= 0.15, U1 <= 0.08), q's mass on "
     "the box and ms per step (one thread, on a CPU shared with other jobs: 2-4x what an idle core takes)."),
    ("fig1_fit_sweep", "Figure 1 settings sweep: fit quality (binned TV) per setting", ("fig1_fit_sweep_",),
     "Each row one model trained by reverse KL (exact log det unless `method` says chebyshev), scored on 10,000 "
     "samples: TV to the box-restricted target (exact target samples score about 0.08), share outside the box, "
     "KL(q||p), share of codes beyond a fold, U3/U4 split share (target 0.52 / 0.42) and ms per step (contended "
     "CPU). The `activation`, `smooth*` and `tanh*` grids swap the paper's LeakyReLU for a smooth activation "
     "(ours). `fig1_fit_sweep_seeds`: seeds 0-2 of the paper's model's best budget (`chosen`, LeakyReLU, both "
     "methods) and of the tanh settings; notebook 01's quick profile is `smooth_1000` / `smooth_2000` (exact) with "
     "`tanh4_1000` / `tanh4_2000` (estimator: order 100, 4 probes, low-memory gradient) (goal: TV <= 0.20 on "
     "U1/U2, <= 0.25 on U3/U4)."),
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


def found(notebook: Path) -> str:
    """The verdict of a notebook: the paragraph of its first cell that starts with ``**Found**`` (up to the
    next paragraph that starts with ``**``), or "" where it has none."""
    if not notebook.is_file():
        return ""
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    text = "".join(cells[0]["source"]) if cells else ""
    start = text.find("**Found**")
    if start < 0:
        return ""
    end = text.find("\n\n**", start)
    return text[start:end if end >= 0 else len(text)].strip()


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
        verdict = found(root / "notebooks" / f"{name}.ipynb")
        out += [f"**Our verdict** (the notebook's first cell): {verdict.removeprefix('**Found**').lstrip(' :')}", ""] \
            if verdict else []
        body = _render_folder(figures, prefixes, root, "####")
        out += ["### Ours (default profile)", "", *(body or ["(nothing written yet)", ""])]
        for prof in profiles:
            extra = _render_folder(prof, prefixes, root, "####")
            if extra:
                out += [f"### Ours, profile `{prof.name}`", "", *extra]
    out += ["## Benchmark scripts", "", "Written by the scripts in `benchmarks/` to `benchmarks/results/` (not by the main "
            "job: they take tens of minutes); the command is in each script's docstring.", ""]
    for name, title, prefixes, what in BENCHMARKS:
        body = _render_folder(root / "benchmarks" / "results", prefixes, root, "####")
        out += [f"### {name}: {title}", "", f"Script: [`benchmarks/{name}.py`](benchmarks/{name}.py)", "",
                what, "", *(body or ["(nothing written yet)", ""])]
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
