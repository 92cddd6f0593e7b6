"""Training and export of the reference zoo: chunked training with a quality curve, resumable, exported."""
import json

import pytest
import torch

from sbp.experiments.gan import curve, ship
from sbp.experiments.gan.train import load_checkpoint, train_gan
from sbp.infra.checkpoint import CheckpointError

TINY = {"name": "w2_d3", "latent_dim": 3, "width": 2, "resolution": 32, "iters": 4, "seed": 0, "lr": 1e-3,
        "batch_size": 4, "ckpt_every": 2, "ema": 0.5}


def test_train_reference_measures_every_checkpoint_resumes_and_exports(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(ship, "model_spec", lambda name, profile: {**TINY, "version": 2, "profile": profile})
    monkeypatch.setattr(ship, "provenance", lambda: {"commit": "0" * 40, "tree_clean": True})
    out, cache, staging = tmp_path / "shipped", tmp_path / "cache", tmp_path / "staging"
    man = ship.train_reference("w2_d3", str(cache), folder=out, staging=staging)
    assert staging.is_dir() and not any(staging.iterdir())  # staged after the first chunk, cleared by the export
    rows = curve.read_curve(out / "w2_d3_curve.csv")
    assert [r["iteration"] for r in rows] == [2, 4] and rows[0]["wall_time_s"] < rows[1]["wall_time_s"]
    assert man["iterations"] == 4 and man["device"] == "cpu" and man["frechet"] == round(rows[-1]["frechet"], 3)
    assert man["command"].startswith("python -m sbp.experiments.gan.train ") and "--ckpt-every 2" in man["command"]
    assert json.loads((out / "w2_d3.json").read_text())["confident_share"] == rows[-1]["confident_share"]
    assert man["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and man["cpu"]  # the kernels it ran on
    whole = train_gan(TINY, tmp_path / "whole.pt", device="cpu", progress_bar=False)
    shipped = torch.load(out / "w2_d3.pt", weights_only=True)
    assert all(torch.equal(shipped[k], whole["G_ema"][k]) for k in shipped)  # the chunks = one uninterrupted run
    again = ship.train_reference("w2_d3", str(cache), folder=out, staging=staging)  # a rerun of a finished run trains nothing
    assert curve.read_curve(out / "w2_d3_curve.csv") == rows and again["sha256"] == man["sha256"]
    assert load_checkpoint(cache / "w2_d3.pt")["done"]


def test_a_staged_run_continues_on_another_machine_where_it_stopped(tmp_path, monkeypatch):
    torch.set_num_threads(1)  # the zoo's schedule is 2 steps; the run is the schedule rule's next, on 4 (--iters)
    monkeypatch.setattr(ship, "model_spec", lambda name, profile: {**TINY, "iters": 2, "version": 2, "profile": profile})
    monkeypatch.setattr(ship, "provenance", lambda: {"commit": "0" * 40, "tree_clean": True})
    monkeypatch.setattr(ship, "_PART", 30_000)  # several parts for a tiny checkpoint
    first, staging = tmp_path / "first" / "w2_d3.pt", tmp_path / "staging"
    train_gan(TINY, first, device="cpu", progress_bar=False, max_steps=2)  # the first machine stops at step 2
    curve.append_curve(curve.curve_path(first), {"iteration": 2, "wall_time_s": 1.0, "frechet": 50.0,
                                                 "confident_share": 0.5})
    ship.stage(first, staging)
    parts = sorted(p.name for p in staging.iterdir() if ".part" in p.name)
    assert len(parts) == -(-first.stat().st_size // 30_000) > 1
    assert all((staging / p).stat().st_size <= 30_000 for p in parts)
    # another machine: an empty cache, the same command
    out = tmp_path / "shipped"
    man = ship.train_reference("w2_d3", str(tmp_path / "second"), folder=out, staging=staging, schedule={"iters": 4})
    assert "--iters 4" in man["command"] and man["spec"]["iters"] == 4
    rows = curve.read_curve(out / "w2_d3_curve.csv")
    assert [r["iteration"] for r in rows] == [2, 4] and rows[0]["frechet"] == 50.0  # the staged curve, continued
    whole = train_gan(TINY, tmp_path / "whole.pt", device="cpu", progress_bar=False)
    shipped = torch.load(out / "w2_d3.pt", weights_only=True)
    assert all(torch.equal(shipped[k], whole["G_ema"][k]) for k in shipped) and man["iterations"] == 4
    assert not any(staging.iterdir())  # the export cleared the staged run
    # a damaged part is an error that names the file, not a silent restart
    ship.stage(first, staging)
    (staging / parts[-1]).write_bytes(b"")
    with pytest.raises(CheckpointError, match="w2_d3.pt"):
        ship.unstage(tmp_path / "third" / "w2_d3.pt", staging)


def test_a_schedule_other_than_the_zoos_is_checked_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"iters and lr only.*'r1'"):
        ship.train_reference("w8_d16", str(tmp_path), folder=tmp_path, staging=tmp_path, schedule={"r1": 0.0})
    with pytest.raises(ValueError, match="lr"):
        ship.train_reference("w8_d16", str(tmp_path), folder=tmp_path, staging=tmp_path, schedule={"lr": -1.0})
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written
