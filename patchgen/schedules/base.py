"""The interface every noise schedule implements."""
from abc import ABC, abstractmethod
from typing import NamedTuple

import torch
from torch import Tensor


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
    def sample_sigma(self, n: int, device: torch.device) -> Tensor:
        """Draw (n,) training noise levels from the schedule's training law."""

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

