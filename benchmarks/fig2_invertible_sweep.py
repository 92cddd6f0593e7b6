"""Figure 2 with the invertible model (ours, ``sbp.models.iresnet2d``): fit quality per training setting.

Each row trains one ``InvertibleResNet2d`` by maximum likelihood on a Figure 2 target (exact log det
unless ``method=chebyshev``) and scores it on the 200 x 200 grid of the box: TV of q renormalized on the
box and of q as it is (40 x 40 bins, ``tv_density_grid``), q's mass on the box, and seconds per step
(one thread; the CPU may be shared: see ``load`` in the row). Rows are appended to ``--out`` (JSON lines).

Run:
    PYTHONPATH=. python benchmarks/fig2_invertible_sweep.py --target ring8 --set width=32 blocks=8 iterations=1000
    PYTHONPATH=. python benchmarks/fig2_invertible_sweep.py --report   # the table of every row so far
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import sbp.experiments.density2d.fit as D
from sbp.experiments.density2d.fit_quality import tv_density_grid
from sbp.experiments.density2d.sweep import load_sweep
from sbp.infra.io import write_table

OUT = Path("benchmarks/results/fig2_invertible_sweep.jsonl")
BASE = dict(model="invertible", width=64, blocks=8, activation="elu", scale=0.9, iterations=2000, batch=256,
            lr=3e-3, lr_final=0.0, method="exact", order=20, probes=2, power_iters=2, seed=0)


def _value(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def run(target: str, setting: dict) -> dict:
    """Train one model with BASE updated by ``setting`` and score it."""
    kw = {**BASE, **setting}
    kw["jvp_mode"] = "reverse" if kw["method"] == "exact" else "dense"
    fit = D.fit_forward_kl(target, monitor=False, show_progress=False, **kw)
    lq, mass = D.model_log_density_grid(fit.model)
    changed = {k: v for k, v in kw.items() if BASE.get(k) != v and k != "jvp_mode"}
    return dict(target=target, setting=changed, dtype=str(fit.model.dtype).removeprefix("torch."),
                tv=tv_density_grid(lq, target),
                tv_unnormalized=tv_density_grid(lq, target, normalize=False), mass=mass,
                loss_last100=float(fit.loss[-100:].mean()), s_per_it=fit.wall_time / fit.iterations,
                load=os.getloadavg()[0])


def report(path: Path) -> None:
    rows = [dict(target=r["target"], setting=", ".join(f"{k}={v}" for k, v in sorted(r["setting"].items())) or "base",
                 dtype=r.get("dtype", "float64"), method=r["setting"].get("method", BASE["method"]),
                 tv=r["tv"], tv_unnormalized=r["tv_unnormalized"], mass=r["mass"], ms_per_step=1e3 * r["s_per_it"])
            for r in load_sweep(path)]
    write_table(sorted(rows, key=lambda r: (r["target"], r["tv"])), "fig2_invertible_sweep", path.parent)
    print((path.parent / "fig2_invertible_sweep.md").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="ring8")
    p.add_argument("--set", nargs="*", default=[], help="key=value overrides of BASE")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--report", action="store_true")
    a = p.parse_args()
    if a.report:
        return report(a.out)
    setting = {k: _value(v) for k, v in (s.split("=", 1) for s in a.set)}
    t0 = time.perf_counter()
    row = run(a.target, setting)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
