"""Noise schedules: preconditioning identities, training laws, sampling sigmas."""
import math

import pytest
import torch

from patchgen.schedules import EDM, VE, VP

SCHEDULES = [EDM(), VP(), VE()]


@pytest.mark.parametrize('schedule', SCHEDULES, ids=lambda s: type(s).__name__)
def test_denoiser_tends_to_identity_as_sigma_goes_to_zero(schedule) -> None:
    # D(x; sigma) = c_skip x + c_out F: for any bounded F, D -> x as sigma -> 0.
    sigma = torch.tensor([1e-6], dtype=torch.float64)
    c = schedule.precondition(sigma)
    x, f = torch.randn(1000, dtype=torch.float64), torch.randn(1000, dtype=torch.float64)
    assert torch.allclose(c.c_skip * x + c.c_out * f, x, atol=1e-5)


def test_edm_preconditioning_gives_unit_variance_inputs_and_targets() -> None:
    edm = EDM()
    sd = edm.sigma_data
    sigma = torch.logspace(-3, 2, 50, dtype=torch.float64)
    c = edm.precondition(sigma)
    # Input c_in * (y + sigma n) has unit variance for data of std sigma_data.
    assert torch.allclose(c.c_in ** 2 * (sd ** 2 + sigma ** 2), torch.ones_like(sigma))
    # The network's effective target (y - c_skip x) / c_out has unit variance too.
    target_var = ((1 - c.c_skip) ** 2 * sd ** 2 + c.c_skip ** 2 * sigma ** 2) / c.c_out ** 2
    assert torch.allclose(target_var, torch.ones_like(sigma))
    # The loss weight makes the effective weight on F's error exactly 1.
    assert torch.allclose(edm.loss_weight(sigma) * c.c_out ** 2, torch.ones_like(sigma))
    assert torch.allclose(c.c_noise, sigma.log() / 4)


def test_training_sigma_laws() -> None:
    torch.manual_seed(0)
    log_edm = EDM().sample_sigma(200_000, torch.device('cpu')).log()
    assert abs(log_edm.mean() + 1.2) < 0.02 and abs(log_edm.std() - 1.2) < 0.02
    ve = VE()
    log_ve = ve.sample_sigma(200_000, torch.device('cpu')).log()
    assert log_ve.min() >= math.log(ve.sigma_min) and log_ve.max() <= math.log(ve.sigma_max)
    assert abs(log_ve.mean() - (math.log(0.02) + math.log(100)) / 2) < 0.02
    vp = VP()
    t = vp.time(vp.sample_sigma(200_000, torch.device('cpu')).double())
    assert abs(t.mean() - 0.5) < 0.01 and t.min() >= vp.epsilon_t - 1e-6


def test_vp_time_inverts_sigma_and_vp_ve_net_targets() -> None:
    vp = VP()
    t = torch.linspace(1e-3, 1, 100, dtype=torch.float64)
    assert torch.allclose(vp.time(vp.sigma(t)), t, atol=1e-9)
    sigma = torch.tensor([0.5, 3.0], dtype=torch.float64)
    c = vp.precondition(sigma)
    assert torch.allclose(c.c_out, -sigma) and torch.allclose(c.c_noise, 999 * vp.time(sigma))
    c = VE().precondition(sigma)
    assert torch.allclose(c.c_out, sigma) and torch.allclose(c.c_noise, (sigma / 2).log())


@pytest.mark.parametrize('schedule', SCHEDULES, ids=lambda s: type(s).__name__)
def test_sampling_sigmas_decrease_from_sigma_max_to_zero(schedule) -> None:
    sigmas = schedule.sampling_sigmas(18)
    assert sigmas.dtype == torch.float64 and sigmas.shape == (19,)
    assert sigmas[-1] == 0 and math.isclose(sigmas[0], schedule.sigma_max, rel_tol=1e-9)
    assert math.isclose(sigmas[-2], schedule.sigma_min, rel_tol=1e-9)
    assert (sigmas[1:] < sigmas[:-1]).all()


def test_edm_sampling_sigmas_follow_the_rho_formula() -> None:
    edm = EDM()
    sigmas = edm.sampling_sigmas(18)
    i = 7
    expected = (80 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    assert math.isclose(sigmas[i], expected, rel_tol=1e-12)
