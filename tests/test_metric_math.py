"""The metric mathematics against closed forms and limiting cases."""
import numpy as np
import pytest
from scipy import linalg

from patchgen.errors import PatchgenError
from patchgen.evaluation import frechet
from patchgen.evaluation.frechet import feature_statistics, frechet_distance
from patchgen.evaluation.inception_score import inception_score, softmax_probs
from patchgen.evaluation.kid import kernel_inception_distance
from patchgen.evaluation.precision_recall import precision_recall


def random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A random (dim, dim) orthogonal matrix."""
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q


def test_frechet_diagonal_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = rng.uniform(0.1, 3, size=8), rng.uniform(0.1, 3, size=8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected,
                                                                                  rel=1e-10)


def test_frechet_commuting_covariances():
    # With a shared eigenbasis, sqrt(S1 S2) has eigenvalues sqrt(a_i b_i).
    rng = np.random.default_rng(1)
    q = random_rotation(6, rng)
    a, b = rng.uniform(0.1, 2, size=6), rng.uniform(0.1, 2, size=6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    actual = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert actual == pytest.approx(expected, rel=1e-9)


def test_frechet_general_covariances_match_symmetric_form():
    # Tr sqrt(S1 S2) = Tr sqrt(S1^1/2 S2 S1^1/2), whose eigenvalues eigh gives exactly.
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(w)) @ v.T
    trace_root = np.sum(np.sqrt(np.linalg.eigvalsh(root1 @ s2 @ root1)))
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_root
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_equal_covariances_leave_the_mean_term():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(7, 7))
    sigma = a @ a.T + np.eye(7)
    mu1, mu2 = rng.normal(size=7), rng.normal(size=7)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(np.sum((mu1 - mu2) ** 2),
                                                                     rel=1e-9)


def test_frechet_of_a_set_with_itself_is_zero():
    features = np.random.default_rng(4).normal(size=(500, 16)).astype(np.float32)
    mu, sigma = feature_statistics(features)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(sigma, np.cov(features.astype(np.float64), rowvar=False))
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_frechet_rank_deficient_covariances_are_finite():
    rng = np.random.default_rng(5)
    mu1, sigma1 = feature_statistics(rng.normal(size=(10, 64)))  # N < D: rank 9
    mu2, sigma2 = feature_statistics(rng.normal(size=(10, 64)) + 0.5)
    distance = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert np.isfinite(distance) and distance > 0


def test_frechet_retries_with_eps_when_the_root_is_not_finite(monkeypatch):
    real_sqrtm = linalg.sqrtm
    products = []

    def fail_first(product):
        products.append(product)
        return np.full_like(product, np.nan) if len(products) == 1 else real_sqrtm(product)

    monkeypatch.setattr(frechet.linalg, 'sqrtm', fail_first)
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    eps = 0.5
    distance = frechet_distance(np.zeros(2), s1, np.zeros(2), s2, eps=eps)
    np.testing.assert_allclose(products[1], (s1 + eps * np.eye(2)) @ (s2 + eps * np.eye(2)))
    assert distance == pytest.approx(15 - 2 * (np.sqrt(1.5 * 9.5) + np.sqrt(4.5 * 1.5)))


def test_frechet_never_passes_disp_to_sqrtm(monkeypatch):
    real_sqrtm = linalg.sqrtm
    calls = []

    def strict_sqrtm(product):  # any keyword, disp included, is a TypeError
        calls.append(product)
        return real_sqrtm(product)

    monkeypatch.setattr(frechet.linalg, 'sqrtm', strict_sqrtm)
    rng = np.random.default_rng(6)
    for n in (100, 5):  # full rank, then rank-deficient
        stats = [feature_statistics(rng.normal(size=(n, 8)) + shift) for shift in (0, 1)]
        frechet_distance(*stats[0], *stats[1])
    assert calls


def test_frechet_rejects_mismatched_or_too_few_features():
    rng = np.random.default_rng(7)
    with pytest.raises(PatchgenError, match='the covariances must be'):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
    with pytest.raises(PatchgenError, match='one length D'):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(PatchgenError, match='at least 2'):
        feature_statistics(rng.normal(size=(1, 3)))
    with pytest.raises(PatchgenError, match='2-D'):
        feature_statistics(rng.normal(size=5))


def test_frechet_drops_a_round_off_imaginary_part(monkeypatch):
    real_sqrtm = linalg.sqrtm
    monkeypatch.setattr(frechet.linalg, 'sqrtm', lambda product: real_sqrtm(product) + 1e-5j)
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    distance = frechet_distance(np.zeros(2), s1, np.ones(2), s2)
    assert isinstance(distance, float) and distance == pytest.approx(2 + 15 - 2 * (3 + 2))


def test_frechet_rejects_a_complex_root():
    # A negative eigenvalue in the product gives a truly imaginary square root.
    with pytest.raises(PatchgenError, match='imaginary'):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))


def test_kid_near_zero_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    mean, std = kernel_inception_distance(a, b, num_subsets=50, subset_size=100)
    assert std > 0 and abs(mean) < 3 * std
    mean, std = kernel_inception_distance(a, b + 1.0, num_subsets=50, subset_size=100)
    assert mean > 10 * std


def test_kid_is_deterministic_per_seed():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(200, 8)) + 0.2
    first = kernel_inception_distance(a, b, num_subsets=10, subset_size=50, seed=3)
    assert kernel_inception_distance(a, b, num_subsets=10, subset_size=50, seed=3) == first
    assert kernel_inception_distance(a, b, num_subsets=10, subset_size=50, seed=4) != first


def test_kid_matches_the_unbiased_estimator_on_whole_sets():
    # subset_size caps at the smaller set; with equal sets every subset is a permutation.
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.3
    kernel = lambda u, v: (u @ v.T / 3 + 1) ** 3  # noqa: E731
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    off = ~np.eye(6, dtype=bool)
    expected = k_xx[off].mean() + k_yy[off].mean() - 2 * k_xy.mean()
    mean, std = kernel_inception_distance(x, y, num_subsets=4, subset_size=1000)
    assert mean == pytest.approx(expected, rel=1e-10) and std < 1e-10


def test_kid_rejects_bad_input():
    rng = np.random.default_rng(11)
    with pytest.raises(PatchgenError, match='at least 2 samples'):
        kernel_inception_distance(rng.normal(size=(1, 4)), rng.normal(size=(10, 4)))
    with pytest.raises(PatchgenError, match='dimensions differ'):
        kernel_inception_distance(rng.normal(size=(10, 4)), rng.normal(size=(10, 5)))


def test_inception_score_of_identical_predictions_is_one():
    probs = np.tile(softmax_probs(np.array([[1.0, 2.0, 3.0, 0.5]])), (100, 1))
    mean, std = inception_score(probs, num_splits=5)
    assert mean == pytest.approx(1, abs=1e-12) and std == pytest.approx(0, abs=1e-12)


def test_inception_score_of_balanced_one_hot_classes_is_the_class_count():
    probs = np.eye(10)[np.arange(1000) % 10]  # every split of 100 holds each class 10 times
    mean, std = inception_score(probs, num_splits=1)
    assert mean == pytest.approx(10, abs=1e-6) and std == 0
    mean, std = inception_score(probs, num_splits=10)
    assert mean == pytest.approx(10, abs=1e-6) and std == pytest.approx(0, abs=1e-9)


def test_inception_score_splits_are_contiguous():
    probs = np.eye(2)[np.repeat([0, 1], 50)]  # first half class 0, second half class 1
    assert inception_score(probs, num_splits=1)[0] == pytest.approx(2)
    assert inception_score(probs, num_splits=2) == pytest.approx((1, 0))


def test_softmax_probs_is_stable_and_normalised():
    probs = softmax_probs(np.array([[1000.0, 1000.0, -1000.0], [0.0, 0.0, 0.0]]))
    assert probs.dtype == np.float64
    np.testing.assert_allclose(probs, [[0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]])


def test_inception_score_rejects_bad_input():
    with pytest.raises(PatchgenError, match='num_splits'):
        inception_score(np.full((5, 2), 0.5), num_splits=10)
    with pytest.raises(PatchgenError, match='softmax_probs'):
        inception_score(np.array([[2.0, -1.0], [0.5, 0.5]]), num_splits=1)


def clusters(centres: np.ndarray, per_cluster: int, rng: np.random.Generator) -> np.ndarray:
    """(len(centres) * per_cluster, D) points with unit-variance noise around each centre."""
    return np.concatenate([c + rng.normal(size=(per_cluster, len(c))) for c in centres])


def test_precision_recall_of_identical_sets_is_one():
    real = np.random.default_rng(12).normal(size=(300, 8))
    assert precision_recall(real, real.copy(), k=3, batch_size=64) == (1.0, 1.0)


def test_precision_recall_of_far_apart_sets_is_zero():
    rng = np.random.default_rng(13)
    real, fake = rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 100
    assert precision_recall(real, fake, batch_size=64) == (0.0, 0.0)


def test_precision_recall_with_half_the_modes():
    rng = np.random.default_rng(14)
    centres = 50 * np.array([[0, 0], [1, 0], [0, 1], [1, 1]])  # four well-separated modes
    real = clusters(centres, 500, rng)
    fake = clusters(centres[:2], 500, rng)
    precision, recall = precision_recall(real, fake, k=3, batch_size=256)
    assert precision > 0.95
    assert recall == pytest.approx(0.5, abs=0.03)


def test_precision_recall_blocks_do_not_change_the_result():
    rng = np.random.default_rng(15)
    real, fake = rng.normal(size=(150, 5)), rng.normal(size=(130, 5)) + 0.7
    assert precision_recall(real, fake, batch_size=7) == precision_recall(real, fake,
                                                                          batch_size=1000)


def test_precision_recall_radius_excludes_the_point_itself():
    # 1-D real points 0, 1, 3: with k = 1 the radii are 1, 1 and 2.
    real = np.array([[0.0], [1.0], [3.0]])
    assert precision_recall(real, np.array([[5.5], [10.0], [20.0]]), k=1)[0] == 0
    # 5 lies at distance 2 from 3: on the boundary, which counts as inside.
    assert precision_recall(real, np.array([[5.0], [10.0], [20.0]]), k=1)[0] == pytest.approx(1 / 3)


def test_precision_recall_rejects_too_few_samples():
    rng = np.random.default_rng(16)
    with pytest.raises(PatchgenError, match='more than 3 samples'):
        precision_recall(rng.normal(size=(3, 4)), rng.normal(size=(10, 4)), k=3)
