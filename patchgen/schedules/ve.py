"""Variance exploding (SMLD / NCSN++, Song et al. 2021) in EDM's sigma parameterisation."""
import math

import torch
from torch import Tensor

from patchgen.registry import NOISE_SCHEDULES

from .base import NoiseSchedule, Preconditioning, append_zero


@NOISE_SCHEDULES.register_module()
class VE(NoiseSchedule):
    """Log-uniform training sigmas; the network predicts the scaled noise.

    Args:
        sigma_min: Lowest noise level, for training and sampling.
        sigma_max: Highest noise level, for training and sampling.
    """

    def __init__(self, sigma_min: float = 0.02, sigma_max: float = 100.0) -> None:
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max

    def sigma_at_quantile(self, u: Tensor) -> Tensor:
        low, high = math.log(self.sigma_min), math.log(self.sigma_max)  # ln(sigma) uniform
        return (low + u * (high - low)).exp()

    def precondition(self, sigma: Tensor) -> Preconditioning:
        return Preconditioning(c_skip=torch.ones_like(sigma),
                               c_out=sigma,
                               c_in=torch.ones_like(sigma),
                               c_noise=(0.5 * sigma).log())

    def loss_weight(self, sigma: Tensor) -> Tensor:
        return 1 / sigma ** 2

    def sampling_sigmas(self, num_steps: int) -> Tensor:
        ramp = torch.linspace(0, 1, num_steps, dtype=torch.float64)
        return append_zero(self.sigma_max * (self.sigma_min / self.sigma_max) ** ramp)
