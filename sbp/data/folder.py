"""CelebA / LSUN Bedroom images from a local folder: centre crop, resize, streamed.

Nothing is downloaded: point ``ImageFolder`` at a directory of exported images
(CelebA's aligned JPEGs, or LSUN Bedroom exported from its LMDB to image files).
Images are read one at a time when indexed, never all held in memory. Uses Pillow,
which matplotlib already depends on.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["ImageFolder", "list_images", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".ppm")


def list_images(root: str | os.PathLike) -> list[Path]:
    """Sorted image files (by extension) below ``root``; clear errors for a missing or empty folder."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"image folder {str(root)!r} is not a directory")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"image folder {str(root)!r} contains no image files "
                         f"(looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def _load(path: Path, resolution: int) -> Tensor:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
        im = im.resize((resolution, resolution), Image.Resampling.BICUBIC if side < resolution
                       else Image.Resampling.LANCZOS)
        arr = np.asarray(im, dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous() / 127.5 - 1.0


class ImageFolder:
    """Images below ``root`` as (3, R, R) float32 tensors in [-1, 1], centre-cropped and resized.

    ``verify=True`` opens every file once at construction and drops unreadable ones with
    a single warning naming them (costly for 200k files; the default checks lazily).
    A file that fails to decode when indexed is skipped with a warning naming it, and the
    next readable file is returned instead, so a partly corrupt folder never crashes training.
    """

    def __init__(self, root: str | os.PathLike, resolution: int = 64, verify: bool = False):
        if not isinstance(resolution, int) or resolution < 8:
            raise ValueError(f"resolution must be an int >= 8, got {resolution!r}")
        self.root = Path(root)
        self.resolution = resolution
        self.files = list_images(root)
        self.skipped: list[Path] = []
        if verify:
            from PIL import Image

            good, bad = [], []
            for p in self.files:
                try:
                    with Image.open(p) as im:
                        im.verify()
                    good.append(p)
                except Exception:  # noqa: BLE001 - any decoder failure means "corrupt"
                    bad.append(p)
            if bad:
                self._skip(bad)
            if not good:
                raise ValueError(f"image folder {str(self.root)!r}: none of its {len(self.files)} image files "
                                 "could be read")
            self.files = good

    def _skip(self, bad: list[Path]) -> None:
        self.skipped += bad
        names = ", ".join(str(p) for p in bad[:20]) + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
        warnings.warn(f"skipping {len(bad)} unreadable image file(s): {names}", RuntimeWarning, stacklevel=3)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor:
        n = len(self.files)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} images")
        i %= n
        for k in range(n):
            p = self.files[(i + k) % n]
            if p in self.skipped:
                continue
            try:
                return _load(p, self.resolution)
            except Exception:  # noqa: BLE001
                self._skip([p])
        raise ValueError(f"image folder {str(self.root)!r}: none of its {n} image files could be read")

    def batch(self, indices) -> Tensor:
        """Stack the images at ``indices`` into (B, 3, R, R)."""
        return torch.stack([self[int(i)] for i in indices])
