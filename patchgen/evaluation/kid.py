"""Kernel Inception Distance: unbiased squared MMD with a cubic polynomial kernel."""
import numpy as np

from patchgen.errors import PatchgenError

from .frechet import as_feature_arrays


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / D + 1)^3 for (M, D) x and (L, D) y, giving (M, L)."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 estimate between (M, D) x and (M, D) y (within-set diagonals left out)."""
    m = len(x)
    k_xx = _polynomial_kernel(x, x)  # (M, M)
    k_yy = _polynomial_kernel(y, y)  # (M, M)
    k_xy = _polynomial_kernel(x, y)  # (M, M)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


def kernel_inception_distance(features_a: np.ndarray, features_b: np.ndarray,
                              num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID: unbiased MMD^2 with k(x, y) = (x . y / D + 1)^3, over random subsets.

    Each subset draws ``subset_size`` samples without replacement from each set
    (capped by the smaller set), with a NumPy generator seeded by ``seed``.

    Args:
        features_a: (N, D) features of one set.
        features_b: (M, D) features of the other set.
        num_subsets: Subsets to average over.
        subset_size: Samples per set in each subset.
        seed: Seed of the subset draws.

    Returns:
        Mean and (population) standard deviation of the estimate over subsets, float64.
    """
    features_a, features_b = as_feature_arrays(features_a=features_a, features_b=features_b)
    if num_subsets < 1:
        raise PatchgenError(f'KID needs num_subsets >= 1, got {num_subsets}: raise num_subsets')
    size = min(subset_size, len(features_a), len(features_b))
    if size < 2:
        raise PatchgenError(f'KID needs subsets of at least 2 samples, got {size} (subset_size '
                            f'{subset_size}, sets of {len(features_a)} and {len(features_b)}): '
                            f'use more samples or a larger subset_size')
    rng = np.random.default_rng(seed)
    estimates = np.array([
        _unbiased_mmd2(features_a[rng.choice(len(features_a), size, replace=False)],
                       features_b[rng.choice(len(features_b), size, replace=False)])
        for _ in range(num_subsets)])  # (num_subsets,)
    return float(estimates.mean()), float(estimates.std())
