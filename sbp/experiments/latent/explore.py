"""Interactive latent-space explorer (notebook 07): move along eigenvectors of J^T J.

``explorer_state`` computes, at one latent code, the spectrum of G = J^T J and its top-k
eigenvectors (``sbp.numerics.eigen.metric_eigh``) plus k seeded random unit directions;
``explore`` moves the code along them and returns the image and its implicit
log-likelihood log p_Z(z) - 1/2 log det(J^T J) (Eq. 1). ``explorer_widget`` wires both
to ipywidgets sliders. The widget is a thin shell: everything it shows comes from these
two functions, which the notebook also calls headlessly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor

from sbp.numerics.checks import check_positive_int
from sbp.numerics.density import log_normal
from sbp.numerics.eigen import metric_eigh
from sbp.numerics.logdet import logdet_metric

__all__ = ["ExplorerState", "explorer_state", "explore", "explorer_widget"]


@dataclass(frozen=True)
class ExplorerState:
    z: Tensor  # (1, d) the code being explored
    eigenvalues: Tensor  # (d,) of J^T J at z, decreasing
    eigenvectors: Tensor  # (d, k) top-k, unit columns
    random_directions: Tensor  # (d, k) unit columns, seeded


def explorer_state(G: Callable[[Tensor], Tensor], latent_dim: int, *, seed: int = 0, k: int = 4) -> ExplorerState:
    """The code z ~ N(0, I) drawn from ``seed``, the spectrum of J^T J there and k directions of each kind."""
    check_positive_int(k, "k")
    if k > latent_dim:
        raise ValueError(f"k={k} directions requested but the latent size is {latent_dim}")
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(1, latent_dim, generator=gen)
    pairs = metric_eigh(G, z)
    R = torch.randn(latent_dim, k, generator=gen)
    return ExplorerState(z=z, eigenvalues=pairs.values[0], eigenvectors=pairs.vectors[0, :, :k],
                         random_directions=R / R.norm(dim=0, keepdim=True))


def explore(G: Callable[[Tensor], Tensor], state: ExplorerState, eigen_steps: Sequence[float] = (),
            random_steps: Sequence[float] = (), *, exact_max_dim: int = 256) -> tuple[Tensor, float, str]:
    """Image G(z') (C, H, W), its log-likelihood and how it was computed, for z' = z + sum steps * directions.

    The log det is exact up to ``exact_max_dim`` latent dimensions, a Chebyshev
    estimate (order 40, 16 probes, seed 0) above.
    """
    k = state.eigenvectors.shape[1]
    if len(eigen_steps) > k or len(random_steps) > k:
        raise ValueError(f"at most {k} steps of each kind, got {len(eigen_steps)} and {len(random_steps)}")
    dz = torch.zeros_like(state.z[0])
    for i, s in enumerate(eigen_steps):
        dz = dz + float(s) * state.eigenvectors[:, i]
    for i, s in enumerate(random_steps):
        dz = dz + float(s) * state.random_directions[:, i]
    z = state.z + dz
    d = z.shape[1]
    with torch.no_grad():
        if d <= exact_max_dim:
            est, how = logdet_metric(G, z, method="exact"), "exact"
        else:
            est, how = logdet_metric(G, z, order=40, probes=16, generator=0), "chebyshev estimate"
        image = G(z)[0]
    return image, (log_normal(z) - 0.5 * est.logdet).item(), how


def explorer_widget(models: Mapping[str, Callable[[Tensor], Tensor]], latent_dims: Mapping[str, int], *,
                    k: int = 4, max_step: float = 3.0):
    """An ipywidgets panel: model, latent seed, k eigen-direction and k random-direction sliders.

    Every change redraws the image and the spectrum and updates a live read-out of the
    implicit log-likelihood. The returned panel exposes ``panel.controls`` (name -> widget:
    "model", "seed", "e0".., "r0"..) and ``panel.readout`` (the read-out widget).
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    model = w.Dropdown(options=list(models), description="model")
    seed = w.IntSlider(value=0, min=0, max=99, description="latent seed")
    eig = [w.FloatSlider(value=0.0, min=-max_step, max=max_step, step=0.1, description=f"eigvec {i + 1}")
           for i in range(k)]
    rnd = [w.FloatSlider(value=0.0, min=-max_step, max=max_step, step=0.1, description=f"random {i + 1}")
           for i in range(k)]
    readout = w.HTML(value="")
    cache: dict = {}

    def show(model, seed, **steps):
        key = (model, seed)
        if key not in cache:
            cache[key] = explorer_state(models[model], latent_dims[model], seed=seed, k=k)
        st = cache[key]
        image, loglik, how = explore(models[model], st, [steps[f"e{i}"] for i in range(k)],
                                     [steps[f"r{i}"] for i in range(k)])
        readout.value = f"<b>log p(G(z)) = {loglik:.3f}</b> ({how})"
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(8, 3.2))
        a0.imshow(((image.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy())
        a0.set_title(f"log p = {loglik:.2f} ({how})")
        a0.axis("off")
        a1.semilogy(range(1, len(st.eigenvalues) + 1), st.eigenvalues.numpy(), ".-")
        a1.semilogy(range(1, k + 1), st.eigenvalues[:k].numpy(), "o", color="C3", label="slider directions")
        a1.set(xlabel="index", ylabel="eigenvalue of J^T J", title="spectrum at the seed code")
        a1.legend()
        plt.show()
        plt.close(fig)

    controls = {"model": model, "seed": seed, **{f"e{i}": s for i, s in enumerate(eig)},
                **{f"r{i}": s for i, s in enumerate(rnd)}}
    out = w.interactive_output(show, controls)
    panel = w.VBox([w.HBox([model, seed, readout]), w.HBox([w.VBox(eig), w.VBox(rnd)]), out])
    panel.controls, panel.readout = controls, readout
    display(panel)
    return panel
