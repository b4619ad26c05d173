"""The first-order Euler solver."""
from torch import Tensor

from patchgen.registry import SAMPLERS

from .solver import DenoiseAt, History, Solver


@SAMPLERS.register_module()
class EulerSampler(Solver):
    """Euler steps on the probability-flow ODE (DDIM in EDM's parametrisation).

    Costs ``num_steps`` network calls. Arguments as :class:`Solver`
    (``s_churn > 0``: Euler with EDM's churn, an SDE solver).
    """

    def nfe(self, num_steps: int) -> int:
        return num_steps

    def step(self, denoise: DenoiseAt, x: Tensor, sigma: float, sigma_next: float,
             denoised: Tensor, history: History) -> Tensor:
        return x + (sigma_next - sigma) * (x - denoised) / sigma  # (N, C, H, W)
