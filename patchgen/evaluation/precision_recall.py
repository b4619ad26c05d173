"""Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN balls in feature space.

Distances are computed in float64 NumPy, one (batch_size, batch_size) block at a
time, so memory stays at about 8 * batch_size^2 bytes whatever the set sizes.
"""
import numpy as np

from patchgen.errors import PatchgenError

from .frechet import as_feature_arrays


def _squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (M, L) between the rows of (M, D) x and (L, D) y."""
    dist = x @ y.T  # (M, L)
    dist *= -2
    dist += np.einsum('md,md->m', x, x)[:, None]
    dist += np.einsum('ld,ld->l', y, y)[None, :]
    return np.maximum(dist, 0, out=dist)


def _blocks(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most ``batch_size`` covering range(n)."""
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def _knn_radii2(x: np.ndarray, k: int, batch_size: int) -> np.ndarray:
    """Squared distance (N,) from each row of (N, D) x to its k-th nearest other row."""
    blocks = _blocks(len(x), batch_size)
    radii2 = np.empty(len(x))  # (N,)
    for rows in blocks:
        nearest = np.full((rows.stop - rows.start, k), np.inf)  # (B, k) k smallest so far
        for cols in blocks:
            dist = _squared_distances(x[rows], x[cols])  # (B, C)
            if cols == rows:
                np.fill_diagonal(dist, np.inf)  # a point is not its own neighbour
            candidates = np.concatenate([nearest, dist], axis=1)  # (B, k + C)
            nearest = np.partition(candidates, k - 1, axis=1)[:, :k]
        radii2[rows] = nearest.max(axis=1)
    return radii2


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3,
                     batch_size: int = 10000) -> tuple[float, float]:
    """Improved precision and recall of fake samples against real ones.

    Each sample's ball has the radius of its k-th nearest neighbour in its own
    set (itself excluded); points on a ball's boundary count as inside.

    Args:
        real: (N, D) real features, N > k.
        fake: (M, D) generated features, M > k.
        k: Neighbour that sets the radii.
        batch_size: Rows and columns per block of pairwise distances.

    Returns:
        Precision (the fraction of fake samples inside some real ball) and
        recall (the fraction of real samples inside some fake ball).
    """
    real, fake = as_feature_arrays(real=real, fake=fake)
    if k < 1:
        raise PatchgenError(f'precision/recall needs k >= 1, got {k}: use k = 3 as in the paper')
    if min(len(real), len(fake)) <= k:
        raise PatchgenError(f'precision/recall with k = {k} needs more than {k} samples per set, '
                            f'got {len(real)} real and {len(fake)} fake: use more samples or a '
                            f'smaller k')
    if batch_size < 1:
        raise PatchgenError(f'batch_size must be at least 1, got {batch_size}: use e.g. 10000')
    real_radii2 = _knn_radii2(real, k, batch_size)  # (N,)
    fake_radii2 = _knn_radii2(fake, k, batch_size)  # (M,)
    fake_covered = np.zeros(len(fake), dtype=bool)  # (M,) inside some real ball
    real_covered = np.zeros(len(real), dtype=bool)  # (N,) inside some fake ball
    for rows in _blocks(len(real), batch_size):
        for cols in _blocks(len(fake), batch_size):
            dist = _squared_distances(real[rows], fake[cols])  # (B, C)
            fake_covered[cols] |= (dist <= real_radii2[rows, None]).any(axis=0)
            real_covered[rows] |= (dist <= fake_radii2[None, cols]).any(axis=1)
    return float(fake_covered.mean()), float(real_covered.mean())
