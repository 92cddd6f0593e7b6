"""Resumable DCGAN training (Section 4): RMSProp, batch 32, atomic checkpoints.

``train_gan(spec, ckpt_path)`` trains the generator and discriminator of
``sbp.models.dcgan`` with the non-saturating GAN loss. With ``spec["ema"] > 0`` an
exponential moving average of the generator's weights, ``G_ema <- ema G_ema + (1 - ema) G``
after every generator step, is kept and is what ``load_generator`` returns (a standard
smoother of GAN training noise; our addition, not the paper's). A checkpoint (models, EMA, optimizers,
the noise and data RNG state, the iteration and the loss log) is written atomically
(temporary file + rename) every ``ckpt_every`` iterations and at the end; calling
``train_gan`` again with the same path resumes exactly where the last checkpoint stopped,
giving bit-identical parameters to an uninterrupted run (on the same device).

Data: ``data=None`` draws a fresh batch of the generated shapes data set every iteration
(``make_shapes`` seeded by the run seed and the iteration, so resuming needs no data
state); a ``ShapesData``, an (N, 3, R, R) tensor or an ``ImageFolder`` are sampled by
index with a seeded generator whose state is checkpointed.

Command line: ``python -m sbp.experiments.gan.train --help``. Several GPUs (or CPU processes): launch the same
command with ``torchrun --nproc_per_node=N -m sbp.experiments.gan.train ...``: every process trains a
``DistributedDataParallel`` replica on its own batches (``batch_size`` per process, so the
effective batch is N x batch_size), rank 0 writes the checkpoint, which holds every rank's
RNG state, so a distributed run resumes exactly too (with the same N). See ``sbp.experiments.gan.distributed``.
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import os
import sys
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from sbp.experiments.gan import distributed
from sbp.data.folder import ImageFolder
from sbp.data.shapes import ShapesData, make_shapes
from sbp.infra.checkpoint import CheckpointError, load_checkpoint, resume_checkpoint, save_checkpoint, spec_mismatch
from sbp.infra.io import atomic_write_bytes
from sbp.infra.progress import progress
from sbp.infra.training import cosine_lr, cpu_threads
from sbp.models.dcgan import ACTIVATIONS, Discriminator, Generator

__all__ = ["train_gan", "load_generator", "load_checkpoint", "DEFAULTS", "TRAINING_KEYS", "default_device"]

# Xiang & Li (2017) recipe, which the paper cites: RMSProp, decay 0.9, step ~1e-4, batch 32.
DEFAULTS: dict[str, Any] = {"latent_dim": 128, "width": 64, "resolution": 64, "iters": 100_000, "seed": 0,
                            "lr": 1e-4, "decay": 0.9, "batch_size": 32, "ckpt_every": 500, "log_every": 10,
                            "cpu_threads": 1, "ema": 0.0, "activation": "lrelu", "optimizer": "rmsprop",
                            "beta1": 0.5, "lr_final": None, "r1": 0.0}
# Keys that decide the trained weights: a checkpoint resumes only under the same values.
TRAINING_KEYS = ("latent_dim", "width", "resolution", "seed", "lr", "decay", "batch_size", "ema", "activation",
                 "optimizer", "beta1", "lr_final", "r1")
_REQUIRED = ("latent_dim", "width", "resolution", "iters")
LOG_COLUMNS = ("iteration", "loss_d", "loss_g", "d_real", "d_fake")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _full_spec(spec: dict) -> dict:
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict, got {type(spec).__name__}")
    missing = [k for k in _REQUIRED if k not in spec]
    if missing:
        raise ValueError(f"spec lacks required key(s) {missing}")
    full = {**DEFAULTS, **spec}
    for k in ("latent_dim", "width", "resolution", "iters", "batch_size", "ckpt_every", "log_every", "cpu_threads"):
        if not isinstance(full[k], int) or isinstance(full[k], bool) or full[k] < 1:
            raise ValueError(f"spec[{k!r}] must be a positive int, got {full[k]!r}")
    if not (float(full["lr"]) > 0 and 0 < float(full["decay"]) < 1):
        raise ValueError(f"spec needs lr > 0 and 0 < decay < 1, got lr={full['lr']!r}, decay={full['decay']!r}")
    if not 0 <= float(full["ema"]) < 1:
        raise ValueError(f"spec['ema'] must be in [0, 1) (0: no weight average), got {full['ema']!r}")
    if full["activation"] not in ACTIVATIONS:
        raise ValueError(f"spec['activation'] must be one of {ACTIVATIONS}, got {full['activation']!r}")
    if full["optimizer"] not in ("rmsprop", "adam") or not 0 <= float(full["beta1"]) < 1:
        raise ValueError(f"spec needs optimizer 'rmsprop' or 'adam' and 0 <= beta1 < 1, got "
                         f"{full['optimizer']!r}, {full['beta1']!r}")
    if full["lr_final"] is not None and not 0 <= float(full["lr_final"]) <= float(full["lr"]):
        raise ValueError(f"spec['lr_final'] must be None (constant step size) or in [0, lr], got {full['lr_final']!r}")
    if not float(full["r1"]) >= 0:
        raise ValueError(f"spec['r1'] (R1 penalty weight) must be >= 0, got {full['r1']!r}")
    return full


def _build(spec: dict, device: torch.device):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec["seed"]))
        G = Generator(spec["latent_dim"], spec["width"], spec["resolution"], spec["activation"])
        D = Discriminator(spec["width"], spec["resolution"])
    G, D = G.to(device), D.to(device)
    if spec["optimizer"] == "adam":  # ours: DCGAN's Adam (beta2 = decay), not the paper's RMSProp
        opt = lambda m: torch.optim.Adam(m.parameters(), lr=float(spec["lr"]),  # noqa: E731
                                         betas=(float(spec["beta1"]), float(spec["decay"])))
    else:
        opt = lambda m: torch.optim.RMSprop(m.parameters(), lr=float(spec["lr"]), alpha=float(spec["decay"]))  # noqa: E731
    return G, D, opt(G), opt(D)


def _sampler(data, spec: dict, device: torch.device, rank: int = 0, world: int = 1
             ) -> Callable[[int, torch.Generator], torch.Tensor]:
    R, B = spec["resolution"], spec["batch_size"]
    if data is None:
        base = int(spec["seed"]) * 1_000_003 + 7919

        def draw(it: int, g: torch.Generator) -> torch.Tensor:  # distinct batches on every rank
            return make_shapes(B, R, seed=base + it * world + rank).images.to(device)
        return draw
    if isinstance(data, ShapesData):
        data = data.images
    if isinstance(data, torch.Tensor):
        if data.ndim != 4 or tuple(data.shape[1:]) != (3, R, R):
            raise ValueError(f"data must have shape (N, 3, {R}, {R}), got {tuple(data.shape)}")
        imgs = data

        def draw(it: int, g: torch.Generator) -> torch.Tensor:
            return imgs[torch.randint(imgs.shape[0], (B,), generator=g)].to(device)
        return draw
    if isinstance(data, ImageFolder):
        if data.resolution != R:
            raise ValueError(f"ImageFolder resolution {data.resolution} differs from spec resolution {R}")

        def draw(it: int, g: torch.Generator) -> torch.Tensor:
            return data.batch(torch.randint(len(data), (B,), generator=g).tolist()).to(device)
        return draw
    raise TypeError(f"data must be None, ShapesData, a tensor or an ImageFolder, got {type(data).__name__}")


def _write_log(path: Path, rows: list[list[float]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LOG_COLUMNS)
    for r in rows:
        w.writerow([int(r[0])] + [f"{v:.6g}" for v in r[1:]])
    atomic_write_bytes(path, buf.getvalue().encode())


def train_gan(spec: dict, ckpt_path: str | os.PathLike, *, data=None, device: str | torch.device | None = None,
              max_steps: int | None = None, callback: Callable[[int, dict], None] | None = None,
              progress_bar: bool | None = None, log_path: str | os.PathLike | None = None,
              dist_info: distributed.DistInfo | None = None) -> dict:
    """Train (or resume) a DCGAN described by ``spec``; return the final checkpoint dict.

    ``spec``: latent_dim, width, resolution, iters (required); seed, lr, decay, batch_size,
    ckpt_every, log_every, cpu_threads, ema (defaults in ``DEFAULTS``; see ``cpu_threads``).
    ``max_steps`` stops after that many iterations in this call (checkpointing first), as an
    interruption would. ``callback(it, losses)`` runs after every iteration. The loss log
    goes to ``log_path`` (default: the checkpoint path with suffix ``.csv``). ``dist_info``
    (``sbp.experiments.gan.distributed.from_env()`` under torchrun, after ``sbp.experiments.gan.distributed.setup``):
    data-parallel training, see the module docstring; the logged losses are then averaged
    over the processes.
    """
    spec = _full_spec(spec)
    device = torch.device(device) if device is not None else default_device()
    with cpu_threads(spec["cpu_threads"] if device.type == "cpu" else None):
        return _train(spec, ckpt_path, data, device, max_steps, callback, progress_bar, log_path, dist_info)


def _train(spec, ckpt_path, data, device, max_steps, callback, progress_bar, log_path, info=None) -> dict:
    rank, world = (info.rank, info.world_size) if info is not None else (0, 1)
    ckpt_path = Path(ckpt_path)
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path is not None else ckpt_path.with_suffix(".csv")
    G, D, opt_g, opt_d = _build(spec, device)
    ema = float(spec["ema"])
    G_ema = copy.deepcopy(G).requires_grad_(False) if ema > 0 else None
    g_noise = torch.Generator(device=device).manual_seed(int(spec["seed"]) + 1 + 7919 * rank)
    g_data = torch.Generator().manual_seed(int(spec["seed"]) + 2 + 7919 * rank)
    start, log = 0, []
    acc, n_acc = torch.zeros(4, dtype=torch.float64), [0]  # losses summed since the last log row
    def same_spec(ck: dict) -> None:
        diff = spec_mismatch(ck["spec"], spec, TRAINING_KEYS, DEFAULTS)
        if diff:
            raise ValueError(f"checkpoint {str(ckpt_path)!r} was written for a different spec "
                             f"(key: (checkpoint, requested)): {diff}")

    ck = resume_checkpoint(ckpt_path, same_spec)
    if ck is not None:
        G.load_state_dict(ck["G"])
        if G_ema is not None:
            G_ema.load_state_dict(ck["G_ema"])
        D.load_state_dict(ck["D"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        ranks = ck.get("rng_ranks", [(ck["rng_noise"], ck["rng_data"])])
        if len(ranks) != world:
            raise ValueError(f"checkpoint {str(ckpt_path)!r} was written by {len(ranks)} process(es); "
                             f"resume it with the same number (got {world})")
        g_noise.set_state(ranks[rank][0])
        g_data.set_state(ranks[rank][1])
        start, log = int(ck["iteration"]), list(ck["log"])
        if "log_acc" in ck:
            acc += torch.tensor(ck["log_acc"][0], dtype=torch.float64)
            n_acc[0] = int(ck["log_acc"][1])
    draw = _sampler(data, spec, device, rank, world)
    Gw, Dw = distributed.wrap(G, info, device), distributed.wrap(D, info, device)

    def state(it: int) -> dict:
        cpu = lambda sd: {k: v.detach().cpu().clone() for k, v in sd.items()}  # noqa: E731
        ranks = distributed.gather((g_noise.get_state().cpu(), g_data.get_state()), info)
        extra = {} if G_ema is None else {"G_ema": cpu(G_ema.state_dict())}
        st = {"spec": spec, "iteration": it, "G": cpu(G.state_dict()), "D": cpu(D.state_dict()), **extra,
              "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng_noise": ranks[0][0],
              "rng_data": ranks[0][1], "log": log, "log_acc": (acc.tolist(), n_acc[0]),
              "done": it >= spec["iters"]}
        if info is not None:
            st["rng_ranks"] = ranks
        return st

    def checkpoint(it: int) -> dict:
        st = state(it)
        if rank == 0:
            save_checkpoint(ckpt_path, st)
            _write_log(log_path, log)
        distributed.barrier(info)
        return st

    end = spec["iters"] if max_steps is None else min(spec["iters"], start + int(max_steps))
    if start >= end:
        return state(start) if start < spec["iters"] else load_checkpoint(ckpt_path)
    G.train(), D.train()
    bar = progress(range(start, end), enabled=progress_bar if rank == 0 else False, desc=spec.get("name", "gan"),
                   initial=start,
                   total=spec["iters"], leave=False)
    r1 = float(spec["r1"])
    for it in bar:
        if spec["lr_final"] is not None:
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = cosine_lr(it, spec["iters"], float(spec["lr"]), float(spec["lr_final"]))
        real = draw(it, g_data)
        z = torch.randn(real.shape[0], spec["latent_dim"], generator=g_noise, device=device)
        fake = Gw(z)
        if r1 > 0:
            real = real.detach().requires_grad_(True)
        d_real, d_fake = Dw(real), Dw(fake.detach())
        loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        if r1 > 0:  # ours: R1 penalty (Mescheder et al. 2018), r1/2 E ||grad_x D(x_real)||^2
            grad, = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            loss_d = loss_d + 0.5 * r1 * grad.pow(2).flatten(1).sum(1).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-Dw(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if G_ema is not None:
            with torch.no_grad():
                for pe, p in zip(G_ema.parameters(), G.parameters()):
                    pe.lerp_(p, 1.0 - ema)
        vals = torch.stack([loss_d.detach(), loss_g.detach(), d_real.detach().mean(), d_fake.detach().mean()])
        if info is not None:
            torch.distributed.all_reduce(vals)
            vals = vals / world
        acc += vals.double().cpu()
        n_acc[0] += 1
        done = it + 1
        if done % spec["log_every"] == 0 or done == spec["iters"]:
            log.append([done] + (acc / n_acc[0]).tolist())
            acc.zero_()
            n_acc[0] = 0
        if callback is not None:
            callback(done, {"loss_d": float(vals[0]), "loss_g": float(vals[1])})
        if done % spec["ckpt_every"] == 0 or done == end:
            last = checkpoint(done)
    bar.close()
    return last


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """The generator of a ``train_gan`` checkpoint (its weight average when trained with ``ema``), eval mode."""
    ck = load_checkpoint(path)
    spec = ck["spec"]
    G = Generator(spec["latent_dim"], spec["width"], spec["resolution"], spec.get("activation", "lrelu"))
    G.load_state_dict(ck.get("G_ema", ck["G"]))
    return G.to(device).eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sbp.experiments.gan.train", description="Train (or resume) a DCGAN of Section 4.")
    p.add_argument("ckpt", help="checkpoint path (resumed when it exists); the loss log is written next to it")
    p.add_argument("--latent-dim", type=int, default=DEFAULTS["latent_dim"])
    p.add_argument("--width", type=int, default=DEFAULTS["width"])
    p.add_argument("--resolution", type=int, default=DEFAULTS["resolution"], choices=[32, 64])
    p.add_argument("--iters", type=int, default=DEFAULTS["iters"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--decay", type=float, default=DEFAULTS["decay"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--ckpt-every", type=int, default=DEFAULTS["ckpt_every"])
    p.add_argument("--ema", type=float, default=DEFAULTS["ema"], help="generator weight average decay (0: none)")
    p.add_argument("--activation", default=DEFAULTS["activation"], choices=list(ACTIVATIONS))
    p.add_argument("--optimizer", default=DEFAULTS["optimizer"], choices=["rmsprop", "adam"])
    p.add_argument("--beta1", type=float, default=DEFAULTS["beta1"], help="Adam's beta1 (beta2 is --decay)")
    p.add_argument("--lr-final", type=float, default=None, help="cosine decay of the step size to this value")
    p.add_argument("--r1", type=float, default=DEFAULTS["r1"], help="R1 penalty weight on real data (0: none)")
    p.add_argument("--data", default=None, help="image folder (CelebA, LSUN Bedroom export); default: generated shapes")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--max-steps", type=int, default=None, help="stop (checkpointed) after this many iterations")
    a = p.parse_args(argv)
    spec = {"name": Path(a.ckpt).stem, "latent_dim": a.latent_dim, "width": a.width, "resolution": a.resolution,
            "iters": a.iters, "seed": a.seed, "lr": a.lr, "decay": a.decay, "batch_size": a.batch_size,
            "ckpt_every": a.ckpt_every, "ema": a.ema, "activation": a.activation, "optimizer": a.optimizer,
            "beta1": a.beta1, "lr_final": a.lr_final, "r1": a.r1}
    data = ImageFolder(a.data, a.resolution) if a.data else None
    info = distributed.from_env()  # set by torchrun
    device = distributed.setup(info, a.device) if info is not None else a.device
    try:
        ck = train_gan(spec, a.ckpt, data=data, device=device, dist_info=info, max_steps=a.max_steps)
    except (CheckpointError, ValueError) as exc:  # a damaged checkpoint or another spec: say so, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        distributed.teardown()
    last = ck["log"][-1] if ck["log"] else None
    if info is None or info.rank == 0:
        print(f"iteration {ck['iteration']} of {spec['iters']}; last losses (D, G): "
              f"{'n/a' if last is None else f'{last[1]:.4f}, {last[2]:.4f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
