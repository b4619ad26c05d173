"""Loss weightings: how much each noise level (and patch size) counts in the training loss.

A weighting turns the squared denoising error of each patch into its loss:

- ``EDMWeighting`` (default): the schedule's lambda(sigma) (EDM: 1/c_out^2).
- ``MinSNRWeighting`` (Hang et al. 2023): min(SNR, gamma) / sigma_data^2 with
  SNR = sigma_data^2 / sigma^2; EDM's lambda is (SNR + 1) / sigma_data^2, so
  Min-SNR caps the weight of the lowest noise levels and drops the +1.
- ``LearnedUncertaintyWeighting`` (EDM2, Karras et al. 2024): a small network of
  the noise level and patch size predicts a log-variance u, and the loss is
  ``lambda * error / exp(u) + u``, which balances noise levels and patch sizes
  by their own uncertainty as training goes.
"""
import math

import torch
from torch import Tensor, nn

from patchgen.errors import PatchgenError
from patchgen.registry import LOSS_WEIGHTINGS


class LossWeighting(nn.Module):
    """Base class: ``forward(sigma, base_weight, squared_error, size_fraction) -> loss``.

    Args of forward:
        sigma: (N,) noise levels.
        base_weight: (N,) the schedule's lambda(sigma).
        squared_error: (N, C, s, s) squared denoising error.
        size_fraction: Patch side over the full resolution, in (0, 1].

    Returns:
        (N, C, s, s) elementwise loss, reduced by the model.
    """


@LOSS_WEIGHTINGS.register_module()
class EDMWeighting(LossWeighting):
    """The schedule's own lambda(sigma): EDM's weighting, and the paper's."""

    def forward(self, sigma: Tensor, base_weight: Tensor, squared_error: Tensor,
                size_fraction: float) -> Tensor:
        return base_weight.view(-1, 1, 1, 1) * squared_error


@LOSS_WEIGHTINGS.register_module()
class MinSNRWeighting(LossWeighting):
    """Min-SNR-gamma: weight min(SNR, gamma) / sigma_data^2, SNR = sigma_data^2 / sigma^2.

    Args:
        gamma: Cap on the signal-to-noise ratio (5 in Hang et al.).
        sigma_data: Standard deviation of the data.
    """

    def __init__(self, gamma: float = 5.0, sigma_data: float = 0.5) -> None:
        super().__init__()
        if gamma <= 0 or sigma_data <= 0:
            raise PatchgenError(f'MinSNRWeighting needs gamma > 0 and sigma_data > 0, got '
                                f'{gamma} and {sigma_data}')
        self.gamma = gamma
        self.sigma_data = sigma_data

    def forward(self, sigma: Tensor, base_weight: Tensor, squared_error: Tensor,
                size_fraction: float) -> Tensor:
        snr = self.sigma_data ** 2 / sigma ** 2  # (N,)
        weight = snr.clamp(max=self.gamma) / self.sigma_data ** 2
        return weight.view(-1, 1, 1, 1) * squared_error


@LOSS_WEIGHTINGS.register_module()
class LearnedUncertaintyWeighting(LossWeighting):
    """EDM2's learned weighting: ``lambda * error / exp(u) + u``, u a function of
    ln(sigma) and the patch size.

    u comes from a linear layer over fixed random Fourier features of
    ``ln(sigma) / 4`` and the patch's size fraction; it starts at zero (the loss
    is then the base weighting's) and trains with the network.

    Args:
        features: Number of Fourier features.
    """

    def __init__(self, features: int = 64) -> None:
        super().__init__()
        if features < 2 or features % 2:
            raise PatchgenError(f'features must be an even number >= 2, got {features}')
        generator = torch.Generator().manual_seed(0)
        self.register_buffer('freqs', 2 * math.pi * torch.randn(features // 2, 2,
                                                                generator=generator))
        self.register_buffer('phases', 2 * math.pi * torch.rand(features // 2,
                                                                generator=generator))
        self.linear = nn.Linear(features, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def log_variance(self, sigma: Tensor, size_fraction: float) -> Tensor:
        """(N,) learned log-variance u(sigma, size)."""
        inputs = torch.stack([sigma.log() / 4, torch.full_like(sigma, size_fraction)], dim=1)
        angles = inputs @ self.freqs.T + self.phases  # (N, features / 2)
        fourier = torch.cat([angles.cos(), angles.sin()], dim=1) * 2 ** 0.5  # (N, features)
        return self.linear(fourier).squeeze(1)

    def forward(self, sigma: Tensor, base_weight: Tensor, squared_error: Tensor,
                size_fraction: float) -> Tensor:
        u = self.log_variance(sigma, size_fraction).view(-1, 1, 1, 1)
        return base_weight.view(-1, 1, 1, 1) * squared_error / u.exp() + u
