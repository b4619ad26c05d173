"""Variance preserving (DDPM / Song et al. 2021) in EDM's sigma parameterisation."""
import torch
from torch import Tensor

from patchgen.registry import NOISE_SCHEDULES

from .base import NoiseSchedule, Preconditioning, append_zero


@NOISE_SCHEDULES.register_module()
class VP(NoiseSchedule):
    """sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1); the network predicts the noise.

    Args:
        beta_d: Extent of the linear beta schedule.
        beta_min: Initial beta.
        num_timesteps: M, the discrete-time scale of the noise conditioning.
        epsilon_t: Smallest training time t.
        epsilon_s: Smallest sampling time t.
    """

    def __init__(self,
                 beta_d: float = 19.9,
                 beta_min: float = 0.1,
                 num_timesteps: int = 1000,
                 epsilon_t: float = 1e-5,
                 epsilon_s: float = 1e-3) -> None:
        self.beta_d = beta_d
        self.beta_min = beta_min
        self.num_timesteps = num_timesteps
        self.epsilon_t = epsilon_t
        self.epsilon_s = epsilon_s
        self.sigma_min = float(self.sigma(torch.tensor(epsilon_s, dtype=torch.float64)))
        self.sigma_max = float(self.sigma(torch.tensor(1.0, dtype=torch.float64)))

    def sigma(self, t: Tensor) -> Tensor:
        """Noise level at time t in [0, 1]."""
        return (0.5 * self.beta_d * t ** 2 + self.beta_min * t).expm1().sqrt()

    def time(self, sigma: Tensor) -> Tensor:
        """Inverse of :meth:`sigma`."""
        b = self.beta_min
        return ((b ** 2 + 2 * self.beta_d * sigma.square().log1p()).sqrt() - b) / self.beta_d

    def sigma_at_quantile(self, u: Tensor) -> Tensor:
        return self.sigma(self.epsilon_t + u * (1 - self.epsilon_t))  # t uniform

    def precondition(self, sigma: Tensor) -> Preconditioning:
        return Preconditioning(c_skip=torch.ones_like(sigma),
                               c_out=-sigma,
                               c_in=1 / (sigma ** 2 + 1).sqrt(),
                               c_noise=(self.num_timesteps - 1) * self.time(sigma))

    def loss_weight(self, sigma: Tensor) -> Tensor:
        return 1 / sigma ** 2

    def sampling_sigmas(self, num_steps: int) -> Tensor:
        t = torch.linspace(1, self.epsilon_s, num_steps, dtype=torch.float64)
        return append_zero(self.sigma(t))
