"""The interface every noise schedule implements."""
from abc import ABC, abstractmethod
from typing import NamedTuple

import torch
from torch import Tensor

QUANTILE_EPS = 1e-6  # quantiles are kept in [eps, 1 - eps], where every law is finite
FULL_BAND = (0.0, 1.0)  # the whole training law, as a band [lo, hi) of its quantiles


class Preconditioning(NamedTuple):
    """Scalings of the denoiser ``D(x) = c_skip * x + c_out * F(c_in * x, c_noise)``."""

    c_skip: Tensor
    c_out: Tensor
    c_in: Tensor
    c_noise: Tensor


class NoiseSchedule(ABC):
    """A diffusion formulation in EDM's terms: noise level sigma, x = y + sigma * n.

    Attributes:
        sigma_min: Smallest noise level the sampler visits.
        sigma_max: Largest noise level; sampling starts from ``sigma_max * N(0, I)``.
    """

    sigma_min: float
    sigma_max: float

    @abstractmethod
    def sigma_at_quantile(self, u: Tensor) -> Tensor:
        """The training law's quantile function: sigma whose CDF is ``u`` in (0, 1), elementwise."""

    def sigma_in_band(self, uniform: Tensor, band: tuple[float, float] = FULL_BAND) -> Tensor:
        """Map uniforms in [0, 1) to noise levels whose quantiles lie in ``band = (lo, hi)``:
        the whole training law by default, its lowest levels with e.g. ``(0, 0.3)``."""
        u = band[0] + (band[1] - band[0]) * uniform
        return self.sigma_at_quantile(u.clamp(QUANTILE_EPS, 1 - QUANTILE_EPS))

    def sample_sigma(self, n: int, device: torch.device,
                     band: tuple[float, float] = FULL_BAND) -> Tensor:
        """Draw (n,) training noise levels from the training law restricted to ``band``."""
        return self.sigma_in_band(torch.rand(n, device=device), band)

    @abstractmethod
    def precondition(self, sigma: Tensor) -> Preconditioning:
        """c_skip, c_out, c_in, c_noise for each sigma, each shaped like ``sigma``."""

    @abstractmethod
    def loss_weight(self, sigma: Tensor) -> Tensor:
        """Per-sample weight lambda(sigma) of the squared denoising error."""

    @abstractmethod
    def sampling_sigmas(self, num_steps: int) -> Tensor:
        """(num_steps + 1,) float64 noise levels, decreasing, the last one 0."""


def append_zero(sigmas: Tensor) -> Tensor:
    """Close a noise-level sequence with sigma = 0 (the clean image)."""
    return torch.cat([sigmas, sigmas.new_zeros(1)])

