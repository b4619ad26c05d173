"""The interface every sampler implements."""
from abc import ABC, abstractmethod
from collections.abc import Callable

from torch import Tensor

from .noise import SeededNoise

Denoiser = Callable[[Tensor, Tensor], Tensor]  # D(x (N, C, H, W), sigma (N,)) -> (N, C, H, W)


class Sampler(ABC):
    """Turns a denoiser into images, from pure noise down a decreasing list of noise levels.

    ``PatchDiffusion.generate`` builds it from ``SAMPLERS`` and passes the
    schedule's ``sampling_sigmas(num_steps)``. All randomness must come from
    ``noise``, so that an image depends on its seed and not on its batch.
    :class:`patchgen.testing.SamplerContract` checks this and the output.

    Attributes:
        num_steps: Number of noise levels the sampler visits by default.
    """

    num_steps: int

    @abstractmethod
    def nfe(self, num_steps: int) -> int:
        """Denoiser calls (network evaluations) of one :meth:`sample` over ``num_steps`` levels."""

    @abstractmethod
    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        """Run the sampler from pure noise to a clean image.

        Args:
            denoise: The denoiser D(x; sigma), called with (N, C, H, W) float32 x and (N,) sigma.
            sigmas: (num_steps + 1,) decreasing noise levels ending in 0.
            noise: Per-image random streams (initial noise and any fresh noise).
            shape: (C, H, W) of one image.

        Returns:
            (N, C, H, W) float32 samples.
        """
