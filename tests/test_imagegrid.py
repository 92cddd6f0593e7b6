import pytest
import torch

from sbp.infra.plotting import image_grid


def test_image_grid_layout_and_range():
    imgs = torch.full((2, 3, 1, 4, 5), -1.0)
    imgs[1, 2] = 1.0
    g = image_grid(imgs, pad=1)
    assert g.shape == (2 * 5 - 1, 3 * 6 - 1, 3)
    assert g[0, 0, 0] == 0.0 and g[5, 12, 0] == 1.0 and g[4, 0, 0] == 1.0  # pad is white
    with pytest.raises(ValueError, match="images must have shape"):
        image_grid(torch.zeros(3, 4, 4))
