"""The step loop that every built-in solver shares, with EDM's optional churn."""
import math
from abc import abstractmethod
from collections.abc import Callable

from torch import Tensor

from patchgen.errors import PatchgenError

from .base import Denoiser, Sampler
from .noise import SeededNoise

DenoiseAt = Callable[[Tensor, float], Tensor]  # D(x (N, C, H, W), sigma) -> (N, C, H, W)
History = tuple[float, Tensor] | None  # (sigma, D) of the previous step on this trajectory


class Solver(Sampler):
    """Solve the probability-flow ODE from ``sigmas[0]`` down to 0, one :meth:`step` per level.

    With ``s_churn > 0`` each step whose sigma is in ``[s_min, s_max]`` first adds
    fresh noise, raising sigma to ``sigma * (1 + gamma)`` (Karras et al. 2022,
    Algorithm 2: the stochastic sampler) and starts a new trajectory, so a
    multistep solver takes a first-order step there; with the default
    ``s_churn = 0`` the solver is deterministic. Subclasses give the step and its cost.

    Args:
        num_steps: Number of noise levels.
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
        if s_churn < 0:
            raise PatchgenError(f's_churn must be at least 0, got {s_churn}')
        self.num_steps = num_steps
        self.s_churn = s_churn
        self.s_min = s_min
        self.s_max = s_max
        self.s_noise = s_noise

    @abstractmethod
    def step(self, denoise: DenoiseAt, x: Tensor, sigma: float, sigma_next: float,
             denoised: Tensor, history: History) -> Tensor:
        """x (N, C, H, W) at ``sigma`` -> x at ``sigma_next``, given ``denoised = D(x; sigma)``
        and the previous step's (sigma, D); ``denoise`` makes any further network calls."""

    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        """Run the solver from pure noise to a clean image (see :meth:`Sampler.sample`)."""
        sigmas = sigmas.tolist()  # python floats: exact schedule, no device syncs
        x = noise.randn(*shape) * sigmas[0]  # (N, C, H, W)

        def denoise_at(x: Tensor, sigma: float) -> Tensor:
            return denoise(x, x.new_full((len(x),), sigma))

        gamma_max = min(self.s_churn / (len(sigmas) - 1), math.sqrt(2) - 1)
        history: History = None
        for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
            gamma = gamma_max if self.s_min <= sigma <= self.s_max else 0.0
            if gamma > 0:  # churn: go back up to sigma_hat with fresh noise; a new trajectory
                sigma_hat = sigma * (1 + gamma)
                x = x + math.sqrt(sigma_hat ** 2 - sigma ** 2) * self.s_noise * noise.randn(*shape)
                sigma, history = sigma_hat, None
            denoised = denoise_at(x, sigma)
            x = self.step(denoise_at, x, sigma, sigma_next, denoised, history)
            history = (sigma, denoised)
        return x
