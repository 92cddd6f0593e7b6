"""Run every notebook in order with papermill: the project's main job.

    python -m sbp.infra.reproduce                  # every notebook in its own default profile
    PROFILE=paper python -m sbp.infra.reproduce    # every notebook in the paper's settings (GPU recommended)
    python -m sbp.infra.reproduce --only 03 04     # some notebooks; --force reruns unchanged ones

Executed copies go to ``build/notebooks/<profile>/``, never over the committed notebooks
(nbval would collect them); figures and tables go to ``figures/`` (the default profile) or
``figures/<profile>/``; trained models are cached in ``build/cache/`` and reused. At the end
``RESULTS.md`` is regenerated from ``figures/`` (``sbp.infra.results``). A notebook whose inputs (its own file, the ``sbp`` sources, the profile) have not
changed since its last successful run is skipped.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

from sbp.infra.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"

# The run order: every notebook in notebooks/ must be listed (tests/test_project.py checks).
ORDER = [
    "00_estimator_accuracy.ipynb",
    "01_fig1_reverse_kl.ipynb",
    "02_fig2_forward_kl.ipynb",
    "03_fig3_gan_samples.ipynb",
    "04_fig4_table1_likelihood_ascent.ipynb",
    "05_fig5_eigen_directions.ipynb",
    "06_fig6_table2_effective_dim.ipynb",
    "07_explore_latent_space.ipynb",
    "08_estimator_benchmark.ipynb",
]


def inputs_digest(notebook: Path, profile: str) -> str:
    """SHA-256 of what a notebook's results depend on: itself, every sbp source file, the shipped models, the profile."""
    h = hashlib.sha256(profile.encode())
    shipped = sorted(p for p in (ROOT / "models").rglob("*") if p.is_file()) if (ROOT / "models").is_dir() else []
    for path in [notebook, *sorted((ROOT / "sbp").rglob("*.py")), *shipped]:
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def select(names: list[str], only: list[str] | None) -> list[str]:
    if not only:
        return list(names)
    chosen = [n for n in names if any(n.startswith(o) for o in only)]
    unknown = [o for o in only if not any(n.startswith(o) for n in names)]
    if unknown:
        raise SystemExit(f"unknown notebook(s) {unknown}; known: {names}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run every notebook in order (papermill).")
    p.add_argument("--profile", default=os.environ.get("PROFILE") or None, choices=list(PROFILES),
                   help="run every notebook in this profile (default: each notebook's own default profile)")
    p.add_argument("--only", nargs="*", help="notebook names or prefixes, e.g. 03 04")
    p.add_argument("--force", action="store_true", help="rerun notebooks whose inputs have not changed")
    args = p.parse_args(argv)
    import papermill as pm

    from sbp.infra.cpu_kernels import pin_cpu_kernels

    pin_cpu_kernels()  # inherited by papermill's kernels: the same digits as nbval's run on any x86-64 CPU

    out_dir = ROOT / "build" / "notebooks" / (args.profile or "default")
    out_dir.mkdir(parents=True, exist_ok=True)
    names = select(ORDER, args.only)
    rows, t_all = [], time.perf_counter()
    for i, name in enumerate(names, 1):
        src, out, stamp = NOTEBOOK_DIR / name, out_dir / name, out_dir / f"{name}.sha256"
        digest = inputs_digest(src, args.profile or "default")
        if not args.force and out.exists() and stamp.exists() and stamp.read_text().strip() == digest:
            print(f"[{i}/{len(names)}] {name}: inputs unchanged, skipped (--force reruns it)", flush=True)
            rows.append((name, "skipped", 0.0))
            continue
        print(f"[{i}/{len(names)}] {name} ({args.profile or 'default profile'}) ...", flush=True)
        t0 = time.perf_counter()
        try:
            params = {"profile": args.profile} if args.profile else {}
            pm.execute_notebook(str(src), str(out), parameters=params, cwd=str(NOTEBOOK_DIR), kernel_name="python3",
                                progress_bar=False)
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
            dt = time.perf_counter() - t0
            print(f"[{i}/{len(names)}] {name} FAILED after {dt:.1f} s: see {out}\n{exc}", flush=True)
            rows.append((name, "FAILED", dt))
            break
        dt = time.perf_counter() - t0
        stamp.write_text(digest + "\n")
        rows.append((name, "ran", dt))
        print(f"[{i}/{len(names)}] {name} done in {dt:.1f} s", flush=True)
    print(f"\n| notebook | status | wall time (s) |\n|---|---|---|")
    for name, status, dt in rows:
        print(f"| {name} | {status} | {dt:.1f} |")
    print(f"| total ({args.profile or 'default'} profile) | | {time.perf_counter() - t_all:.1f} |")
    from sbp.infra.results import write_results

    print(f"figures and tables: {ROOT / 'figures'}; executed notebooks: {out_dir}; results page: {write_results()}")
    return 1 if any(status == "FAILED" for _, status, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
