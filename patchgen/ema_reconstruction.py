"""Power-function EMA profiles and their post-hoc reconstruction (EDM2, Karras et al. 2024).

An EMA with exponent ``gamma`` updates with ``beta_t = (1 - 1/t) ** (gamma + 1)``
at optimizer step ``t`` (counted from 1). After ``T`` steps the weights of step
``tau`` carry ``(tau ** (gamma + 1) - (tau - 1) ** (gamma + 1)) / T ** (gamma + 1)``:
the integral over ``(tau - 1, tau]`` of the profile

    p(s) = (gamma + 1) * s ** gamma / T ** (gamma + 1),   0 <= s <= T.

So a snapshot is exactly the continuous profile applied to the weights held
piecewise constant over each step, and least squares over profiles (with
their closed-form inner products) is exact up to the fit of the profiles.
``sigma_rel`` is the profile's standard deviation relative to ``T``.
"""
import numpy as np

from patchgen.errors import PatchgenError

SIGMA_REL_MAX = 12 ** -0.5  # gamma = 0: the uniform average of the whole run


def gamma_to_sigma_rel(gamma: float) -> float:
    """The relative standard deviation of the profile with exponent ``gamma``."""
    return float(np.sqrt((gamma + 1) / ((gamma + 2) ** 2 * (gamma + 3))))


def sigma_rel_to_gamma(sigma_rel: float) -> float:
    """The exponent ``gamma >= 0`` whose profile has relative standard deviation ``sigma_rel``.

    Solves ``sigma_rel^2 = (gamma + 1) / ((gamma + 2)^2 (gamma + 3))``, i.e. the cubic
    ``gamma^3 + 7 gamma^2 + (16 - s) gamma + (12 - s) = 0`` with ``s = sigma_rel^-2``.

    Raises:
        PatchgenError: ``sigma_rel`` is outside ``(0, 12^-0.5]`` (longer than a uniform average).
    """
    if not 0 < sigma_rel <= SIGMA_REL_MAX:
        raise PatchgenError(f'sigma_rel must be in (0, {SIGMA_REL_MAX:.4f}] (0.2887 is the '
                            f'uniform average of the whole run), got {sigma_rel}')
    s = sigma_rel ** -2
    roots = np.roots([1.0, 7.0, 16.0 - s, 12.0 - s])
    return max(0.0, float(roots[np.abs(roots.imag) < 1e-9].real.max()))


def power_beta(gamma: float, step: int) -> float:
    """The decay of a power-function EMA at optimizer step ``step`` (from 1; 0 at step 1)."""
    return (1.0 - 1.0 / step) ** (gamma + 1.0)


def profile_inner_products(steps_a: np.ndarray, gammas_a: np.ndarray, steps_b: np.ndarray,
                           gammas_b: np.ndarray) -> np.ndarray:
    """(A, B) inner products ``integral p_a(s) p_b(s) ds`` of profiles (A,) and (B,).

    For ``t_a <= t_b``: ``(g_a + 1)(g_b + 1) / (g_a + g_b + 1) * (t_a / t_b)^g_b / t_b``.
    """
    t_a, g_a = np.asarray(steps_a, float)[:, None], np.asarray(gammas_a, float)[:, None]
    t_b, g_b = np.asarray(steps_b, float)[None, :], np.asarray(gammas_b, float)[None, :]
    exponent = np.where(t_a <= t_b, g_b, -g_a)  # (A, B): the longer profile's exponent
    return ((g_a + 1) * (g_b + 1) / (g_a + g_b + 1) * (t_a / t_b) ** exponent
            / np.maximum(t_a, t_b))


def solve_coefficients(steps: np.ndarray, gammas: np.ndarray, target_step: int,
                       target_gamma: float) -> tuple[np.ndarray, float]:
    """Coefficients (N,) of N snapshot profiles whose sum best fits the target profile.

    Minimises ``|| p_target - sum_i x_i p_i ||`` in L2 (the normal equations
    ``A x = b``, A (N, N) and b (N,) the inner products), then scales x to sum to 1
    as EDM2 does. Returns x and the fit's relative L2 error
    ``|| p_target - sum_i x_i p_i || / || p_target ||`` (0: the target is a snapshot's profile).
    """
    steps, gammas = np.asarray(steps, float), np.asarray(gammas, float)
    target = (np.array([float(target_step)]), np.array([float(target_gamma)]))
    gram = profile_inner_products(steps, gammas, steps, gammas)  # (N, N)
    cross = profile_inner_products(steps, gammas, *target)[:, 0]  # (N,)
    norm = profile_inner_products(*target, *target)[0, 0]
    x = np.linalg.solve(gram, cross)
    x = x / x.sum()
    error_squared = norm - 2 * x @ cross + x @ gram @ x
    return x, float(np.sqrt(max(error_squared, 0.0) / norm))
