"""Input validation shared by the public functions: clear errors instead of wrong numbers."""
from __future__ import annotations

import numbers

import torch
from torch import Tensor

FLOAT_DTYPES = (torch.float32, torch.float64)


def check_latent(z: object, name: str = "z") -> Tensor:
    """``z`` must be a finite float32/float64 tensor of shape (B, d)."""
    if not isinstance(z, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, d), got {type(z).__name__}")
    if z.dim() != 2:
        raise ValueError(f"{name} must be 2-D with shape (B, d), got shape {tuple(z.shape)}")
    if z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column, got shape {tuple(z.shape)}")
    if z.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {z.dtype}")
    if not bool(torch.isfinite(z).all()):
        bad = (~torch.isfinite(z)).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"{name} has non-finite values (NaN or inf) in rows {bad[:10]}")
    return z


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_output(out: object, batch: int, dim: int) -> Tensor:
    """``f(z)`` must be a finite tensor with B rows and at least ``dim`` entries per row."""
    if not isinstance(out, Tensor):
        raise TypeError(f"f must return a torch.Tensor, got {type(out).__name__}")
    if out.dim() < 1 or out.shape[0] != batch:
        raise ValueError(f"f must map (B, d) to (B, ...) with B={batch} rows, got output shape {tuple(out.shape)}")
    out_dim = out[0].numel()
    if out_dim < dim:
        raise ValueError(
            f"f's output dimension {out_dim} is smaller than its input dimension {dim}: J^T J is "
            "singular and the implicit density is undefined (the coarea formula needs D >= d)")
    if not bool(torch.isfinite(out).all()):
        bad = (~torch.isfinite(out.reshape(batch, -1))).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"f produced non-finite output (NaN or inf) for rows {bad[:10]}")
    return out


# torch's bases of the modules whose training-mode forward is not a fixed, row-wise map (matched by name:
# this layer imports no torch.nn): dropout draws a new mask per call, batch norm mixes the rows of a batch
TRAINING_ONLY = ("_DropoutNd", "_BatchNorm")


def check_eval_mode(f: object, name: str = "f") -> None:
    """A module ``f`` in training mode holding dropout or batch norm is rejected: J would be the Jacobian of
    a random or batch-coupled map (a different number at every call; functorch errors)."""
    modules = getattr(f, "named_modules", None)
    if not callable(modules):
        return
    for sub_name, m in modules():
        if getattr(m, "training", False) and any(c.__name__ in TRAINING_ONLY for c in type(m).__mro__):
            where = f" ({sub_name})" if sub_name else ""
            raise ValueError(f"{name} is in training mode and holds {type(m).__name__}{where}: dropout draws a new mask "
                             "at every call and batch norm mixes the rows, so J^T J is not that of a fixed map; call "
                             f"{name}.eval() before estimating log det (and {name}.train() after)")


def as_generator(generator: torch.Generator | int | None, device: torch.device) -> torch.Generator | None:
    """Accept a ``torch.Generator``, an int seed (a fresh generator on ``device``) or None (global RNG)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        g = torch.Generator(device=device)
        g.manual_seed(int(generator))
        return g
    raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}")


def check_finite_logdet(logdet: Tensor, step: int, hint: str = "start those rows elsewhere") -> None:
    """Raise ValueError naming the rows where log det(J^T J) (B,) is not finite (singular metric, NaN).

    Eq. 1 is undefined there: a loop would go on optimizing an infinite objective. ``hint`` ends
    the message with what the caller can do (the ascent: move the codes; training: ``damping``)."""
    bad = (~torch.isfinite(logdet)).nonzero().flatten().tolist()
    if bad:
        vals = [float(logdet[i]) for i in bad[:10]]
        raise ValueError(f"log det(J^T J) is not finite at step {step} in rows {bad[:10]}"
                         f"{f' (and {len(bad) - 10} more)' if len(bad) > 10 else ''} (values {vals}): the metric "
                         f"is singular there, so the log-likelihood of Eq. 1 is undefined; {hint}")
