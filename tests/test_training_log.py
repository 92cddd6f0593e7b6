import csv

import pytest
import torch

from sbp.experiments.gan.train import train_gan
from sbp.experiments.gan.training_log import block_average, read_training_log


def _blocks_as_in_notebook_03(path, col):
    # the committed notebook 03's cell, kept as the reference
    with open(path) as fh:
        log = list(csv.DictReader(fh))
    it = [int(r["iteration"]) for r in log]
    k = max(1, len(it) // 50)
    v = torch.tensor([float(r[col]) for r in log])
    return it[k - 1::k][: len(v) // k], v[: len(v) // k * k].view(-1, k).mean(1)


def _write(path, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    with open(path, "w") as fh:
        fh.write("iteration,loss_d,loss_g,d_real,d_fake\n")
        for i in range(n):
            fh.write(f"{10 * (i + 1)}," + ",".join(f"{v:.6g}" for v in (torch.rand(4, generator=g) * 3).tolist()) + "\n")


@pytest.mark.parametrize("rows", [1, 7, 50, 123, 200])
def test_block_average_is_the_notebook_cell(tmp_path, rows):
    _write(tmp_path / "log.csv", rows, seed=rows)
    log = read_training_log(tmp_path / "log.csv")
    assert log["iteration"].dtype == torch.int64 and log["loss_g"].dtype == torch.float32
    for col in ("loss_d", "loss_g"):
        x, y = block_average(log["iteration"], log[col], blocks=50)
        x_ref, y_ref = _blocks_as_in_notebook_03(tmp_path / "log.csv", col)
        assert x.tolist() == x_ref and torch.equal(y, y_ref)


def test_block_average_known_answer():
    it = torch.arange(1, 8)
    x, y = block_average(it, torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 100.0]), blocks=3)  # k = 2, tail dropped
    assert x.tolist() == [2, 4, 6] and y.tolist() == [2.0, 6.0, 10.0]
    x, y = block_average(it[:2], torch.tensor([1.0, float("nan")]), blocks=5)  # k = 1; NaN passes through
    assert x.tolist() == [1, 2] and y[0] == 1.0 and torch.isnan(y[1])


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="same positive length"):
        block_average(torch.arange(3), torch.zeros(4))
    with pytest.raises(TypeError, match="floating point"):
        block_average(torch.arange(3), torch.arange(3))
    with pytest.raises(ValueError, match="blocks"):
        block_average(torch.arange(3), torch.zeros(3), blocks=0)
    with pytest.raises(FileNotFoundError, match="no training log"):
        read_training_log(tmp_path / "none.csv")
    (tmp_path / "other.csv").write_text("iteration,loss\n1,0.5\n")
    with pytest.raises(ValueError, match=r"columns \['loss_d'"):
        read_training_log(tmp_path / "other.csv")
    (tmp_path / "empty.csv").write_text("iteration,loss_d,loss_g,d_real,d_fake\n")
    with pytest.raises(ValueError, match="no rows"):
        read_training_log(tmp_path / "empty.csv")


def test_reads_what_train_gan_writes(tmp_path):
    torch.set_num_threads(1)
    spec = {"name": "tiny", "latent_dim": 4, "width": 2, "resolution": 32, "iters": 6, "seed": 3, "lr": 1e-3,
            "batch_size": 4, "ckpt_every": 3, "log_every": 2}
    ck = train_gan(spec, tmp_path / "g.pt", device="cpu", progress_bar=False)
    log = read_training_log(tmp_path / "g.csv")
    assert log["iteration"].tolist() == [2, 4, 6]
    torch.testing.assert_close(log["loss_d"], torch.tensor([r[1] for r in ck["log"]], dtype=torch.float32),
                               rtol=1e-5, atol=0)
