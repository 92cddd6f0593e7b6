"""Data-parallel training across processes with PyTorch's own engine (torchrun + DDP).

``torchrun --nproc_per_node=N -m sbp.experiments.gan.train ...`` starts N processes and sets RANK,
LOCAL_RANK and WORLD_SIZE; ``from_env`` reads them, ``setup`` joins the process group
(NCCL on CUDA, Gloo on CPU) and picks this process's device, ``wrap`` puts a model in
``DistributedDataParallel``. Without those variables (a notebook, a plain
``python -m sbp.experiments.gan.train``) everything here is a no-op and training is single-process.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["DistInfo", "from_env", "setup", "teardown", "wrap", "unwrap", "gather", "barrier"]


@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int


def from_env() -> DistInfo | None:
    """The torchrun layout of this process, or None when not launched by torchrun (or WORLD_SIZE=1)."""
    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        world = int(os.environ["WORLD_SIZE"])
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as e:
        raise ValueError(f"WORLD_SIZE/RANK/LOCAL_RANK must be integers: {e}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"bad torchrun layout: RANK={rank}, WORLD_SIZE={world}")
    return None if world == 1 else DistInfo(rank=rank, local_rank=local, world_size=world)


def setup(info: DistInfo, device: str | torch.device | None = None) -> torch.device:
    """Join the process group (once) and return this process's device (cuda:LOCAL_RANK when CUDA is there)."""
    if device is None:
        device = torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if dist.get_world_size() != info.world_size:
        raise RuntimeError(f"process group has {dist.get_world_size()} processes, WORLD_SIZE says {info.world_size}")
    return device


def teardown() -> None:
    """Leave the process group. DDP wrappers that are only garbage in a reference cycle are collected
    first, so that no reducer outlives the group into interpreter shutdown (once seen on CI as a
    rank aborting at exit, "terminate called without an active exception"; not reproduced in 80 runs)."""
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def wrap(model: nn.Module, info: DistInfo | None, device: torch.device) -> nn.Module:
    """``model`` in DDP (parameters broadcast from rank 0, gradients averaged), or as is without ``info``."""
    if info is None:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def gather(obj, info: DistInfo | None) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` without ``info``)."""
    if info is None:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo | None) -> None:
    if info is not None:
        dist.barrier()
