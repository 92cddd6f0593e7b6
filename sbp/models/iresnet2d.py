"""An invertible 2-D ResNet (ours, for Figure 2): blocks x <- x + c h(x) with Lip(h) <= 1 and c < 1.

Each branch h = L3 s L2 s L1 has linear layers L_i(u) = W_i u / max(1, ||W_i||_2) + b_i (spectral
normalization, the exact largest singular value, so deterministic: ``spectral_norms``) and a 1-Lipschitz activation s,
so Lip(c h) <= c < 1. Then y = x + c h(x) is a bijection of the plane with inverse the fixed point of
x = y - c h(x), reached by iteration at rate c (Behrmann et al. 2019, "Invertible Residual Networks",
Sec. 2-3), and det(I + c J_h) > 0 everywhere: the model cannot fold, and the density of the data ->
latent map g, q(x) = p_Z(g(x)) |det J_g(x)| (Eq. 1-2 with d = D), integrates to one.
The paper's ``ResNet2d`` has no such constraint and folds (``sbp.models.resnet2d``).

``forward_with_jacobian`` returns g(x) and J_g(x) in one pass, the tangents of the d input directions
carried through the layers beside the values (forward mode by hand): for Figure 2's d = 2 about 3x
cheaper than J from automatic differentiation, and equal to it to rounding (tested).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from sbp.models.activations import activation as _activation, activation_with_slope
from sbp.models.resnet2d import check_sizes

__all__ = ["InvertibleResNet2d", "LIPSCHITZ_ONE", "spectral_norms"]

# activations whose slope lies in [0, 1] everywhere (SiLU's reaches 1.1: not 1-Lipschitz)
LIPSCHITZ_ONE = ("elu", "tanh", "leaky_relu", "smooth_leaky_relu")


def spectral_norms(weights: Tensor) -> Tensor:
    """||W||_2 of each matrix of a stack (k, m, n): exact and differentiable, the square root of the top
    eigenvalue of the smaller Gram matrix (relative error ~eps; one batched ``eigvalsh`` costs about half
    of k SVDs on CPU)."""
    gram = weights.mT @ weights if weights.shape[-1] <= weights.shape[-2] else weights @ weights.mT
    return torch.linalg.eigvalsh(gram)[..., -1].clamp_min(torch.finfo(weights.dtype).tiny).sqrt()


class InvertibleResNet2d(nn.Module):
    """``blocks`` invertible residual blocks on R^dim, branches R^dim -> width -> width -> R^dim.

    ``scale`` is c in (0, 1); ``activation`` one of ``LIPSCHITZ_ONE``; weights and biases drawn
    from ``seed`` (an int or a torch.Generator) as PyTorch's Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    The parameters are ``dtype`` (float32 by default: a training step of Figure 2 is 3x faster than in
    float64 on CPU); ``forward`` computes in it and returns the input's dtype, ``inverse`` computes in float64.
    """

    def __init__(self, dim: int = 2, width: int = 64, blocks: int = 8, scale: float = 0.9, *,
                 seed: int | torch.Generator = 0, activation: str = "elu", slope: float = 0.2,
                 dtype=torch.float32):
        super().__init__()
        gen = check_sizes(dim, width, blocks, slope, seed)
        if not (isinstance(scale, (int, float)) and 0 < scale < 1):
            raise ValueError(f"scale (c) must be in (0, 1) for the blocks to be invertible, got {scale!r}")
        if activation not in LIPSCHITZ_ONE:
            raise ValueError(f"activation {activation!r} is not 1-Lipschitz; choose one of {LIPSCHITZ_ONE}")
        self.dim, self.scale, self.activation, self.slope, self.dtype = dim, float(scale), activation, slope, dtype
        self._act, self._act_slope = _activation(activation), activation_with_slope(activation)
        self.branches = nn.ModuleList()
        for _ in range(blocks):
            layers = [nn.Linear(dim, width, dtype=dtype), nn.Linear(width, width, dtype=dtype),
                      nn.Linear(width, dim, dtype=dtype)]
            with torch.no_grad():
                for lin in layers:
                    s = 1 / math.sqrt(lin.in_features)
                    lin.weight.copy_((2 * torch.rand(lin.weight.shape, generator=gen, dtype=torch.float64) - 1) * s)
                    lin.bias.copy_((2 * torch.rand(lin.bias.shape, generator=gen, dtype=torch.float64) - 1) * s)
            self.branches.append(nn.ModuleList(layers))
        self._frozen: list | None = None

    @staticmethod
    def normalized(weight: Tensor) -> Tensor:
        """W / max(1, ||W||_2): spectral norm at most 1 (exact largest singular value, differentiable)."""
        return weight / torch.clamp(spectral_norms(weight[None])[0], min=1.0)

    def _weights(self) -> list[list[tuple[Tensor, Tensor]]]:
        if self._frozen is not None:
            return self._frozen
        # layer i of every block at once: one batched spectral norm per layer position
        stacks = [torch.stack([layers[i].weight for layers in self.branches]) for i in range(3)]
        normed = [W / torch.clamp(spectral_norms(W), min=1.0)[:, None, None] for W in stacks]
        return [[(normed[i][k], layers[i].bias) for i in range(3)] for k, layers in enumerate(self.branches)]

    @contextmanager
    def normalized_once(self) -> Iterator[None]:
        """Within the block every call reuses one computation of the normalized weights (and its graph):
        a training step calls the model several times (log det, then g(x)) with the same parameters.
        Do not step the optimizer inside the block."""
        self._frozen = None
        self._frozen = self._weights()
        try:
            yield
        finally:
            self._frozen = None

    @staticmethod
    def _apply(layers: list[tuple[Tensor, Tensor]], x: Tensor, act, slope: float, scale: float) -> Tensor:
        (w1, b1), (w2, b2), (w3, b3) = layers
        h = act(x @ w1.T + b1, slope)
        h = act(h @ w2.T + b2, slope)
        return scale * (h @ w3.T + b3)

    def branch(self, k: int, x: Tensor) -> Tensor:
        """c h_k(x), the residual branch of block k (Lipschitz constant at most c), in the input's dtype."""
        self._check(x)
        return self._apply(self._weights()[k], x.to(self.dtype), self._act, self.slope, self.scale).to(x.dtype)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected input of shape (B, {self.dim}), got {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        h = x.to(self.dtype)
        for layers in self._weights():  # the normalized weights once per call
            h = h + self._apply(layers, h, self._act, self.slope, self.scale)
        return h.to(x.dtype)

    def forward_with_jacobian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(g(x), J_g(x)): the output (B, dim) and the Jacobian (B, dim, dim), in the input's dtype.

        Forward mode by hand: the d tangents (rows of J^T, shape (B, d, width)) go through each layer
        beside the values, x' = x + c W3 s(W2 s(W1 x + b1) + b2) giving J' = J + c W3 diag(s'_2) W2
        diag(s'_1) W1 J. Differentiable (one backward pass, no double backward)."""
        self._check(x)
        h = x.to(self.dtype)
        t = torch.eye(self.dim, dtype=self.dtype, device=x.device).expand(h.shape[0], -1, -1)  # J^T, (B, d, D)
        for (w1, b1), (w2, b2), (w3, b3) in self._weights():
            a1, s1 = self._act_slope(h @ w1.T + b1, self.slope)
            t1 = s1[:, None, :] * (t @ w1.T)
            a2, s2 = self._act_slope(a1 @ w2.T + b2, self.slope)
            t2 = s2[:, None, :] * (t1 @ w2.T)
            h = h + self.scale * (a2 @ w3.T + b3)
            t = t + self.scale * (t2 @ w3.T)
        return h.to(x.dtype), t.mT.to(x.dtype)

    @torch.no_grad()
    def inverse(self, y: Tensor, *, tol: float = 1e-12, max_iter: int = 2000) -> Tensor:
        """g^{-1}(y) block by block, last first: the fixed point x = y_k - c h_k(x) (Behrmann et al. 2019, Alg. 1),
        in float64 whatever the parameters' dtype.

        Iterates until the largest change is below ``tol``; raises if ``max_iter`` is not enough.
        """
        self._check(y)
        weights = [[(w.double(), b.double()) for w, b in layers] for layers in self._weights()]
        out_dtype, y = y.dtype, y.double()
        for k in reversed(range(len(weights))):
            x = y.clone()
            for _ in range(max_iter):
                nxt = y - self._apply(weights[k], x, self._act, self.slope, self.scale)
                step = float((nxt - x).abs().max()) if nxt.numel() else 0.0
                x = nxt
                if step < tol:
                    break
            else:
                raise RuntimeError(f"block {k}: the fixed-point inverse did not reach tol={tol} in {max_iter} steps")
            y = x
        return y.to(out_dtype)
