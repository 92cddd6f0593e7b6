"""sbp.numerics.krylov against dense references: Lanczos and Golub-Kahan on small matrices."""
import torch

from sbp.numerics.krylov import eigh_tridiagonal, golub_kahan, lanczos, tridiagonal
from helpers import designed_map

F64 = torch.float64


def spd(d, seed=0):
    M = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return M @ M.T + 0.1 * torch.eye(d, dtype=F64)


def probes(P, B, d, seed=1):
    return torch.randint(0, 2, (P, B, d), generator=torch.Generator().manual_seed(seed)).to(F64) * 2 - 1


def test_full_lanczos_recovers_the_spectrum_and_the_basis_tridiagonalizes():
    S = spd(9)
    kr = lanczos(lambda v: v @ S, probes(2, 1, 9), 9)
    assert kr.steps == 9
    theta, _ = eigh_tridiagonal(kr.tridiag())
    torch.testing.assert_close(theta[:, 0], torch.linalg.eigvalsh(S).expand(2, 9), rtol=1e-9, atol=1e-10)
    Q = torch.stack(kr.basis, -1)[:, 0]  # (P, d, k)
    torch.testing.assert_close(Q.mT @ Q, torch.eye(9, dtype=F64).expand(2, 9, 9), rtol=0, atol=1e-10)
    torch.testing.assert_close(Q.mT @ S @ Q, kr.tridiag()[:, 0], rtol=1e-9, atol=1e-9)


def test_golub_kahan_gives_the_lanczos_recurrence_of_jtj():
    A = designed_map(torch.linspace(2.0, 0.3, 6, dtype=F64), 10)
    V = probes(1, 1, 6)
    gk = golub_kahan(lambda v: v @ A.T, lambda u: u @ A, V, 6)
    lz = lanczos(lambda v: v @ (A.T @ A), V, 6)
    torch.testing.assert_close(gk.alphas, lz.alphas, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(gk.betas.abs(), lz.betas.abs(), rtol=1e-9, atol=1e-10)
    diag, sup = gk.bidiag
    Bm = torch.diag_embed(diag) + torch.diag_embed(sup, 1)
    sigma = torch.linalg.svdvals(Bm)[0, 0]
    torch.testing.assert_close(sigma, torch.linspace(2.0, 0.3, 6, dtype=F64), rtol=1e-9, atol=1e-10)


def test_stop_rule_freezes_done_probes():
    S = spd(12)
    calls = []

    def stop(kr):
        calls.append(kr.steps)
        done = torch.zeros_like(kr.done)
        done[0] = kr.steps >= 3  # probe 0 stops after 3 steps
        return done | kr.done

    kr = lanczos(lambda v: v @ S, probes(2, 1, 12), 6, stop=stop)
    assert kr.steps == 6 and bool(kr.done[0].all()) and calls == [1, 2, 3, 4, 5, 6]
    assert (kr.betas[0, :, 2:] == 0).all() and (kr.betas[1] != 0).all()  # decoupled after its third step
    ref = lanczos(lambda v: v @ S, probes(2, 1, 12), 3)
    torch.testing.assert_close(kr.alphas[0, :, :3], ref.alphas[0])


def test_tridiagonal_layout():
    T = tridiagonal(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 5.0]))
    assert torch.equal(T, torch.tensor([[1.0, 4.0, 0.0], [4.0, 2.0, 5.0], [0.0, 5.0, 3.0]]))
