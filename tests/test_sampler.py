"""The solvers solve the probability-flow ODE; images depend on their seeds only."""
import math

import pytest
import torch

from patchgen.samplers import DPMSolverPP2MSampler, EulerSampler, HeunSampler, SeededNoise
from patchgen.schedules import EDM
from patchgen.testing import SamplerContract
from patchgen.testing.contracts import gaussian_denoiser as shifted_gaussian_denoiser
from patchgen.testing.contracts import gaussian_error

SIGMA_DATA = 0.5


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The exact denoiser for data ~ N(0, SIGMA_DATA^2 I)."""
    return SIGMA_DATA ** 2 / (sigma.view(-1, 1, 1, 1) ** 2 + SIGMA_DATA ** 2) * x


def heun_relative_error(num_steps: int) -> float:
    """Relative error of Heun sampling against the exact ODE solution for Gaussian data.

    The ODE scales x by sqrt(sigma^2 + sd^2): x_0 = x_T * sd / sqrt(sigma_max^2 + sd^2).
    """
    sigmas = EDM().sampling_sigmas(num_steps)
    out = HeunSampler(num_steps).sample(gaussian_denoiser, sigmas, SeededNoise(range(8), 'cpu'),
                                        (1, 4, 4))
    start = SeededNoise(range(8), 'cpu').randn(1, 4, 4) * sigmas[0].item()
    exact = start * SIGMA_DATA / math.sqrt(sigmas[0].item() ** 2 + SIGMA_DATA ** 2)
    return ((out - exact).abs() / exact.abs()).max().item()


def test_deterministic_heun_converges_to_the_exact_ode_solution_at_second_order() -> None:
    errors = [heun_relative_error(n) for n in (25, 50, 100)]
    assert errors[2] < 2e-3
    assert errors[0] / errors[1] > 3 and errors[1] / errors[2] > 3  # halving the step: ~4x


def test_stochastic_sampler_keeps_the_data_distribution() -> None:
    sigmas = EDM().sampling_sigmas(100)
    sampler = HeunSampler(100, s_churn=40, s_min=0.05, s_max=50, s_noise=1.0)
    out = sampler.sample(gaussian_denoiser, sigmas, SeededNoise(range(2000), 'cpu'), (1, 2, 2))
    assert abs(out.std().item() - SIGMA_DATA) < 0.015  # sampling error of the std: ~0.004
    deterministic = HeunSampler(100).sample(gaussian_denoiser, sigmas,
                                           SeededNoise(range(2000), 'cpu'), (1, 2, 2))
    assert not torch.allclose(out, deterministic)  # churn really adds noise


def test_network_calls_are_two_per_step_but_one_on_the_last() -> None:
    calls = []

    def counting(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        calls.append(sigma[0].item())
        assert x.dtype == torch.float32  # no float64 in the hot path
        return gaussian_denoiser(x, sigma)

    HeunSampler(18).sample(counting, EDM().sampling_sigmas(18), SeededNoise([0], 'cpu'), (1, 2, 2))
    assert len(calls) == 35


def test_dpm_solver_at_15_nfe_beats_heun_at_15_nfe_threefold() -> None:
    def error(sampler: HeunSampler | DPMSolverPP2MSampler) -> float:
        sigmas = EDM().sampling_sigmas(sampler.num_steps)
        samples = sampler.sample(shifted_gaussian_denoiser, sigmas, SeededNoise(range(256), 'cpu'),
                                 (3, 8, 8))
        return gaussian_error(samples)

    dpm, heun = DPMSolverPP2MSampler(15), HeunSampler(8)
    assert dpm.nfe(15) == heun.nfe(8) == 15
    assert error(dpm) < 0.12 and error(dpm) < error(heun) / 3  # measured: 0.10 and 0.40


@pytest.mark.parametrize('solver', [EulerSampler, HeunSampler, DPMSolverPP2MSampler])
def test_churn_adds_noise_within_s_min_s_max_only(solver: type) -> None:
    sigmas = EDM().sampling_sigmas(8)
    deterministic, churned, outside = (
        solver(8, **churn).sample(gaussian_denoiser, sigmas, SeededNoise([0, 1], 'cpu'), (1, 2, 2))
        for churn in ({}, dict(s_churn=5, s_min=0.05, s_max=50), dict(s_churn=5, s_min=100)))
    assert not torch.allclose(churned, deterministic)
    assert torch.equal(outside, deterministic)  # no sigma in [100, inf): no noise, same path


class TestEulerSamplerContract(SamplerContract):
    sampler = dict(type='EulerSampler', num_steps=18)
    gaussian_tolerances = (0.4, 0.1)  # measured: 0.33 at 8 steps, 0.081 at 32


class TestStochasticEulerSamplerContract(SamplerContract):
    sampler = dict(type='EulerSampler', num_steps=18, s_churn=10, s_min=0.05, s_max=50)
    gaussian_tolerances = (0.45, 0.2)  # measured: 0.38, 0.15


class TestHeunSamplerContract(SamplerContract):
    sampler = dict(type='HeunSampler', num_steps=18)
    gaussian_tolerances = (0.5, 0.03)  # measured: 0.40, 0.024


class TestStochasticHeunSamplerContract(SamplerContract):
    sampler = dict(type='HeunSampler', num_steps=18, s_churn=10, s_min=0.05, s_max=50)
    gaussian_tolerances = (0.75, 0.06)  # measured: 0.64, 0.044


class TestDPMSolverPP2MSamplerContract(SamplerContract):
    sampler = dict(type='DPMSolverPP2MSampler', num_steps=12)
    gaussian_tolerances = (0.2, 0.03)  # measured: 0.16, 0.025


class TestStochasticDPMSolverPP2MSamplerContract(SamplerContract):
    sampler = dict(type='DPMSolverPP2MSampler', num_steps=12, s_churn=10, s_min=0.05, s_max=50)
    gaussian_tolerances = (0.45, 0.2)  # measured: 0.37, 0.14
