"""The one definition of the training knobs: defaults, checks, flags, keys and the manifests' commands."""
import argparse
import shlex

import pytest

from sbp.experiments.gan import config, reference, zoo
from sbp.experiments.gan.config import (CACHE_KEYS, DEFAULTS, TRAINING_KEYS, TrainConfig, add_flags, from_flags,
                                        full_spec, train_command)


def _parse(argv: list[str]) -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("ckpt")
    p.add_argument("--device")
    add_flags(p)
    a = p.parse_args(argv)
    return from_flags(a, name="x")


def test_keys_and_defaults_come_from_the_fields():
    names = [f.name for f in config.fields(TrainConfig)]
    assert list(DEFAULTS) == names[1:]  # every knob but the run's name
    assert "lr" in TRAINING_KEYS and "r1" in TRAINING_KEYS and "ckpt_every" not in TRAINING_KEYS
    assert "iters" not in TRAINING_KEYS and CACHE_KEYS == TRAINING_KEYS + ("iters",)
    assert DEFAULTS["lr"] == 1e-4 and DEFAULTS["optimizer"] == "rmsprop"


@pytest.mark.parametrize("name", [s["name"] for s in zoo.model_specs("reference")] + ["w8_d16"])
def test_the_command_round_trips_every_zoo_spec(name):
    spec = zoo.model_spec(name, "reference")
    cmd = train_command(spec, "build/x.pt", "cpu")
    assert cmd[:6] == ["python", "-m", "sbp.experiments.gan.train", "build/x.pt", "--device", "cpu"]
    back = _parse(cmd[3:])
    full = full_spec(spec)
    assert {k: back[k] for k in DEFAULTS} == {k: full[k] for k in DEFAULTS}


@pytest.mark.parametrize("name", [s["name"] for s in zoo.model_specs("reference")])
def test_every_shipped_manifest_command_gives_its_recorded_spec(name):
    man = reference.manifest(name)
    back = _parse(shlex.split(man["command"])[3:])
    assert {k: back[k] for k in DEFAULTS} == {k: man["spec"].get(k, DEFAULTS[k]) for k in DEFAULTS}


def test_bad_values_and_unknown_keys_name_the_knob():
    base = {"latent_dim": 4, "width": 2, "resolution": 32, "iters": 3}
    with pytest.raises(ValueError, match=r"spec\['width'\] must be a positive int"):
        full_spec({**base, "width": 0})
    with pytest.raises(ValueError, match=r"spec\['resolution'\] must be one of \(32, 64\)"):
        full_spec({**base, "resolution": 48})
    with pytest.raises(ValueError, match=r"spec\['lr_final'\].*\[0, lr\]"):
        full_spec({**base, "lr": 1e-3, "lr_final": 1e-2})
    with pytest.raises(ValueError, match=r"spec\['ema'\] must be in \[0, 1\)"):
        full_spec({**base, "ema": 1.0})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['learning_rate'\]"):
        full_spec({**base, "learning_rate": 1e-3})
    with pytest.raises(ValueError, match="lacks required"):
        full_spec({"width": 2})
    assert full_spec({**base, "version": 2, "profile": "quick"})["version"] == 2  # the zoo's bookkeeping


def test_a_default_is_left_out_of_the_command_and_a_change_is_in():
    spec = {"latent_dim": 4, "width": 2, "resolution": 32, "iters": 3}
    assert "--lr" not in train_command(spec, "x.pt")
    cmd = train_command({**spec, "lr": 2e-3, "optimizer": "adam"}, "x.pt", "cuda")
    assert cmd[cmd.index("--lr") + 1] == "0.002" and cmd[cmd.index("--optimizer") + 1] == "adam"
    assert cmd[cmd.index("--device") + 1] == "cuda"
