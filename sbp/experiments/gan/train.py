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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from sbp.experiments.gan import distributed
from sbp.experiments.gan.config import DEFAULTS, TRAINING_KEYS, add_flags, from_flags, full_spec
from sbp.data.folder import ImageFolder
from sbp.data.shapes import ShapesData, make_shapes
from sbp.infra.checkpoint import CheckpointError, load_checkpoint, resume_checkpoint, save_checkpoint, spec_mismatch
from sbp.infra.io import atomic_write_bytes
from sbp.infra.progress import progress
from sbp.infra.training import cosine_lr, cpu_threads
from sbp.models.dcgan import Discriminator, Generator

__all__ = ["train_gan", "load_generator", "load_checkpoint", "DEFAULTS", "TRAINING_KEYS", "default_device"]

LOG_COLUMNS = ("iteration", "loss_d", "loss_g", "d_real", "d_fake")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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

    ``spec``: the knobs of ``sbp.experiments.gan.config.TrainConfig`` (latent_dim, width,
    resolution, iters required; defaults in ``DEFAULTS``). ``max_steps`` stops after that many
    iterations in this call (checkpointing first), as an interruption would. ``callback(it,
    losses)`` runs after every iteration. The loss log goes to ``log_path`` (default: the
    checkpoint path with suffix ``.csv``). ``dist_info`` (``sbp.experiments.gan.distributed.from_env()``
    under torchrun, after ``sbp.experiments.gan.distributed.setup``): data-parallel training, see
    the module docstring; the logged losses are then averaged over the processes.
    """
    spec = full_spec(spec)
    device = torch.device(device) if device is not None else default_device()
    with cpu_threads(spec["cpu_threads"] if device.type == "cpu" else None):
        run = _start(spec, Path(ckpt_path), log_path, device, dist_info)
        return _train(run, data, max_steps, callback, progress_bar)


@dataclass
class _Run:
    """The state of one training process: models, optimizers, RNGs, loss log and where it is saved."""

    spec: dict
    ckpt_path: Path
    log_path: Path
    device: torch.device
    info: distributed.DistInfo | None
    G: Generator
    D: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    G_ema: Generator | None
    g_noise: torch.Generator
    g_data: torch.Generator
    start: int = 0
    log: list = field(default_factory=list)
    acc: torch.Tensor = field(default_factory=lambda: torch.zeros(4, dtype=torch.float64))  # since the last row
    n_acc: int = 0

    @property
    def rank_world(self) -> tuple[int, int]:
        return (self.info.rank, self.info.world_size) if self.info is not None else (0, 1)


def _start(spec: dict, ckpt_path: Path, log_path, device: torch.device, info) -> _Run:
    """Build the models, optimizers and RNGs of ``spec`` and restore the checkpoint when there is one."""
    rank = info.rank if info is not None else 0
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    G, D, opt_g, opt_d = _build(spec, device)
    G_ema = copy.deepcopy(G).requires_grad_(False) if float(spec["ema"]) > 0 else None
    run = _Run(spec, ckpt_path, Path(log_path) if log_path is not None else ckpt_path.with_suffix(".csv"),
               device, info, G, D, opt_g, opt_d, G_ema,
               torch.Generator(device=device).manual_seed(int(spec["seed"]) + 1 + 7919 * rank),
               torch.Generator().manual_seed(int(spec["seed"]) + 2 + 7919 * rank))
    _restore(run)
    return run


def _restore(run: _Run) -> None:
    """Load the checkpoint at ``run.ckpt_path`` into ``run`` (nothing when there is none)."""
    def same_spec(ck: dict) -> None:
        diff = spec_mismatch(ck["spec"], run.spec, TRAINING_KEYS, DEFAULTS)
        if diff:
            raise ValueError(f"checkpoint {str(run.ckpt_path)!r} was written for a different spec "
                             f"(key: (checkpoint, requested)): {diff}")

    ck = resume_checkpoint(run.ckpt_path, same_spec)
    if ck is None:
        return
    run.G.load_state_dict(ck["G"])
    if run.G_ema is not None:
        run.G_ema.load_state_dict(ck["G_ema"])
    run.D.load_state_dict(ck["D"])
    run.opt_g.load_state_dict(ck["opt_g"])
    run.opt_d.load_state_dict(ck["opt_d"])
    rank, world = run.rank_world
    ranks = ck.get("rng_ranks", [(ck["rng_noise"], ck["rng_data"])])
    if len(ranks) != world:
        raise ValueError(f"checkpoint {str(run.ckpt_path)!r} was written by {len(ranks)} process(es); "
                         f"resume it with the same number (got {world})")
    run.g_noise.set_state(ranks[rank][0])
    run.g_data.set_state(ranks[rank][1])
    run.start, run.log = int(ck["iteration"]), list(ck["log"])
    if "log_acc" in ck:
        run.acc += torch.tensor(ck["log_acc"][0], dtype=torch.float64)
        run.n_acc = int(ck["log_acc"][1])


def _state(run: _Run, it: int) -> dict:
    """The checkpoint dict at iteration ``it`` (every rank's RNG state gathered)."""
    cpu = lambda sd: {k: v.detach().cpu().clone() for k, v in sd.items()}  # noqa: E731
    ranks = distributed.gather((run.g_noise.get_state().cpu(), run.g_data.get_state()), run.info)
    extra = {} if run.G_ema is None else {"G_ema": cpu(run.G_ema.state_dict())}
    st = {"spec": run.spec, "iteration": it, "G": cpu(run.G.state_dict()), "D": cpu(run.D.state_dict()), **extra,
          "opt_g": run.opt_g.state_dict(), "opt_d": run.opt_d.state_dict(), "rng_noise": ranks[0][0],
          "rng_data": ranks[0][1], "log": run.log, "log_acc": (run.acc.tolist(), run.n_acc),
          "done": it >= run.spec["iters"]}
    if run.info is not None:
        st["rng_ranks"] = ranks
    return st


def _save(run: _Run, it: int) -> dict:
    """Write the checkpoint and the loss log (rank 0, atomically); every rank waits for it."""
    st = _state(run, it)
    if run.rank_world[0] == 0:
        save_checkpoint(run.ckpt_path, st)
        _write_log(run.log_path, run.log)
    distributed.barrier(run.info)
    return st


def _set_lr(run: _Run, it: int) -> None:
    s = run.spec
    if s["lr_final"] is not None:
        for opt in (run.opt_g, run.opt_d):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(it, s["iters"], float(s["lr"]), float(s["lr_final"]))


def _d_step(run: _Run, Dw, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """One discriminator step on the non-saturating loss (+ R1 where ``r1`` > 0); (loss, D(real), D(fake))."""
    r1 = float(run.spec["r1"])
    if r1 > 0:
        real = real.detach().requires_grad_(True)
    d_real, d_fake = Dw(real), Dw(fake.detach())
    loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    if r1 > 0:  # ours: R1 penalty (Mescheder et al. 2018), r1/2 E ||grad_x D(x_real)||^2
        grad, = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        loss_d = loss_d + 0.5 * r1 * grad.pow(2).flatten(1).sum(1).mean()
    run.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    run.opt_d.step()
    return loss_d, d_real, d_fake


def _g_step(run: _Run, Dw, fake: torch.Tensor) -> torch.Tensor:
    """One generator step on the non-saturating loss, then the weight average (``ema``)."""
    loss_g = F.softplus(-Dw(fake)).mean()
    run.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    run.opt_g.step()
    if run.G_ema is not None:
        ema = float(run.spec["ema"])
        with torch.no_grad():
            for pe, p in zip(run.G_ema.parameters(), run.G.parameters()):
                pe.lerp_(p, 1.0 - ema)
    return loss_g


def _log_step(run: _Run, vals: torch.Tensor, done: int) -> None:
    """Accumulate the step's losses (averaged over processes) and close a log row every ``log_every``."""
    if run.info is not None:
        torch.distributed.all_reduce(vals)
        vals /= run.rank_world[1]
    run.acc += vals.double().cpu()
    run.n_acc += 1
    if done % run.spec["log_every"] == 0 or done == run.spec["iters"]:
        run.log.append([done] + (run.acc / run.n_acc).tolist())
        run.acc.zero_()
        run.n_acc = 0


def _train(run: _Run, data, max_steps, callback, progress_bar) -> dict:
    spec, rank = run.spec, run.rank_world[0]
    end = spec["iters"] if max_steps is None else min(spec["iters"], run.start + int(max_steps))
    if run.start >= end:
        return _state(run, run.start) if run.start < spec["iters"] else load_checkpoint(run.ckpt_path)
    draw = _sampler(data, spec, run.device, *run.rank_world)
    Gw, Dw = distributed.wrap(run.G, run.info, run.device), distributed.wrap(run.D, run.info, run.device)
    run.G.train(), run.D.train()
    bar = progress(range(run.start, end), enabled=progress_bar if rank == 0 else False,
                   desc=spec.get("name") or "gan", initial=run.start, total=spec["iters"], leave=False)
    for it in bar:
        _set_lr(run, it)
        real = draw(it, run.g_data)
        z = torch.randn(real.shape[0], spec["latent_dim"], generator=run.g_noise, device=run.device)
        fake = Gw(z)
        loss_d, d_real, d_fake = _d_step(run, Dw, real, fake)
        loss_g = _g_step(run, Dw, fake)
        vals = torch.stack([loss_d.detach(), loss_g.detach(), d_real.detach().mean(), d_fake.detach().mean()])
        done = it + 1
        _log_step(run, vals, done)
        if callback is not None:
            callback(done, {"loss_d": float(vals[0]), "loss_g": float(vals[1])})
        if done % spec["ckpt_every"] == 0 or done == end:
            last = _save(run, done)
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
    add_flags(p)
    p.add_argument("--data", default=None, help="image folder (CelebA, LSUN Bedroom export); default: generated shapes")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--max-steps", type=int, default=None, help="stop (checkpointed) after this many iterations")
    a = p.parse_args(argv)
    try:
        spec = from_flags(a, name=Path(a.ckpt).stem)
        data = ImageFolder(a.data, a.resolution) if a.data else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
