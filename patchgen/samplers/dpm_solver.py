"""DPM-Solver++(2M): a second-order multistep solver in data prediction."""
import math

from torch import Tensor

from patchgen.registry import SAMPLERS

from .solver import DenoiseAt, History, Solver


@SAMPLERS.register_module()
class DPMSolverPP2MSampler(Solver):
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) in EDM's parametrisation.

    With x = data + sigma * noise, time is t = sigma and lambda = -log(sigma).
    Each step reuses the previous step's denoiser output for a second-order
    estimate, so it costs one network call; the first step and the step to
    sigma = 0 are first order. Costs ``num_steps`` network calls. Arguments as
    :class:`Solver` (with churn, the previous output is taken at its own sigma).
    """

    def nfe(self, num_steps: int) -> int:
        return num_steps

    def step(self, denoise: DenoiseAt, x: Tensor, sigma: float, sigma_next: float,
             denoised: Tensor, history: History) -> Tensor:
        if sigma_next == 0:
            return denoised
        h = math.log(sigma / sigma_next)  # lambda_next - lambda
        if history is not None:
            sigma_prev, denoised_prev = history
            r = math.log(sigma_prev / sigma) / h  # h_last / h
            denoised = (1 + 0.5 / r) * denoised - (0.5 / r) * denoised_prev  # (N, C, H, W)
        return (sigma_next / sigma) * x - math.expm1(-h) * denoised
