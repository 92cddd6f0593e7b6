import pytest
import torch
from torch import nn

import sbp
from sbp.experiments.latent.explore import explore, explorer_state, explorer_widget


def generator():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2 * 4 * 4), nn.Unflatten(1, (2, 4, 4)), nn.Tanh(),
                         nn.ConvTranspose2d(2, 3, 4, 2, 1), nn.Tanh()).eval().requires_grad_(False)


def test_state_directions_are_unit_and_eigenvectors():
    G = generator()
    st = explorer_state(G, 3, seed=1, k=2)
    assert st.eigenvectors.shape == (3, 2) and st.random_directions.shape == (3, 2)
    torch.testing.assert_close(st.random_directions.norm(dim=0), torch.ones(2))
    J = sbp.jacobian(G, st.z)[0]
    Gm = J.T @ J
    torch.testing.assert_close(Gm @ st.eigenvectors, st.eigenvectors * st.eigenvalues[:2], rtol=1e-4, atol=1e-5)
    assert st.eigenvalues[0] >= st.eigenvalues[1] >= st.eigenvalues[2]


def test_explore_moves_and_reports_exact_loglik():
    G = generator()
    st = explorer_state(G, 3, seed=1, k=2)
    img0, ll0, how = explore(G, st)
    assert how == "exact" and img0.shape == (3, 8, 8)
    ref = sbp.log_normal(st.z) - 0.5 * sbp.logdet_metric(G, st.z, method="exact").logdet
    assert ll0 == pytest.approx(ref.item(), rel=1e-5)
    img1, ll1, _ = explore(G, st, [1.0])
    assert not torch.allclose(img0, img1) and ll0 != ll1
    with pytest.raises(ValueError, match="at most 2"):
        explore(G, st, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="latent size"):
        explorer_state(G, 3, k=4)


def test_widget_reacts_to_sliders_with_the_explored_loglik():
    pytest.importorskip("ipywidgets")
    import matplotlib
    matplotlib.use("Agg")
    G = generator()
    panel = explorer_widget({"g": G}, {"g": 3}, k=2)
    st = explorer_state(G, 3, seed=0, k=2)

    def shown():
        return float(panel.readout.value.split("=")[1].split("<")[0])

    assert shown() == pytest.approx(explore(G, st)[1], abs=1e-3)
    panel.controls["e0"].value = 1.5  # a user moving the first eigen-direction slider
    assert shown() == pytest.approx(explore(G, st, [1.5, 0.0], [0.0, 0.0])[1], abs=1e-3)
    panel.controls["r1"].value = -2.0
    assert shown() == pytest.approx(explore(G, st, [1.5, 0.0], [0.0, -2.0])[1], abs=1e-3)
    panel.controls["seed"].value = 7  # another latent code
    st7 = explorer_state(G, 3, seed=7, k=2)
    assert shown() == pytest.approx(explore(G, st7, [1.5, 0.0], [0.0, -2.0])[1], abs=1e-3)
