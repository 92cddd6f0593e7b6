"""Small generators shared by the latent-analysis tests (not a test module)."""
from __future__ import annotations

import torch
from torch import nn


def tiny_conv_generator(d: int = 6, seed: int = 0) -> nn.Module:
    """Linear -> 4x4 maps -> transposed conv -> 3 x 8 x 8 images in (-1, 1), float64, eval mode."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(d, 8 * 4 * 4), nn.LeakyReLU(0.2), nn.Unflatten(1, (8, 4, 4)),
        nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh(),
    ).double().eval()
    return net
