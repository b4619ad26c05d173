"""Frechet distance between Gaussians fitted to two feature sets (FID with Inception features)."""
import warnings

import numpy as np
from scipy import linalg

from patchgen.errors import PatchgenError

# Largest |imaginary part| on the diagonal of sqrt(sigma1 @ sigma2) that is treated as round-off.
IMAGINARY_TOLERANCE = 1e-3


def as_feature_arrays(**named: np.ndarray) -> list[np.ndarray]:
    """Check feature sets and return them as float64 arrays, in the order given.

    Args:
        **named: Feature sets by the name used in error messages, each (N, D).

    Returns:
        The sets as float64 (N, D) arrays.

    Raises:
        PatchgenError: A set is not 2-D or not finite, or the sets differ in D.
    """
    arrays = [np.asarray(value, dtype=np.float64) for value in named.values()]
    for name, array in zip(named, arrays):
        if array.ndim != 2:
            raise PatchgenError(f'{name} must be a 2-D (N, D) array of feature vectors, got shape '
                                f'{array.shape}: stack one feature vector per row')
        if not np.isfinite(array).all():
            raise PatchgenError(f'{name} holds NaN or inf values: check the feature extractor '
                                f'and the images fed to it')
    dims = {name: array.shape[1] for name, array in zip(named, arrays)}
    if len(set(dims.values())) > 1:
        raise PatchgenError(f'feature dimensions differ ({dims}): compute every set with the '
                            f'same feature extractor')
    return arrays


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased (N - 1) covariance of a feature set.

    Args:
        features: (N, D) feature vectors, N >= 2.

    Returns:
        The (D,) mean and the (D, D) covariance, both float64.
    """
    (features,) = as_feature_arrays(features=features)
    if len(features) < 2:
        raise PatchgenError(f'a covariance needs at least 2 feature vectors, got '
                            f'{len(features)}: evaluate more images')
    mu = features.mean(axis=0)  # (D,)
    sigma = np.atleast_2d(np.cov(features, rowvar=False))  # (D, D)
    return mu, sigma


def _product_sqrt(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """Principal square root of sigma1 @ sigma2, (D, D), possibly complex or non-finite."""
    with warnings.catch_warnings():
        # Singular products are handled by the caller's finiteness check.
        warnings.simplefilter('ignore', linalg.LinAlgWarning)
        return linalg.sqrtm(sigma1 @ sigma2)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Frechet distance ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2)).

    If the matrix square root is not finite (near-singular covariances), it is
    retried with ``eps * I`` added to both covariances. An imaginary part that
    round-off leaves on its diagonal (at most 1e-3) is dropped.

    Args:
        mu1: (D,) mean of the first set.
        sigma1: (D, D) covariance of the first set.
        mu2: (D,) mean of the second set.
        sigma2: (D, D) covariance of the second set.
        eps: Diagonal offset for the retry.

    Returns:
        The distance in float64, clamped at 0 against round-off.
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise PatchgenError(f'the means must be vectors of one length D, got shapes {mu1.shape} '
                            f'and {mu2.shape}: compare statistics of the same feature extractor')
    dim = len(mu1)
    if sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise PatchgenError(f'the covariances must be ({dim}, {dim}) to match the means, got '
                            f'{sigma1.shape} and {sigma2.shape}: pass (mu, sigma) pairs from '
                            f'feature_statistics')

    covmean = _product_sqrt(sigma1, sigma2)  # (D, D)
    if not np.isfinite(covmean).all():
        offset = eps * np.eye(dim)
        covmean = _product_sqrt(sigma1 + offset, sigma2 + offset)
        if not np.isfinite(covmean).all():
            raise PatchgenError(f'sqrt(sigma1 @ sigma2) is not finite even with eps={eps} added '
                                f'to the covariances: use more samples or a larger eps')
    if np.iscomplexobj(covmean):
        imaginary = np.abs(np.diagonal(covmean).imag).max()
        if imaginary > IMAGINARY_TOLERANCE:
            raise PatchgenError(f'sqrt(sigma1 @ sigma2) has imaginary parts up to {imaginary:.3g} '
                                f'on its diagonal: the covariances are not valid, recompute them '
                                f'from more samples')
        covmean = covmean.real

    diff = mu1 - mu2  # (D,)
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)
    return max(float(distance), 0.0)
