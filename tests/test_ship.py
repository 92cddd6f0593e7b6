"""Training and export of the reference zoo: chunked training with a quality curve, resumable, exported."""
import json

import torch

from sbp.experiments.gan import curve, ship
from sbp.experiments.gan.train import load_checkpoint, train_gan

TINY = {"name": "w2_d3", "latent_dim": 3, "width": 2, "resolution": 32, "iters": 4, "seed": 0, "lr": 1e-3,
        "batch_size": 4, "ckpt_every": 2, "ema": 0.5}


def test_train_reference_measures_every_checkpoint_resumes_and_exports(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(ship, "model_spec", lambda name, profile: {**TINY, "version": 2, "profile": profile})
    monkeypatch.setattr(ship, "provenance", lambda: {"commit": "0" * 40, "tree_clean": True})
    out, cache = tmp_path / "shipped", tmp_path / "cache"
    man = ship.train_reference("w2_d3", str(cache), folder=out)
    rows = curve.read_curve(out / "w2_d3_curve.csv")
    assert [r["iteration"] for r in rows] == [2, 4] and rows[0]["wall_time_s"] < rows[1]["wall_time_s"]
    assert man["iterations"] == 4 and man["device"] == "cpu" and man["frechet"] == round(rows[-1]["frechet"], 3)
    assert man["command"].startswith("python -m sbp.experiments.gan.train ") and "--ckpt-every 2" in man["command"]
    assert json.loads((out / "w2_d3.json").read_text())["confident_share"] == rows[-1]["confident_share"]
    assert man["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and man["cpu"]  # the kernels it ran on
    whole = train_gan(TINY, tmp_path / "whole.pt", device="cpu", progress_bar=False)
    shipped = torch.load(out / "w2_d3.pt", weights_only=True)
    assert all(torch.equal(shipped[k], whole["G_ema"][k]) for k in shipped)  # the chunks = one uninterrupted run
    again = ship.train_reference("w2_d3", str(cache), folder=out)  # a rerun of a finished run trains nothing
    assert curve.read_curve(out / "w2_d3_curve.csv") == rows and again["sha256"] == man["sha256"]
    assert load_checkpoint(cache / "w2_d3.pt")["done"]
