"""The one definition of a DCGAN training run's knobs (Section 4): defaults, checks, flags, keys.

Every knob is one field of ``TrainConfig``; its metadata say what the knob means (``help``),
whether it decides the trained weights (``weights``: a checkpoint resumes only under the same
values, and the zoo's cache key holds it) and whether it is a command-line flag. From the
fields come ``DEFAULTS``, ``TRAINING_KEYS``, ``CACHE_KEYS``, the flags of
``python -m sbp.experiments.gan.train`` (``add_flags`` / ``from_flags``) and the command that
a manifest records (``train_command``), so a new knob is written in one place.

Specs travel as plain dicts (checkpoints, manifests, the zoo, the notebooks' ``nb.specs``):
``full_spec(spec)`` checks one and fills in the defaults. Defaults follow the Xiang & Li (2017)
recipe that the paper cites (RMSProp, decay 0.9, step 1e-4, batch 32); ``ema``, ``lr_final``
(cosine decay), ``r1`` and the Adam option are ours.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from sbp.models.dcgan import ACTIVATIONS

__all__ = ["TrainConfig", "DEFAULTS", "TRAINING_KEYS", "CACHE_KEYS", "REQUIRED", "full_spec", "add_flags",
           "from_flags", "train_command"]


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _knob(default: Any, help: str, check: Callable[[Any], bool] | None = None, rule: str = "", *,
          weights: bool = True, flag: bool = True, required: bool = False, choices: tuple | None = None):
    if choices is not None:
        check, rule = (lambda v: v in choices), f"one of {choices}"
    meta = {"help": help, "check": check, "rule": rule, "weights": weights, "flag": flag, "required": required,
            "choices": choices}
    return field(default=default, metadata=meta)


_POS_INT = (_positive_int, "a positive int")


@dataclass(frozen=True)
class TrainConfig:
    """A DCGAN training run; ``TrainConfig(**full_spec(spec))``. Field order is the flags' order."""

    name: str | None = _knob(None, "run name (the checkpoint's stem)", weights=False, flag=False)
    latent_dim: int = _knob(128, "latent size d", *_POS_INT, required=True)
    width: int = _knob(64, "base channel width of G and D", *_POS_INT, required=True)
    resolution: int = _knob(64, "image side in pixels", required=True, choices=(32, 64))
    iters: int = _knob(100_000, "iterations (the cosine schedule spans them)", *_POS_INT, weights=False,
                       required=True)
    seed: int = _knob(0, "seed of the initialization, noise and data draws",
                      lambda v: isinstance(v, int) and not isinstance(v, bool), "an int")
    lr: float = _knob(1e-4, "step size", lambda v: float(v) > 0, "> 0")
    decay: float = _knob(0.9, "RMSProp's alpha (Adam's beta2)", lambda v: 0 < float(v) < 1, "in (0, 1)")
    batch_size: int = _knob(32, "batch size (per process)", *_POS_INT)
    ckpt_every: int = _knob(500, "iterations between checkpoints", *_POS_INT, weights=False)
    ema: float = _knob(0.0, "generator weight average decay (0: none)", lambda v: 0 <= float(v) < 1,
                       "in [0, 1) (0: no weight average)")
    activation: str = _knob("lrelu", "generator activation", choices=tuple(ACTIVATIONS))
    optimizer: str = _knob("rmsprop", "optimizer of G and D", choices=("rmsprop", "adam"))
    beta1: float = _knob(0.5, "Adam's beta1 (beta2 is --decay)", lambda v: 0 <= float(v) < 1, "in [0, 1)")
    lr_final: float | None = _knob(None, "cosine decay of the step size to this value (default: constant)",
                                   lambda v: v is None or float(v) >= 0, "None or >= 0")
    r1: float = _knob(0.0, "R1 penalty weight on real data (0: none)", lambda v: float(v) >= 0, ">= 0")
    log_every: int = _knob(10, "iterations per loss-log row", *_POS_INT, weights=False)
    cpu_threads: int = _knob(1, "torch threads on a CPU (1: the same bits whatever the caller set)",
                             *_POS_INT, weights=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            v, check = getattr(self, f.name), f.metadata["check"]
            if check is not None and not _holds(check, v):
                raise ValueError(f"spec[{f.name!r}] must be {f.metadata['rule']}, got {v!r}")
        if self.lr_final is not None and float(self.lr_final) > float(self.lr):
            raise ValueError(f"spec['lr_final'] must be None (constant step size) or in [0, lr], got {self.lr_final!r}")


def _holds(check: Callable[[Any], bool], v: Any) -> bool:
    try:
        return bool(check(v))
    except (TypeError, ValueError):
        return False


_FIELDS = fields(TrainConfig)
DEFAULTS: dict[str, Any] = {f.name: f.default for f in _FIELDS if f.name != "name"}
# Keys that decide the trained weights: a checkpoint resumes only under the same values.
TRAINING_KEYS = tuple(f.name for f in _FIELDS if f.metadata["weights"])
# Keys under which a cached or shipped model counts as the same one (the schedule's length too).
CACHE_KEYS = TRAINING_KEYS + ("iters",)
REQUIRED = tuple(f.name for f in _FIELDS if f.metadata["required"])


def full_spec(spec: dict, bookkeeping: tuple[str, ...] = ("version", "profile")) -> dict:
    """``spec`` checked and completed with ``DEFAULTS`` (a plain dict, as checkpoints store it).

    ``bookkeeping``: keys a zoo adds to its specs (not knobs), passed through unchecked; any
    other unknown key is an error, so a misspelt knob never trains silently with its default.
    """
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict, got {type(spec).__name__}")
    missing = [k for k in REQUIRED if k not in spec]
    if missing:
        raise ValueError(f"spec lacks required key(s) {missing}")
    known = {f.name for f in _FIELDS}
    unknown = sorted(k for k in spec if k not in known and k not in bookkeeping)
    if unknown:
        raise ValueError(f"spec has unknown key(s) {unknown}; the knobs are {sorted(known)}")
    TrainConfig(**{k: v for k, v in spec.items() if k in known})
    return {**DEFAULTS, **spec}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per knob of ``TrainConfig`` (``--latent-dim``, ...), defaults and help from its field."""
    for f in _FIELDS:
        if not f.metadata["flag"]:
            continue
        kind = float if f.name == "lr_final" else type(f.default)
        parser.add_argument(_flag(f.name), type=kind, default=f.default, help=f.metadata["help"],
                            choices=list(f.metadata["choices"]) if f.metadata["choices"] else None)


def from_flags(args: argparse.Namespace, name: str | None = None) -> dict:
    """The spec of parsed ``add_flags`` arguments (with ``name``), checked."""
    spec = {"name": name, **{f.name: getattr(args, f.name) for f in _FIELDS if f.metadata["flag"]}}
    return full_spec(spec)


def train_command(spec: dict, ckpt: str, device: str = "cpu") -> list[str]:
    """The argv of ``python -m sbp.experiments.gan.train`` that trains ``spec`` into ``ckpt`` on ``device``:
    a flag for every knob whose value differs from its default, in the fields' order."""
    spec = full_spec(spec)
    cmd = ["python", "-m", "sbp.experiments.gan.train", str(ckpt), "--device", str(device)]
    for f in _FIELDS:
        if f.metadata["flag"] and spec[f.name] is not None and spec[f.name] != f.default:
            cmd += [_flag(f.name), str(spec[f.name])]
    return cmd
