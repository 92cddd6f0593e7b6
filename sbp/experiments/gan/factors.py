"""A factor-prediction network for the generated shapes data and the Frechet distance.

``train_factor_net`` fits a small CNN to predict the factors of ``make_shapes`` images:
non-periodic factors (position, scale) directly, periodic ones (rotation, hues) as
(cos k theta, sin k theta), plus the shape class. Its penultimate activations
(``factor_features``) define the feature space of the sample-quality number
``frechet_distance`` (the Frechet distance between Gaussians fitted to real and
generated features, as in FID, with this network in place of Inception); its
predictions (``predict_factors``) let the latent analyses measure which factor a latent
direction changes.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sbp.data.shapes import FACTOR_NAMES, PERIODIC, SHAPE_NAMES, ShapesData, encode_factors, make_shapes

__all__ = ["FactorNet", "train_factor_net", "factor_features", "predict_factors", "frechet_distance",
           "encoded_names", "generated_features", "explained_variance", "factor_net_scores", "frechet_distances",
           "reading_names", "factor_groups", "factor_readings", "true_readings", "shape_report"]


def encoded_names(names: list[str] = FACTOR_NAMES, periodic: dict[str, int] = PERIODIC) -> list[str]:
    """Column names of ``encode_factors``: e.g. ["x", "y", "scale", "rotation_cos", "rotation_sin", ...]."""
    out = []
    for n in names:
        out += [f"{n}_cos", f"{n}_sin"] if n in periodic else [n]
    return out


def reading_names() -> list[str]:
    """Columns of ``factor_readings`` / ``true_readings``: ``encoded_names()``, then one
    probability per shape class ("shape_p0", "shape_p1", ...)."""
    return encoded_names() + [f"shape_p{i}" for i in range(len(SHAPE_NAMES))]


def factor_groups() -> dict[str, list[int]]:
    """Each factor of the shapes data (``FACTOR_NAMES``, then "shape") -> its columns of ``reading_names()``.

    A periodic factor owns its (cos, sin) pair, the shape class its class probabilities, any
    other factor one column: {"x": [0], "y": [1], "scale": [2], "rotation": [3, 4], ...}.
    """
    groups, j = {}, 0
    for name in FACTOR_NAMES:
        width = 2 if name in PERIODIC else 1
        groups[name] = list(range(j, j + width))
        j += width
    groups["shape"] = list(range(j, j + len(SHAPE_NAMES)))
    return groups


def factor_readings(net: "FactorNet", images: Tensor) -> Tensor:
    """What ``net`` reads from images (N, 3, R, R): (N, E + S), the encoded factors of
    ``predict_factors`` then the shape class probabilities (softmax of its logits); differentiable."""
    p = predict_factors(net, images)
    return torch.cat([p["encoded"], p["shape_logits"].softmax(-1)], 1)


def true_readings(data: ShapesData) -> Tensor:
    """The columns of ``factor_readings`` for data with known factors: encoded factors, one-hot shape class."""
    if not isinstance(data, ShapesData):
        raise TypeError(f"data must be a ShapesData (make_shapes), got {type(data).__name__}")
    return torch.cat([data.encoded_factors(), F.one_hot(data.shape, len(data.shape_names)).float()], 1)


class FactorNet(nn.Module):
    """CNN (B, 3, R, R) -> standardized encoded factors (B, E) and shape logits (B, S)."""

    def __init__(self, resolution: int = 32, width: int = 16, features: int = 64):
        super().__init__()
        if resolution not in (32, 64):
            raise ValueError(f"resolution must be 32 or 64, got {resolution!r}")
        self.resolution = resolution
        n_enc = len(encoded_names())
        layers: list[nn.Module] = []
        c = 3
        for i in range(3 if resolution == 32 else 4):
            layers += [nn.Conv2d(c, width * 2 ** min(i, 2), 4, 2, 1), nn.LeakyReLU(0.2)]
            c = width * 2 ** min(i, 2)
        self.conv = nn.Sequential(*layers)
        self.feat = nn.Sequential(nn.Flatten(), nn.Linear(c * 16, features), nn.LeakyReLU(0.2))
        self.head = nn.Linear(features, n_enc + len(SHAPE_NAMES))
        self.n_enc = n_enc
        self.register_buffer("mean", torch.zeros(n_enc))
        self.register_buffer("std", torch.ones(n_enc))

    def features(self, x: Tensor) -> Tensor:
        return self.feat(self.conv(x))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.head(self.features(x))
        return out[:, :self.n_enc], out[:, self.n_enc:]


def train_factor_net(resolution: int = 32, iters: int = 1000, batch_size: int = 64, lr: float = 2e-3,
                     seed: int = 0, progress_bar: bool | None = None) -> FactorNet:
    """Train a ``FactorNet`` on fresh ``make_shapes`` batches (seeded by ``seed`` and the step); eval mode.

    Runs single-threaded (see ``sbp.infra.training.cpu_threads``) so the result does not depend on
    the caller's thread count.
    """
    from sbp.infra.training import cpu_threads

    with cpu_threads(1):
        return _train_factor_net(resolution, iters, batch_size, lr, seed, progress_bar)


def _train_factor_net(resolution, iters, batch_size, lr, seed, progress_bar) -> FactorNet:
    from sbp.infra.progress import progress

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FactorNet(resolution)
    ref = make_shapes(4096, resolution, seed=seed * 1_000_003 + 10**9).encoded_factors()
    net.mean.copy_(ref.mean(0))
    net.std.copy_(ref.std(0))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
    net.train()
    for it in progress(range(iters), enabled=progress_bar, desc="factor net", leave=False):
        d = make_shapes(batch_size, resolution, seed=seed * 1_000_003 + it)
        target = (d.encoded_factors() - net.mean) / net.std
        pred, logits = net(d.images)
        loss = F.mse_loss(pred, target) + F.cross_entropy(logits, d.shape)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def factor_features(net: FactorNet, images: Tensor, batch_size: int = 512) -> Tensor:
    """Penultimate activations (N, features) of ``net`` for images (N, 3, R, R) in [-1, 1]; no grad."""
    _check_images(net, images)
    with torch.no_grad():
        return torch.cat([net.features(images[i:i + batch_size]) for i in range(0, images.shape[0], batch_size)])


def predict_factors(net: FactorNet, images: Tensor) -> dict[str, Tensor]:
    """Predictions for images (N, 3, R, R): differentiable (no ``no_grad``), so usable for dP(G(z))/dz.

    Returns ``encoded`` (N, E) in the units of ``encode_factors`` (columns ``encoded_names()``),
    ``factors`` (N, F) decoded (periodic ones by atan2 into [0, 2 pi / k)), ``shape_logits`` (N, S).
    """
    _check_images(net, images)
    pred, logits = net(images)
    enc = pred * net.std + net.mean
    cols, j = [], 0
    for name in FACTOR_NAMES:
        if name in PERIODIC:
            k = PERIODIC[name]
            cols.append(torch.atan2(enc[:, j + 1], enc[:, j]).remainder(2 * math.pi) / k)
            j += 2
        else:
            cols.append(enc[:, j])
            j += 1
    return {"encoded": enc, "factors": torch.stack(cols, 1), "shape_logits": logits}


def _check_images(net: FactorNet, images: Tensor) -> None:
    R = net.resolution
    if not isinstance(images, Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (3, R, R):
        raise ValueError(f"images must be a tensor of shape (N, 3, {R}, {R}), got "
                         f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}")


def generated_features(G, net: FactorNet, n: int = 1000, seed: int = 0, batch_size: int = 250) -> Tensor:
    """Features of ``n`` samples G(z), z ~ N(0, I) drawn with a generator seeded by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.latent_dim, generator=g)
    with torch.no_grad():
        return torch.cat([factor_features(net, G(z[i:i + batch_size])) for i in range(0, n, batch_size)])


def _sqrtm_psd(a: Tensor) -> Tensor:
    w, v = torch.linalg.eigh(a)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    """Frechet distance between Gaussians fitted to feature sets (N_a, k) and (N_b, k), in float64.

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2})``; both square roots
    are of symmetric PSD matrices, computed by ``eigh`` (negative round-off eigenvalues clamped).
    """
    for n, f in (("feats_a", feats_a), ("feats_b", feats_b)):
        if not isinstance(f, Tensor) or f.ndim != 2 or f.shape[0] < 2:
            raise ValueError(f"{n} must be a (N >= 2, k) tensor, got "
                             f"{tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__}")
    if feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feature sizes differ: {feats_a.shape[1]} vs {feats_b.shape[1]}")
    a, b = feats_a.detach().double().cpu(), feats_b.detach().double().cpu()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    r = _sqrtm_psd(s_a)
    m = r @ s_b @ r
    cross = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + torch.trace(s_a) + torch.trace(s_b) - 2 * cross)


def explained_variance(pred: Tensor, target: Tensor) -> Tensor:
    """R^2 per column of (N, k) predictions: 1 - mean_i (pred_ij - target_ij)^2 / var_j(target); no grad.

    1 for a perfect prediction, 1/N for the column means (``var`` has Bessel's correction), negative when
    worse than the mean.
    """
    shapes = [tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__ for t in (pred, target)]
    if not (isinstance(pred, Tensor) and isinstance(target, Tensor)) or pred.shape != target.shape \
            or pred.ndim != 2 or pred.shape[0] < 2:
        raise ValueError(f"pred and target must be tensors of the same shape (N >= 2, k), got {shapes[0]} and {shapes[1]}")
    if bool(torch.isnan(pred).any()) or bool(torch.isnan(target).any()):
        raise ValueError("pred and target must not contain NaN")
    with torch.no_grad():
        return 1 - ((pred - target) ** 2).mean(0) / target.var(0)


def factor_net_scores(net: FactorNet, data: ShapesData) -> dict:
    """How well ``net`` reads the factors of held-out ``data``: ``explained_variance`` of the encoded factors
    (``r2``, a dict over ``encoded_names()``) and the accuracy of the argmax shape logit (``shape_accuracy``)."""
    if not isinstance(data, ShapesData):
        raise TypeError(f"data must be a ShapesData (the generated shapes), got {type(data).__name__}")
    pred = predict_factors(net, data.images)
    r2 = explained_variance(pred["encoded"], data.encoded_factors())
    acc = (pred["shape_logits"].argmax(1) == data.shape).double().mean().item()
    return {"r2": dict(zip(encoded_names(), r2.tolist())), "shape_accuracy": acc}


def frechet_distances(generators: Mapping[str, nn.Module], net: FactorNet, real: Tensor, reference: Tensor, *,
                      n: int = 1000, seed: int = 0) -> tuple[dict[str, float], float]:
    """``frechet_distance`` of each generator's n samples (``generated_features``, seeded ``seed``) to the
    ``real`` images, and the floor: the distance of a second real sample ``reference`` to ``real``.

    Returns ({name: distance}, floor), in the order of ``generators``.
    """
    if not generators:
        raise ValueError("generators must name at least one generator")
    real_feats = factor_features(net, real)
    floor = frechet_distance(real_feats, factor_features(net, reference))
    out = {name: frechet_distance(real_feats, generated_features(G, net, n, seed=seed))
           for name, G in generators.items()}
    return out, floor


def shape_report(net: FactorNet, images: Tensor, threshold: float = 0.9) -> dict:
    """How the factor network reads the shape of ``images`` (N, 3, R, R), generated or real: the share of
    each predicted shape class (``SHAPE_NAMES`` order; real data: 1/3 each), the mean top-class
    probability (``confidence``; 1 for clean shapes, lower for blobs between shapes) and the share of
    images whose top-class probability exceeds ``threshold`` (``confident_share``)."""
    _check_images(net, images)
    with torch.no_grad():
        p = torch.cat([net(images[i:i + 512])[1] for i in range(0, images.shape[0], 512)]).softmax(-1)
    share = torch.bincount(p.argmax(1), minlength=len(SHAPE_NAMES)).double() / images.shape[0]
    top = p.max(1).values
    return {"class_share": dict(zip(SHAPE_NAMES, share.tolist())), "confidence": top.mean().item(),
            "confident_share": (top > threshold).double().mean().item()}
