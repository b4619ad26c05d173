"""EDM's second-order Heun solver."""
from torch import Tensor

from patchgen.registry import SAMPLERS

from .solver import DenoiseAt, History, Solver


@SAMPLERS.register_module()
class HeunSampler(Solver):
    """Heun steps on the probability-flow ODE (Karras et al. 2022, Algorithm 2).

    Costs ``2 * num_steps - 1`` network calls: the step to sigma = 0 is an
    Euler step. Arguments as :class:`Solver` (``s_churn > 0``: EDM's stochastic sampler).
    """

    def nfe(self, num_steps: int) -> int:
        return 2 * num_steps - 1

    def step(self, denoise: DenoiseAt, x: Tensor, sigma: float, sigma_next: float,
             denoised: Tensor, history: History) -> Tensor:
        slope = (x - denoised) / sigma  # (N, C, H, W) dx/dsigma
        x_next = x + (sigma_next - sigma) * slope
        if sigma_next == 0:
            return x_next
        slope_next = (x_next - denoise(x_next, sigma_next)) / sigma_next
        return x + (sigma_next - sigma) * 0.5 * (slope + slope_next)
