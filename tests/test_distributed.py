"""Data-parallel training under torchrun (Gloo on CPU, two processes)."""
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from sbp.experiments.gan import distributed
from sbp.experiments.gan.train import load_checkpoint, train_gan

SPEC = ["--latent-dim", "4", "--width", "4", "--resolution", "32", "--iters", "6", "--ckpt-every", "3",
        "--batch-size", "4"]


def torchrun(ckpt, *extra, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SBP_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "sbp.experiments.gan.train", str(ckpt), *SPEC, *extra]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r


def test_from_env_reads_the_torchrun_layout(monkeypatch):
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert distributed.from_env() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.from_env() is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert distributed.from_env() == distributed.DistInfo(rank=2, local_rank=0, world_size=4)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK=4"):
        distributed.from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="integers"):
        distributed.from_env()


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no Gloo backend")
def test_torchrun_training_checkpoints_every_rank_and_resumes_exactly(tmp_path):
    straight, interrupted = tmp_path / "straight.pt", tmp_path / "interrupted.pt"
    torchrun(straight)
    torchrun(interrupted, "--max-steps", "3")
    assert load_checkpoint(interrupted)["iteration"] == 3
    torchrun(interrupted)  # resumes at iteration 3
    a, b = load_checkpoint(straight), load_checkpoint(interrupted)
    assert a["iteration"] == b["iteration"] == 6 and len(a["rng_ranks"]) == 2
    for k in a["G"]:
        assert torch.equal(a["G"][k], b["G"][k]), k
    assert a["log"] == b["log"]
    # the two ranks drew different noise, so their RNG states differ
    assert not torch.equal(a["rng_ranks"][0][0], a["rng_ranks"][1][0])
    # both ranks' batches entered the update: a single process with rank 0's data ends elsewhere
    single = train_gan({"latent_dim": 4, "width": 4, "resolution": 32, "iters": 6, "ckpt_every": 3,
                        "batch_size": 4}, tmp_path / "single.pt", device="cpu", progress_bar=False)
    assert any(not torch.equal(a["G"][k], single["G"][k]) for k in a["G"])
    # a checkpoint of 2 processes cannot silently resume in 1
    spec = {"latent_dim": 4, "width": 4, "resolution": 32, "iters": 9, "ckpt_every": 3, "batch_size": 4}
    with pytest.raises(ValueError, match="same number"):
        train_gan(spec, straight, device="cpu", progress_bar=False)
