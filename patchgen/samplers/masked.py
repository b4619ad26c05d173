"""Masked guidance: sample the unknown pixels of a canvas while the known ones stay fixed."""
import torch
from torch import Tensor

from .base import Denoiser, Sampler
from .noise import SeededNoise


class MaskedDenoiser:
    """D(x; sigma) that holds the known pixels of a canvas, around any denoiser.

    At every call the known pixels of ``x`` are replaced by the known image
    re-noised to that call's sigma, ``known + sigma * noise`` (the same noise at
    every call), and the known pixels of the output by ``known``. The network
    thus sees the unknown pixels beside correctly noised known ones and fills
    them to agree. With D equal to ``known`` there, the built-in solvers' steps
    (linear in x and D) keep the known pixels of their own state on
    ``known + sigma * c`` for a fixed c (without churn), and the last step, to
    sigma 0, lands them on ``known`` itself (with churn too).

    Args:
        denoise: The denoiser of whole canvases (plain or a :class:`TiledDenoiser`).
        known: (C, H, W) or (N, C, H, W) known values, in [-1, 1]; ignored where ``mask`` is False.
        mask: (H, W) bool, True at the known pixels.
        noise: (N, C, H, W) standard normal noise of the known pixels.
    """

    def __init__(self, denoise: Denoiser, known: Tensor, mask: Tensor, noise: Tensor) -> None:
        self.denoise = denoise
        self.known = known.to(noise.device)
        self.mask = mask.to(noise.device)
        self.noise = noise

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        """x (N, C, H, W) at noise levels sigma (N,) -> (N, C, H, W) D, ``known`` at the mask."""
        renoised = self.known + sigma.view(-1, 1, 1, 1) * self.noise  # (N, C, H, W)
        denoised = self.denoise(torch.where(self.mask, renoised, x), sigma)
        return torch.where(self.mask, self.known, denoised)


class MaskedSampler(Sampler):
    """Any sampler with the known pixels of its canvas held by a :class:`MaskedDenoiser`.

    The noise of the known pixels is one draw per pixel from each image's own
    stream (before the sampler's draws), so an image still depends only on its seed.

    Args:
        sampler: The solver that runs.
        known: (C, H, W) or (N, C, H, W) known values in [-1, 1].
        mask: (H, W) bool, True at the known pixels.
    """

    def __init__(self, sampler: Sampler, known: Tensor, mask: Tensor) -> None:
        self.sampler = sampler
        self.known = known
        self.mask = mask
        self.num_steps = sampler.num_steps

    def nfe(self, num_steps: int) -> int:
        return self.sampler.nfe(num_steps)

    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        """Run ``sampler`` with ``denoise`` masked (see :meth:`Sampler.sample`)."""
        masked = MaskedDenoiser(denoise, self.known, self.mask, noise.randn(*shape))
        return self.sampler.sample(masked, sigmas, noise, shape)
