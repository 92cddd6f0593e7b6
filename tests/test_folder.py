import numpy as np
import pytest
import torch
from PIL import Image

from sbp.data.folder import ImageFolder, list_images


def _write(folder, n=3):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        w, h = (80 + 10 * i, 60)  # non-square, so the centre crop matters
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        p = folder / f"img{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


def test_loads_centre_crop_resized(tmp_path):
    _write(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path, resolution=64)
    assert len(ds) == 3
    x = ds[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert ds.batch([0, 2]).shape == (2, 3, 64, 64)


def test_centre_crop_keeps_the_middle(tmp_path):
    arr = np.zeros((64, 128, 3), dtype=np.uint8)
    arr[:, 32:96] = 255  # white centre square, black side bands that the crop must remove
    Image.fromarray(arr).save(tmp_path / "a.png")
    x = ImageFolder(tmp_path, resolution=32)[0]
    assert x.min() > 0.9


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "nope")
    with pytest.raises(ValueError, match="no image files"):
        ImageFolder(tmp_path)
    f = tmp_path / "file.png"
    f.write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        list_images(f)


def test_corrupt_file_skipped_with_warning(tmp_path):
    _write(tmp_path, 2)
    bad = tmp_path / "img0b.jpg"  # sorts between img0 and img1
    bad.write_bytes(b"\xff\xd8 this is not a jpeg")
    ds = ImageFolder(tmp_path)
    assert len(ds) == 3
    with pytest.warns(RuntimeWarning, match="img0b.jpg"):
        x = ds[1]
    assert torch.equal(x, ds[2])  # the next readable file stands in
    assert bad in ds.skipped
    with pytest.warns(RuntimeWarning, match="img0b.jpg"):
        ds2 = ImageFolder(tmp_path, verify=True)
    assert len(ds2) == 2


def test_all_corrupt_is_a_clear_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="none of its 1 image files"):
        ImageFolder(tmp_path)[0]
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="could be read"):
        ImageFolder(tmp_path, verify=True)
