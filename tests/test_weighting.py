"""Loss weightings: the formulas, and that the learned weighting finds each level's error."""
import pytest
import torch

from patchgen.errors import PatchgenError
from patchgen.models import EDMWeighting, LearnedUncertaintyWeighting, MinSNRWeighting
from patchgen.schedules import EDM


def test_edm_weighting_is_the_schedules_lambda() -> None:
    sigma = torch.tensor([0.01, 0.5, 10.0])
    error = torch.rand(3, 1, 4, 4)
    base = EDM().loss_weight(sigma)
    torch.testing.assert_close(EDMWeighting()(sigma, base, error, 0.5),
                               base.view(-1, 1, 1, 1) * error)
    # EDM's lambda is (SNR + 1) / sigma_data^2 with SNR = sigma_data^2 / sigma^2
    torch.testing.assert_close(base, (0.25 / sigma ** 2 + 1) / 0.25)


def test_min_snr_caps_low_noise_weights_at_gamma() -> None:
    weighting = MinSNRWeighting(gamma=5.0, sigma_data=0.5)
    sigma = torch.tensor([0.01, 0.5 / 5 ** 0.5, 0.5, 10.0])  # SNR 2500, 5, 1, 0.0025
    error = torch.ones(4, 1, 2, 2)
    weights = weighting(sigma, torch.zeros(4), error, 1.0)[:, 0, 0, 0]
    torch.testing.assert_close(weights, torch.tensor([5.0, 5.0, 1.0, 0.0025]) / 0.25)
    with pytest.raises(PatchgenError, match='gamma'):
        MinSNRWeighting(gamma=0)


def test_learned_uncertainty_starts_as_the_base_and_learns_each_levels_error() -> None:
    weighting = LearnedUncertaintyWeighting(features=32)
    sigma = torch.tensor([0.05, 0.5, 5.0]).repeat(64)  # (192,)
    base = torch.ones(192)
    # the weighted error is 10x larger at low noise than at high noise
    error = torch.tensor([1.0, 0.3, 0.1]).repeat(64).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    torch.testing.assert_close(weighting(sigma, base, error, 1.0), error)  # u = 0 at first
    optimizer = torch.optim.Adam(weighting.parameters(), lr=0.05)
    for _ in range(400):
        optimizer.zero_grad()
        weighting(sigma, base, error, 1.0).mean().backward()
        optimizer.step()
    # lambda * e / exp(u) + u is least at u = ln(lambda * e)
    u = weighting.log_variance(sigma[:3], 1.0).detach()
    torch.testing.assert_close(u, torch.tensor([1.0, 0.3, 0.1]).log(), atol=0.05, rtol=0)
