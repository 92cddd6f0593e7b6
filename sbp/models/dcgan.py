"""DCGAN generator and discriminator of Section 4, five layers each.

Generator: as in Xiang & Li (2017), whom the paper cites for its activation: weight
normalization (w = g v / ||v||, learned g) and translated LeakyReLU
``act(x - a) + a`` with a learned per-channel offset ``a`` instead of batch norm, so
every output row depends on its own latent row only, in train and eval mode alike
(needed for per-sample Jacobians and for torch.func.jvp/vjp/vmap).
Discriminator: weight normalization with fixed scale factors (Salimans et al. 2016): the
scale g is a constant buffer, not learned.

Five layers at either resolution (see ``Generator``); ``width`` is the base feature-map
count, ``latent_dim`` the latent size d.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sbp.models.activations import smooth_leaky_relu

__all__ = ["Generator", "Discriminator", "TranslatedLeakyReLU", "WNLinear", "WNConv2d", "WNConvTranspose2d",
           "ACTIVATIONS"]

_SLOPE = 0.2


def _check_sizes(width: int, resolution: int, latent_dim: int | None = None) -> None:
    if latent_dim is not None and (not isinstance(latent_dim, int) or latent_dim < 1):
        raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    if resolution not in (32, 64):
        raise ValueError(f"resolution must be 32 or 64, got {resolution!r}")


def _norm(v: Tensor) -> Tensor:
    """Norm of each output unit's weight vector (dim 0 of v), shaped to broadcast against v."""
    return v.flatten(1).norm(dim=1).view(-1, *([1] * (v.ndim - 1)))


class _WN(nn.Module):
    """Weight-normalized layer: w = g * v / ||v|| per output unit; g learned or a fixed buffer."""

    def _init_wn(self, v_shape: tuple[int, ...], out: int, gain: float, learn_scale: bool) -> None:
        self.v = nn.Parameter(torch.randn(v_shape) * 0.05)
        g = torch.full((out,), float(gain))
        if learn_scale:
            self.g = nn.Parameter(g)
        else:
            self.register_buffer("g", g)
        self.bias = nn.Parameter(torch.zeros(out))

    def weight(self, out_dim: int = 0) -> Tensor:
        v = self.v if out_dim == 0 else self.v.transpose(0, 1)
        w = v * (self.g.view(-1, *([1] * (v.ndim - 1))) / _norm(v))
        return w if out_dim == 0 else w.transpose(0, 1)


class WNLinear(_WN):
    def __init__(self, n_in: int, n_out: int, gain: float = 1.0, learn_scale: bool = True):
        super().__init__()
        self._init_wn((n_out, n_in), n_out, gain, learn_scale)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight(), self.bias)


class WNConv2d(_WN):
    def __init__(self, n_in: int, n_out: int, kernel: int, stride: int = 1, padding: int = 0,
                 gain: float = 1.0, learn_scale: bool = True):
        super().__init__()
        self.stride, self.padding = stride, padding
        self._init_wn((n_out, n_in, kernel, kernel), n_out, gain, learn_scale)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight(), self.bias, self.stride, self.padding)


class WNConvTranspose2d(_WN):
    """Transposed convolution; the weight is (in, out, k, k), normalized per output channel."""

    def __init__(self, n_in: int, n_out: int, kernel: int = 4, stride: int = 2, padding: int = 1,
                 gain: float = 1.0, learn_scale: bool = True):
        super().__init__()
        self.stride, self.padding = stride, padding
        self._init_wn((n_in, n_out, kernel, kernel), n_out, gain, learn_scale)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight(out_dim=1), self.bias, self.stride, self.padding)


ACTIVATIONS = ("lrelu", "smooth")


class TranslatedLeakyReLU(nn.Module):
    """``act(x - a) + a`` with a learned offset ``a`` per channel (Xiang & Li 2017).

    ``smooth=False``: act = leaky_relu (the paper's). ``smooth=True`` (ours, for Figure 4):
    act(u) = s u + (1 - s)(softplus(u) - log 2), a C-infinity leaky ReLU with the same slopes
    s and 1 far from 0 and act(0) = 0, so that log det(J^T J) is smooth in z and its gradient
    sees the curvature that the piecewise-linear generator hides between linear regions.
    """

    def __init__(self, channels: int, slope: float = _SLOPE, smooth: bool = False):
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(channels))
        self.slope, self.smooth = slope, smooth

    def forward(self, x: Tensor) -> Tensor:
        a = self.offset.view(1, -1, *([1] * (x.ndim - 2)))
        u = x - a
        if self.smooth:
            return smooth_leaky_relu(u, self.slope) + a
        return F.leaky_relu(u, self.slope) + a


_GAIN = math.sqrt(2.0 / (1.0 + _SLOPE ** 2))  # He gain for LeakyReLU
# A 4x4 transposed convolution of stride 2 reaches each output pixel through 2x2 of its 16 taps,
# so its effective fan-in is a quarter of the weight's: the output variance is 1/4 of ||w||^2
# and the scale must be 2x larger to keep activations at unit scale. Without this factor the
# generator's output starts at std 0.09 (w16, d16; data: ~0.5) and RMSProp needs hundreds of
# steps to grow the learned scales (notebook 03 measures it).
_UP = 2.0


class Generator(nn.Module):
    """(B, latent_dim) -> (B, 3, R, R) in [-1, 1]; rows independent; five weight-normalized layers.

    R = 32: linear to 4w x 4 x 4, 3x3 conv at 4x4, transposed convs to 2w x 8 x 8,
    w x 16 x 16 and 3 x 32 x 32. R = 64: linear to 8w x 4 x 4, transposed convs to
    4w x 8 x 8, 2w x 16 x 16, w x 32 x 32 and 3 x 64 x 64. Output ``tanh``. The initial
    scales g of the transposed convs include their stride factor (``_UP``), so activations
    keep unit scale through the upsampling at initialization. ``activation``: "lrelu" (the
    paper's translated LeakyReLU) or "smooth" (its C-infinity variant, see ``TranslatedLeakyReLU``).
    """

    def __init__(self, latent_dim: int, width: int, resolution: int = 32, activation: str = "lrelu"):
        super().__init__()
        _check_sizes(width, resolution, latent_dim)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.latent_dim, self.width, self.resolution, self.activation = latent_dim, width, resolution, activation
        act = lambda c: TranslatedLeakyReLU(c, smooth=activation == "smooth")  # noqa: E731
        chans = [4 * width, 2 * width, width] if resolution == 32 else [8 * width, 4 * width, 2 * width, width]
        self.c0 = chans[0]
        self.fc = WNLinear(latent_dim, chans[0] * 16, gain=_GAIN)
        layers: list[nn.Module] = [act(chans[0])]
        if resolution == 32:
            layers += [WNConv2d(chans[0], chans[0], 3, padding=1, gain=_GAIN), act(chans[0])]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [WNConvTranspose2d(c_in, c_out, gain=_GAIN * _UP), act(c_out)]
        layers += [WNConvTranspose2d(chans[-1], 3, gain=_UP)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"Generator expects z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return torch.tanh(self.body(self.fc(z).view(z.shape[0], self.c0, 4, 4)))


class Discriminator(nn.Module):
    """(B, 3, R, R) -> (B,) logits; five layers with weight normalization of fixed scale."""

    def __init__(self, width: int, resolution: int = 32):
        super().__init__()
        _check_sizes(width, resolution)
        self.width, self.resolution = width, resolution
        if resolution == 32:  # 32 -> 16 -> 8 -> 4, a 3x3 conv at 4x4, linear
            chans = [3, width, 2 * width, 4 * width]
            convs = [WNConv2d(chans[i], chans[i + 1], 4, 2, 1, gain=_GAIN, learn_scale=False) for i in range(3)]
            convs.append(WNConv2d(4 * width, 4 * width, 3, 1, 1, gain=_GAIN, learn_scale=False))
            last = 4 * width
        else:  # 64 -> 32 -> 16 -> 8 -> 4, linear
            chans = [3, width, 2 * width, 4 * width, 8 * width]
            convs = [WNConv2d(chans[i], chans[i + 1], 4, 2, 1, gain=_GAIN, learn_scale=False) for i in range(4)]
            last = 8 * width
        self.convs = nn.ModuleList(convs)
        self.fc = WNLinear(last * 16, 1, gain=1.0, learn_scale=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1:] != (3, self.resolution, self.resolution):
            raise ValueError(f"Discriminator expects (B, 3, {self.resolution}, {self.resolution}), "
                             f"got {tuple(x.shape)}")
        h = x
        for conv in self.convs:
            h = F.leaky_relu(conv(h), _SLOPE)
        return self.fc(h.flatten(1)).squeeze(1)
