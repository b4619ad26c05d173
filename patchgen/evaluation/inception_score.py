"""Inception Score: exp of the mean KL divergence between p(y|x) and the marginal p(y)."""
import numpy as np
from scipy import special

from patchgen.errors import PatchgenError

# How far a row of probabilities may sum from 1.
ROW_SUM_TOLERANCE = 1e-3


def softmax_probs(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from (N, K) logits: a numerically stable softmax in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise PatchgenError(f'logits must be a 2-D (N, K) array, got shape {logits.shape}: '
                            f'stack one row of class logits per image')
    return special.softmax(logits, axis=1)  # (N, K)


def _split_score(probs: np.ndarray) -> float:
    """exp(mean KL(p(y|x) || p(y))) of (n, K) probabilities, p(y) being their mean row."""
    marginal = probs.mean(axis=0, keepdims=True)  # (1, K)
    kl = special.rel_entr(probs, marginal).sum(axis=1)  # (n,)
    return float(np.exp(kl.mean()))


def inception_score(probs: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
    """Inception Score over contiguous splits of the samples.

    Each split scores exp(mean over its rows x of KL(p(y|x) || p(y))), where
    p(y) is the split's mean row; 0 * log 0 counts as 0.

    Args:
        probs: (N, K) class probabilities, each row summing to 1, N >= num_splits.
        num_splits: Number of contiguous splits (their sizes differ by at most 1).

    Returns:
        Mean and (population) standard deviation of the split scores, float64.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise PatchgenError(f'probs must be a 2-D (N, K) array, got shape {probs.shape}: '
                            f'stack one row of class probabilities per image')
    if not (np.isfinite(probs).all() and (probs >= 0).all()
            and np.allclose(probs.sum(axis=1), 1, rtol=0, atol=ROW_SUM_TOLERANCE)):
        raise PatchgenError('probs must be non-negative rows summing to 1: pass class logits '
                            'through softmax_probs first')
    if not 1 <= num_splits <= len(probs):
        raise PatchgenError(f'the Inception Score needs 1 <= num_splits <= N, got num_splits '
                            f'{num_splits} for N = {len(probs)}: use fewer splits or more samples')
    scores = np.array([_split_score(split) for split in np.array_split(probs, num_splits)])
    return float(scores.mean()), float(scores.std())
