"""The relative error of a log det or log-likelihood estimate against the exact value."""
from __future__ import annotations

from torch import Tensor

__all__ = ["relative_error"]


def relative_error(estimate: Tensor, exact: Tensor) -> Tensor:
    """|estimate - exact| / max(|exact|, 1), elementwise (take ``.mean()`` for a batch).

    The paper reports the relative error of the estimated log-likelihood (its formula is
    lost from our copy). Log-likelihoods cross zero during training (the Figure 1 loss goes
    negative), so a plain |est - exact| / |exact| explodes near 0; dividing by
    max(|exact|, 1) makes it the absolute error in nats there and equals the plain
    relative error wherever |exact| >= 1.
    """
    return (estimate - exact).abs() / exact.abs().clamp_min(1.0)
