"""EDM's second-order Heun sampler, deterministic or stochastic."""
import math

from torch import Tensor

from patchgen.errors import PatchgenError
from patchgen.registry import SAMPLERS

from .base import Denoiser, Sampler
from .noise import SeededNoise


@SAMPLERS.register_module()
class HeunSampler(Sampler):
    """Solve the probability-flow ODE with Heun steps (Karras et al. 2022, Algorithm 2).

    With ``s_churn > 0`` each step in ``[s_min, s_max]`` first adds fresh noise
    (the stochastic sampler); with the default ``s_churn = 0`` it is deterministic.

    Args:
        num_steps: Number of noise levels; costs ``2 * num_steps - 1`` network calls.
        s_churn: Total amount of stochasticity.
        s_min: Lowest sigma at which noise is added.
        s_max: Highest sigma at which noise is added.
        s_noise: Scale of the added noise.
    """

    def __init__(self,
                 num_steps: int = 18,
                 s_churn: float = 0.0,
                 s_min: float = 0.0,
                 s_max: float = math.inf,
                 s_noise: float = 1.0) -> None:
        if num_steps < 1:
            raise PatchgenError(f'num_steps must be at least 1, got {num_steps}')
        self.num_steps = num_steps
        self.s_churn = s_churn
        self.s_min = s_min
        self.s_max = s_max
        self.s_noise = s_noise

    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        """Run the sampler from pure noise to a clean image (see :meth:`Sampler.sample`)."""
        sigmas = sigmas.tolist()  # python floats: exact schedule, no device syncs
        x = noise.randn(*shape) * sigmas[0]  # (N, C, H, W)
        n = x.shape[0]
        gamma_max = min(self.s_churn / (len(sigmas) - 1), math.sqrt(2) - 1)
        for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
            gamma = gamma_max if self.s_min <= sigma <= self.s_max else 0.0
            sigma_hat = sigma * (1 + gamma)
            if gamma > 0:
                x = x + math.sqrt(sigma_hat ** 2 - sigma ** 2) * self.s_noise * noise.randn(*shape)
            slope = (x - denoise(x, x.new_full((n,), sigma_hat))) / sigma_hat
            x_next = x + (sigma_next - sigma_hat) * slope
            if sigma_next > 0:  # second-order correction, except on the last step
                slope_next = (x_next - denoise(x_next, x.new_full((n,), sigma_next))) / sigma_next
                x_next = x + (sigma_next - sigma_hat) * 0.5 * (slope + slope_next)
            x = x_next
        return x
