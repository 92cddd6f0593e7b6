import subprocess
import sys

import pytest
import torch

from sbp.experiments.gan.train import train_gan
from sbp.infra.checkpoint import (CheckpointError, load_checkpoint, previous_path, remove_checkpoint, resume_checkpoint,
                                  save_checkpoint, spec_mismatch)

SPEC = {"name": "tiny", "latent_dim": 4, "width": 2, "resolution": 32, "iters": 8, "seed": 3, "lr": 1e-3,
        "batch_size": 4, "ckpt_every": 2, "log_every": 1}


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_save_keeps_the_previous_checkpoint(tmp_path):
    p = tmp_path / "ck.pt"
    save_checkpoint(p, {"iteration": 1})
    assert not previous_path(p).exists()
    save_checkpoint(p, {"iteration": 2})
    assert load_checkpoint(p)["iteration"] == 2 and load_checkpoint(previous_path(p))["iteration"] == 1
    assert sorted(x.name for x in tmp_path.iterdir()) == ["ck.pt", "ck.pt.prev"]  # no temporary files left
    remove_checkpoint(p)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_file_is_named_in_a_clear_error(tmp_path, damage):
    p = tmp_path / "ck.pt"
    save_checkpoint(p, {"iteration": 1, "x": torch.arange(1000)})
    if damage == "truncated":
        _truncate(p)
    else:
        p.write_bytes(b"" if damage == "empty" else b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="ck.pt.*truncated or corrupt"):
        load_checkpoint(p)
    with pytest.raises(CheckpointError, match="ck.pt"):  # no previous one to fall back to
        resume_checkpoint(p)


def test_resume_falls_back_to_the_previous_checkpoint(tmp_path):
    p = tmp_path / "ck.pt"
    save_checkpoint(p, {"iteration": 1})
    save_checkpoint(p, {"iteration": 2, "x": torch.arange(1000)})
    _truncate(p)
    with pytest.warns(RuntimeWarning, match="ck.pt.*previous checkpoint"):
        assert resume_checkpoint(p)["iteration"] == 1
    _truncate(previous_path(p), 0.0)
    with pytest.raises(CheckpointError, match="previous one"):
        resume_checkpoint(p)
    assert resume_checkpoint(tmp_path / "absent.pt") is None


def test_resume_runs_the_check(tmp_path):
    p = tmp_path / "ck.pt"
    save_checkpoint(p, {"iteration": 1})

    def check(state):
        raise ValueError(f"other spec at iteration {state['iteration']}")

    with pytest.raises(ValueError, match="other spec at iteration 1"):
        resume_checkpoint(p, check)


def test_spec_mismatch_reads_absent_keys_as_defaults():
    assert spec_mismatch({"a": 1}, {"a": 1, "b": 2}, ("a", "b"), {"b": 2}) == {}
    assert spec_mismatch({"a": 1}, {"a": 1, "b": 3}, ("a", "b"), {"b": 2}) == {"b": (2, 3)}


def test_gan_training_loses_at_most_one_interval_to_a_damaged_checkpoint(tmp_path):
    torch.set_num_threads(1)
    full = train_gan(SPEC, tmp_path / "full.pt", device="cpu", progress_bar=False)
    ck = tmp_path / "a.pt"
    train_gan(SPEC, ck, device="cpu", progress_bar=False, max_steps=5)  # checkpoints at 2, 4, 5
    _truncate(ck)  # the step-5 checkpoint is damaged: resume from step 4
    with pytest.warns(RuntimeWarning, match="previous checkpoint.*iteration 4"):
        resumed = train_gan(SPEC, ck, device="cpu", progress_bar=False)
    assert resumed["iteration"] == 8
    assert all(torch.equal(resumed["G"][k], full["G"][k]) for k in full["G"])


def test_train_command_names_a_damaged_checkpoint(tmp_path):
    ck = tmp_path / "g.pt"
    ck.write_bytes(b"PK\x03\x04 truncated zip")
    out = subprocess.run([sys.executable, "-m", "sbp.experiments.gan.train", str(ck), "--width", "2",
                          "--latent-dim", "4", "--resolution", "32", "--iters", "2"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "g.pt" in out.stderr and "truncated or corrupt" in out.stderr and "Traceback" not in out.stderr
