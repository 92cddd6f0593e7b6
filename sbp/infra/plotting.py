"""Tiling generated images (values in [-1, 1]) into one array for ``imshow``."""
from __future__ import annotations

import numpy as np
from torch import Tensor

__all__ = ["image_grid"]


def image_grid(images: Tensor, pad: int = 1) -> np.ndarray:
    """Images (rows, cols, C, H, W) in [-1, 1] -> one (rows*(H+pad), cols*(W+pad), 3) array in [0, 1]."""
    if images.dim() != 5 or images.shape[2] not in (1, 3):
        raise ValueError(f"images must have shape (rows, cols, 1 or 3, H, W), got {tuple(images.shape)}")
    x = ((images.detach().float().clamp(-1, 1) + 1) / 2).cpu().numpy()
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    r, c, _, h, w = x.shape
    out = np.ones((r * (h + pad) - pad, c * (w + pad) - pad, 3), dtype=np.float32)
    for i in range(r):
        for j in range(c):
            out[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = x[i, j].transpose(1, 2, 0)
    return out
