"""sbp.numerics.checks and the input checks of the facade: clear errors that name the argument and the fix."""
import pytest
import torch
from torch import nn

import sbp
from sbp.numerics.checks import check_eval_mode, check_latent, check_positive_int

F64 = torch.float64
A = torch.randn(12, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
Z = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
ALL = ["chebyshev", "taylor", "slq", "bidiag", "exact"]


def test_check_latent_and_positive_int():
    assert check_latent(Z) is Z
    with pytest.raises(ValueError, match="2-D"):
        check_latent(Z[0])
    assert check_positive_int(3, "order") == 3
    with pytest.raises(TypeError, match="order must be an int"):
        check_positive_int(True, "order")


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("cut", ["detach", "round", "argmax"])
def test_output_that_does_not_depend_on_z_is_an_error(method, cut):
    # before: -inf on every row, with no hint
    body = {"detach": lambda z: z.detach() @ A.T, "round": lambda z: torch.round(z) @ A.T,
            "argmax": lambda z: torch.nn.functional.one_hot(z.argmax(1), 4).to(F64) @ A.T}[cut]
    with pytest.raises(ValueError, match="does not depend on z"):
        sbp.logdet_metric(body, Z, method=method, generator=0)


def test_output_that_does_not_depend_on_z_is_an_error_with_a_tolerance():
    with pytest.raises(ValueError, match="does not depend on z"):
        sbp.logdet_metric(lambda z: z.detach() @ A.T, Z, rtol=0.1, generator=0)


@pytest.mark.parametrize("jvp_mode", ["forward", "reverse", "dense"])
@pytest.mark.parametrize("method", ["chebyshev", "exact"])
def test_scalar_output_is_an_error_naming_the_batch_dimension(method, jvp_mode):
    # before: IndexError from jacobian.py
    with pytest.raises(ValueError, match="batch dimension"):
        sbp.logdet_metric(lambda z: (z @ A.T).sum(), Z, method=method, jvp_mode=jvp_mode)


@pytest.mark.parametrize("layer", [lambda: nn.Dropout(0.2), lambda: nn.BatchNorm1d(8), lambda: nn.AlphaDropout(0.1)])
@pytest.mark.parametrize("method", ["chebyshev", "exact", "slq"])
def test_module_in_training_mode_with_dropout_or_batch_norm_is_told_to_call_eval(layer, method):
    # before: dropout a different number at every call with generator=0; exact a vmap randomness error;
    # batch norm a functorch in-place error
    f = nn.Sequential(nn.Linear(4, 8), layer(), nn.Linear(8, 12)).double()
    with pytest.raises(ValueError, match=r"training mode and holds .*call f\.eval\(\)"):
        sbp.logdet_metric(f, Z, method=method, generator=0)
    f.eval()
    a = sbp.logdet_metric(f, Z, method=method, generator=0).logdet
    b = sbp.logdet_metric(f, Z, method=method, generator=0).logdet
    assert torch.equal(a, b) and torch.isfinite(a).all()


def test_training_mode_without_dropout_or_batch_norm_is_fine():
    f = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.LayerNorm(8), nn.Linear(8, 12)).double()
    assert f.training
    check_eval_mode(f)
    check_eval_mode(lambda z: z)  # not a module: nothing to check


@pytest.mark.parametrize("method", ["exact", "chebyshev"])
def test_errors_inside_f_under_torch_func_are_reraised_naming_f(method):
    def noisy(z):  # a random op under vmap (exact's columns; forward products)
        return (z + 1e-3 * torch.randn_like(z)) @ A.T
    with pytest.raises(RuntimeError, match="f raised while sbp took its Jacobian-vector products"):
        sbp.logdet_metric(noisy, Z, method=method, jvp_mode="forward", generator=0)


@pytest.mark.parametrize("method", ["chebyshev", "slq", "exact"])
def test_logdet_matvec_of_the_wrong_shape_is_an_error(method):
    # before: broadcast, -inf
    S = A.T @ A
    with pytest.raises(ValueError, match="same shape"):
        sbp.logdet(lambda v: (v @ S).sum(-1, keepdim=True), 4, method=method, generator=0)
    with pytest.raises(ValueError, match="same shape"):  # one row of a batch of 2
        sbp.logdet(lambda v: (v @ S)[:, :1], 4, batch=2, method=method, generator=0)
