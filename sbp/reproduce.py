"""Run every notebook in order with papermill: the project's main job.

``python -m sbp.reproduce`` (quick profile) or ``PROFILE=paper python -m sbp.reproduce``.
Executed copies go to ``build/notebooks/<profile>/``, never over the committed notebooks;
figures go to ``figures/``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"

# The run order: every notebook in notebooks/ must be listed (tests/test_notebooks.py checks).
ORDER = [
    "00_estimator_accuracy.ipynb",
    "01_fig1_reverse_kl.ipynb",
    "02_fig2_forward_kl.ipynb",
    "03_fig3_gan_samples.ipynb",
    "04_fig4_table1_likelihood_ascent.ipynb",
    "05_fig5_eigen_directions.ipynb",
    "06_fig6_table2_effective_dim.ipynb",
    "07_explore_latent_space.ipynb",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--profile", default=os.environ.get("PROFILE", "quick"), choices=["quick", "paper"])
    p.add_argument("--only", nargs="*", help="run only these notebooks (names or prefixes like 03)")
    args = p.parse_args(argv)
    import papermill as pm

    out_dir = ROOT / "build" / "notebooks" / args.profile
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [n for n in ORDER if not args.only or any(n.startswith(o) for o in args.only)]
    rows = []
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} ({args.profile}) ...", flush=True)
        t0 = time.perf_counter()
        pm.execute_notebook(str(NOTEBOOK_DIR / name), str(out_dir / name), parameters={"profile": args.profile},
                            cwd=str(NOTEBOOK_DIR), kernel_name="python3", progress_bar=False)
        dt = time.perf_counter() - t0
        rows.append((name, dt))
        print(f"[{i}/{len(names)}] {name} done in {dt:.1f} s", flush=True)
    print("\n| notebook | wall time (s) |\n|---|---|")
    for name, dt in rows:
        print(f"| {name} | {dt:.1f} |")
    print(f"| total | {sum(dt for _, dt in rows):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
