"""EDM (Karras et al. 2022): log-normal training sigmas, sigma_data preconditioning."""
import torch
from torch import Tensor

from patchgen.registry import NOISE_SCHEDULES

from .base import NoiseSchedule, Preconditioning, append_zero


@NOISE_SCHEDULES.register_module()
class EDM(NoiseSchedule):
    """The schedule Patch Diffusion trains with.

    Args:
        p_mean: Mean of ln(sigma) during training.
        p_std: Standard deviation of ln(sigma) during training.
        sigma_data: Standard deviation of the data.
        sigma_min: Lowest sampling noise level.
        sigma_max: Highest sampling noise level.
        rho: Curvature of the sampling discretisation.
    """

    def __init__(self,
                 p_mean: float = -1.2,
                 p_std: float = 1.2,
                 sigma_data: float = 0.5,
                 sigma_min: float = 0.002,
                 sigma_max: float = 80.0,
                 rho: float = 7.0) -> None:
        self.p_mean = p_mean
        self.p_std = p_std
        self.sigma_data = sigma_data
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.rho = rho

    def sigma_at_quantile(self, u: Tensor) -> Tensor:
        normal = 2 ** 0.5 * torch.erfinv(2 * u - 1)  # standard normal quantile
        return (normal * self.p_std + self.p_mean).exp()

    def precondition(self, sigma: Tensor) -> Preconditioning:
        sd2 = self.sigma_data ** 2
        norm = (sigma ** 2 + sd2).sqrt()
        return Preconditioning(c_skip=sd2 / norm ** 2,
                               c_out=sigma * self.sigma_data / norm,
                               c_in=1 / norm,
                               c_noise=sigma.log() / 4)

    def loss_weight(self, sigma: Tensor) -> Tensor:
        return (sigma ** 2 + self.sigma_data ** 2) / (sigma * self.sigma_data) ** 2

    def sampling_sigmas(self, num_steps: int) -> Tensor:
        ramp = torch.linspace(0, 1, num_steps, dtype=torch.float64)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        return append_zero((hi + ramp * (lo - hi)) ** self.rho)

