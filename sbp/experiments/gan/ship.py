"""Train, measure and export the reference zoo into ``models/reference/`` (what ``reference`` loads).

    python -m sbp.experiments.gan.ship train w16_d16 w32_d16     # train (or resume) and export generators
    python -m sbp.experiments.gan.ship train w16_d16 --device cuda
    python -m sbp.experiments.gan.ship train w16_d16 --iters 96000   # the schedule rule's next doubling
    python -m sbp.experiments.gan.ship factor-net                # train + export the factor network
    python -m sbp.experiments.gan.ship verify                    # check every manifest

A generator trains through the command its manifest records (``config.train_command``), one
checkpoint interval at a time: after each, ``curve.quality`` (Frechet distance and confident
share) is measured on the checkpoint and appended to ``<cache>/<name>_curve.csv`` with the
training seconds so far. An interruption loses at most one interval; rerunning the same command
continues. The chunks resume exactly, so the weights are those of one uninterrupted run.
After each chunk the run is also staged in ``models/staging/`` (tracked: checkpoint in parts under 5 MB,
training log, curve), so that a run longer than one machine's life continues on another from the commit
that holds the staged files (``stage`` / ``unstage``); the export clears it (``clear_staged``).
"""
from __future__ import annotations

import argparse
import io
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from sbp.experiments.gan import curve
from sbp.experiments.gan.config import full_spec, train_command
from sbp.experiments.gan.factors import train_factor_net
from sbp.experiments.gan.reference import FACTOR_NET, REFERENCE_DIR, RETRAIN, ROOT, load_factor_net, sha256, verify
from sbp.experiments.gan.train import load_checkpoint, load_generator
from sbp.experiments.gan.zoo import model_spec
from sbp.infra.io import atomic_write_bytes, write_json

__all__ = ["train_reference", "export_generator", "export_factor_net", "provenance", "machine", "stage", "unstage",
           "clear_staged", "STAGING_DIR"]

STAGING_DIR = ROOT / "models" / "staging"
_PART = 4 * 2 ** 20  # bytes per staged part: tracked files stay under 5 MB


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def provenance() -> dict:
    """The commit and whether the tree was clean (the shipped and staging folders, being written, excluded)."""
    try:
        dirty = _git("status", "--porcelain", "--", ".", ":!models/reference", ":!models/staging")
        return {"commit": _git("rev-parse", "HEAD"), "tree_clean": dirty == ""}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "tree_clean": None}


def machine(device: str = "cpu") -> dict:
    """What float32 results depend on beyond the code: the CPU's model name, the kernel set torch dispatches to
    (``DEFAULT`` / ``AVX2`` / ``AVX512``; a rerun elsewhere matches the training log only to rounding, see
    tests/test_reference.py) and, on CUDA, the GPU's name."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out = {"cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def _save_state(state: dict, path: Path) -> str:
    buf = io.BytesIO()
    torch.save({k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return sha256(path)


def export_generator(name: str, ckpt: Path, command: list[str], wall_time: float, device: str = "cpu",
                     folder: Path = REFERENCE_DIR, provenance_: dict | None = None) -> dict:
    """Write ``<name>.pt``, ``.csv``, ``_curve.csv`` and ``.json`` from the finished checkpoint ``ckpt``."""
    rows = curve.read_curve(curve.curve_path(ckpt))
    ck = load_checkpoint(ckpt)
    if not rows or rows[-1]["iteration"] != ck["iteration"]:
        raise ValueError(f"the quality curve {str(curve.curve_path(ckpt))!r} does not end at the checkpoint's "
                         f"iteration {ck['iteration']}; rerun: {RETRAIN} train {name}")
    folder.mkdir(parents=True, exist_ok=True)
    digest = _save_state(load_generator(ckpt).state_dict(), folder / f"{name}.pt")
    shutil.copyfile(ckpt.with_suffix(".csv"), folder / f"{name}.csv")
    shutil.copyfile(curve.curve_path(ckpt), curve.curve_path(folder / f"{name}.pt"))
    man = {"name": name, "command": shlex.join(command), "spec": ck["spec"], "seed": ck["spec"]["seed"],
           "iterations": ck["iteration"], "device": device,
           "threads": ck["spec"]["cpu_threads"] if device == "cpu" else None,
           "wall_time_s": round(wall_time, 1), "frechet": round(rows[-1]["frechet"], 3), "frechet_n": 1000,
           "confident_share": rows[-1]["confident_share"], "sha256": digest, "torch": torch.__version__,
           **machine(device), **(provenance_ or provenance())}
    write_json(man, folder / f"{name}.json", digits=None)
    return man



def _staged(ckpt: Path, folder: Path) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """The staged checkpoint's parts and the (staged, cache) pairs of the run's log and curve."""
    parts = sorted(folder.glob(f"{ckpt.name}.part*"), key=lambda p: int(p.suffix[len(".part"):]))
    others = [(folder / p.name, p) for p in (ckpt.with_suffix(".csv"), curve.curve_path(ckpt))]
    return parts, others


def stage(ckpt: Path, folder: Path = STAGING_DIR) -> None:
    """Copy the run at ``ckpt`` (checkpoint in parts of at most 4 MiB, training log, curve) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = ckpt.read_bytes()
    old, others = _staged(ckpt, folder)
    chunks = [data[i:i + _PART] for i in range(0, len(data), _PART)]
    for k, chunk in enumerate(chunks):
        atomic_write_bytes(folder / f"{ckpt.name}.part{k}", chunk)
    for p in old[len(chunks):]:
        p.unlink()
    for staged, cached in others:
        atomic_write_bytes(staged, cached.read_bytes())


def unstage(ckpt: Path, folder: Path = STAGING_DIR) -> bool:
    """Restore the run staged in ``folder`` to ``ckpt`` where the cache has no checkpoint (True when it did)."""
    parts, others = _staged(ckpt, folder)
    if ckpt.exists() or not parts:
        return False
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    for staged, cached in others:
        atomic_write_bytes(cached, staged.read_bytes())
    atomic_write_bytes(ckpt, b"".join(p.read_bytes() for p in parts))
    load_checkpoint(ckpt)  # a missing or damaged part is an error here, naming the file
    return True


def clear_staged(ckpt: Path, folder: Path = STAGING_DIR) -> None:
    """Delete the run at ``ckpt``'s staged files from ``folder`` (once it has shipped)."""
    parts, others = _staged(ckpt, folder)
    for p in parts + [s for s, _ in others]:
        p.unlink(missing_ok=True)


def train_reference(name: str, cache: str = "build/reference", device: str = "cpu",
                    folder: Path = REFERENCE_DIR, staging: Path = STAGING_DIR, schedule: dict | None = None) -> dict:
    """Train (or resume) reference model ``name`` chunk by chunk with its quality curve, staged in ``staging``
    after each chunk (resumed from there when ``cache`` has no checkpoint), then export it into ``folder``.
    ``schedule``: ``iters`` / ``lr`` other than the zoo's (the schedule rule's next doubling, a step size tried
    for one model); the zoo's ``schedules`` take them when the model ships."""
    unknown = set(schedule or {}) - {"iters", "lr"}
    if unknown:
        raise ValueError(f"train_reference: a schedule sets iters and lr only, got {sorted(unknown)}")
    spec = {**model_spec(name, "reference"), **(schedule or {})}
    full_spec(spec)  # a bad value is an error here, before any training
    ckpt = Path(cache) / f"{name}.pt"  # relative to the repository root, as the manifest's command says
    command = train_command(spec, str(ckpt), device)
    prov = provenance()
    torch.set_num_threads(1)
    net = load_factor_net()
    real = curve.real_features(net, resolution=spec["resolution"])
    curve_file = curve.curve_path(ROOT / ckpt)
    if unstage(ROOT / ckpt, staging):
        print(f"{name}: resumed from the run staged in {staging}", flush=True)
    rows = curve.read_curve(curve_file)
    wall = rows[-1]["wall_time_s"] if rows else 0.0
    while True:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *command[1:], "--max-steps", str(spec["ckpt_every"])], cwd=ROOT, check=True)
        wall += time.perf_counter() - t0
        ck = load_checkpoint(ROOT / ckpt)
        if not rows or rows[-1]["iteration"] != ck["iteration"]:
            row = {"iteration": ck["iteration"], "wall_time_s": wall,
                   **curve.quality(load_generator(ROOT / ckpt), net, real)}
            rows = curve.append_curve(curve_file, row)
            print(f"{name}: iteration {row['iteration']}, Frechet {row['frechet']:.2f}, "
                  f"confident share {row['confident_share']:.3f}, {wall:.0f} s", flush=True)
        if ck.get("done"):
            man = export_generator(name, ROOT / ckpt, command, rows[-1]["wall_time_s"], device, folder, prov)
            clear_staged(ROOT / ckpt, staging)
            return man
        stage(ROOT / ckpt, staging)


def export_factor_net(iters: int, resolution: int = 32, folder: Path = REFERENCE_DIR) -> dict:
    t0 = time.perf_counter()
    net = train_factor_net(resolution, iters=iters)
    wall = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    man = {"name": FACTOR_NET, "command": f"{RETRAIN} factor-net --iters {iters}",
           "spec": {"resolution": resolution, "iters": iters}, "seed": 0, "iterations": iters, "device": "cpu",
           "threads": 1, "wall_time_s": round(wall, 1),
           "sha256": _save_state(net.state_dict(), folder / f"{FACTOR_NET}.pt"), "torch": torch.__version__,
           **machine(), **provenance()}
    write_json(man, folder / f"{FACTOR_NET}.json", digits=None)
    return man


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=RETRAIN, description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("train", help="train (or resume) and export reference generators")
    t.add_argument("names", nargs="+")
    t.add_argument("--cache", default="build/reference", help="checkpoints while training (relative to the repository)")
    t.add_argument("--device", default="cpu", help="cpu (the shipped models) or cuda; the manifest records it")
    t.add_argument("--iters", type=int, default=None,
                   help="a schedule other than the zoo's (the doubling rule's next one); the zoo takes it at shipping")
    t.add_argument("--lr", type=float, default=None, help="a step size other than the zoo's, as --iters")
    f = sub.add_parser("factor-net", help="train and export the factor network")
    f.add_argument("--iters", type=int, default=6000)
    sub.add_parser("verify", help="check every shipped file against its manifest")
    a = p.parse_args(argv)
    if a.what == "train":
        for name in a.names:
            schedule = {k: v for k, v in (("iters", a.iters), ("lr", a.lr)) if v is not None}
            man = train_reference(name, a.cache, a.device, schedule=schedule)
            print(f"{name}: Frechet {man['frechet']:.2f}, {man['iterations']} iterations, {man['wall_time_s']} s")
    elif a.what == "factor-net":
        print(export_factor_net(a.iters))
    else:
        print("verified:", ", ".join(verify()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
