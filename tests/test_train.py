import csv
import subprocess
import sys

import pytest
import torch

from sbp.data.shapes import make_shapes
from sbp.experiments.gan.train import load_checkpoint, load_generator, train_gan

SPEC = {"name": "tiny", "latent_dim": 4, "width": 2, "resolution": 32, "iters": 6, "seed": 3, "lr": 1e-3,
        "batch_size": 4, "ckpt_every": 2, "log_every": 1}


def _params(ck):
    return {**{f"G.{k}": v for k, v in ck["G"].items()}, **{f"D.{k}": v for k, v in ck["D"].items()}}


def _same(a, b):
    pa, pb = _params(a), _params(b)
    return pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)


@pytest.mark.parametrize("data", ["stream", "tensor"])
def test_interrupted_run_resumes_bit_identically(tmp_path, data):
    torch.set_num_threads(1)
    spec = {**SPEC, "log_every": 4}  # log windows straddle the interruptions
    d = None if data == "stream" else make_shapes(40, 32, seed=1)
    full = train_gan(spec, tmp_path / "full.pt", data=d, device="cpu", progress_bar=False)
    assert full["iteration"] == 6 and full["done"]

    # interruption 1: stop after 3 steps (checkpoint written at the stop)
    part = train_gan(spec, tmp_path / "a.pt", data=d, device="cpu", progress_bar=False, max_steps=3)
    assert part["iteration"] == 3 and not part["done"]
    assert not _same(part, full)
    resumed = train_gan(spec, tmp_path / "a.pt", data=d, device="cpu", progress_bar=False)
    assert resumed["iteration"] == 6 and _same(resumed, full)
    assert resumed["log"] == full["log"]  # loss sums since the last log row are checkpointed too

    # interruption 2: a crash at step 5; the last checkpoint (step 4) is the resume point
    def crash(it, losses):
        if it == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_gan(spec, tmp_path / "b.pt", data=d, device="cpu", progress_bar=False, callback=crash)
    assert load_checkpoint(tmp_path / "b.pt")["iteration"] == 4
    resumed = train_gan(spec, tmp_path / "b.pt", data=d, device="cpu", progress_bar=False)
    assert _same(resumed, full)
    assert resumed["log"] == full["log"]
    with open(tmp_path / "b.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["iteration"]) for r in rows] == [4, 6]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_ema_resumes_bit_identically_and_is_what_load_generator_returns(tmp_path):
    torch.set_num_threads(1)
    spec = {**SPEC, "ema": 0.5}
    full = train_gan(spec, tmp_path / "full.pt", device="cpu", progress_bar=False)
    train_gan(spec, tmp_path / "a.pt", device="cpu", progress_bar=False, max_steps=3)
    resumed = train_gan(spec, tmp_path / "a.pt", device="cpu", progress_bar=False)
    assert resumed["G_ema"].keys() == full["G"].keys()
    assert all(torch.equal(resumed["G_ema"][k], full["G_ema"][k]) for k in full["G_ema"])
    assert not all(torch.equal(full["G_ema"][k], full["G"][k]) for k in full["G"])  # an average, not a copy
    G = load_generator(tmp_path / "full.pt")
    assert all(torch.equal(v, full["G_ema"][k]) for k, v in G.state_dict().items())
    plain = train_gan(SPEC, tmp_path / "plain.pt", device="cpu", progress_bar=False)
    assert "G_ema" not in plain and _same(plain, full)  # the average does not change training
    with pytest.raises(ValueError, match="different spec"):  # no resuming with another ema
        train_gan(spec, tmp_path / "plain.pt", device="cpu", progress_bar=False)
    with pytest.raises(ValueError, match="ema"):
        train_gan({**SPEC, "ema": 1.0}, tmp_path / "x.pt")


def test_load_generator_and_spec_mismatch(tmp_path):
    torch.set_num_threads(1)
    train_gan({**SPEC, "iters": 2}, tmp_path / "m.pt", device="cpu", progress_bar=False)
    G = load_generator(tmp_path / "m.pt")
    assert not G.training and G(torch.zeros(2, 4)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="different spec"):
        train_gan({**SPEC, "width": 3}, tmp_path / "m.pt", device="cpu", progress_bar=False)


def test_bad_specs(tmp_path):
    with pytest.raises(ValueError, match="lacks required"):
        train_gan({"width": 2}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="positive int"):
        train_gan({**SPEC, "iters": 0}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="spec must be a dict"):
        train_gan([1], tmp_path / "x.pt")
    with pytest.raises(ValueError, match="data must have shape"):
        train_gan(SPEC, tmp_path / "x.pt", data=torch.zeros(3, 3, 64, 64), device="cpu")
    with pytest.raises(FileNotFoundError):
        load_generator(tmp_path / "missing.pt")


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "sbp.experiments.gan.train", "--help"], capture_output=True, text=True, check=True)
    assert "--latent-dim" in out.stdout and "checkpoint" in out.stdout


def test_result_independent_of_caller_threads(tmp_path):
    spec = {**SPEC, "iters": 3}
    torch.set_num_threads(1)
    a = train_gan(spec, tmp_path / "t1.pt", device="cpu", progress_bar=False)
    torch.set_num_threads(2)
    try:
        b = train_gan(spec, tmp_path / "t2.pt", device="cpu", progress_bar=False)
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(1)
    assert _same(a, b)
