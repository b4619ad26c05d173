"""FID, KID, Inception Score and precision/recall as mmengine metrics.

They run in the Runner's val/test loops (and under DDP: each rank extracts
features of its own samples, mmengine gathers them) and in ``patchgen eval``.
The model's outputs for a batch are its generated images, (C, H, W) uint8 each.
Metric names carry the extractor's suffix: ``fid`` with TF-Inception,
``fd_fmnist`` with a Fashion-MNIST classifier, never "FID" for other features.
"""
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from patchgen.errors import PatchgenError
from patchgen.registry import DATASETS, METRICS

from .features import SharedExtractor, reference_stats
from .frechet import feature_statistics, frechet_distance
from .inception_score import inception_score, softmax_probs
from .kid import kernel_inception_distance
from .precision_recall import precision_recall
from .sources import image_batches
from .stats import ReferenceStats

DEFAULT_FEATURES = dict(type='TFInception')


class GenerativeMetric(BaseMetric):
    """Base class: features of generated images in ``process``, the score in ``compute_metrics``.

    Args:
        features: Config of the feature extractor (FEATURE_EXTRACTORS).
        reference: A statistics file (``.npz``) or :class:`ReferenceStats` of
            the real images, for metrics that compare with them.
        reference_dataset: Dataset config to make the statistics from when
            the ``reference`` file does not exist yet; they are then cached there.
        reference_num: Images of ``reference_dataset`` to use (all by default).
        collect_device: Where mmengine gathers results across ranks.
        prefix: Prefix of the metric names in logs.
    """

    default_prefix = ''  # metric names are unprefixed: 'fid', 'kid', ...
    needs_reference = True
    needs_reference_features = False
    needs_logits = False

    def __init__(self,
                 features: dict | None = None,
                 reference: str | ReferenceStats | None = None,
                 reference_dataset: dict | None = None,
                 reference_num: int | None = None,
                 collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.extractor = SharedExtractor.get(features or DEFAULT_FEATURES)
        self.suffix = self.extractor.network.metric_suffix
        self._reference = reference
        self.reference_dataset = reference_dataset
        self.reference_num = reference_num
        if self.needs_logits and not self.extractor.network.has_logits:
            network = type(self.extractor.network).__name__
            raise PatchgenError(
                f'{type(self).__name__} needs class logits, which {network} does not give with '
                f"these weights: for the Inception Score use pytorch-fid's "
                f'pt_inception-2015-12-05-6726825d.pth (weights=PATH, --weights PATH), or a '
                f'dataset classifier')
        if self.needs_reference and reference is None:
            raise PatchgenError(f'{type(self).__name__} needs `reference`: a statistics file made '
                                f'by `patchgen ref`, or a path plus `reference_dataset`')

    def process(self, data_batch: object, data_samples: Sequence[torch.Tensor]) -> None:
        """Extract the features of one batch of generated (C, H, W) uint8 images."""
        out = self.extractor(data_samples)
        features = out.features.float().cpu().numpy()  # (N, D)
        logits = out.logits.float().cpu().numpy() if self.needs_logits else None  # (N, K)
        for i in range(len(features)):
            self.results.append((features[i], None if logits is None else logits[i]))

    def compute_metrics(self, results: list) -> dict[str, float]:
        features = np.stack([f for f, _ in results])  # (N, D)
        logits = np.stack([lg for _, lg in results]) if self.needs_logits else None  # (N, K)
        return self.score(features, logits)

    @abstractmethod
    def score(self, features: np.ndarray, logits: np.ndarray | None) -> dict[str, float]:
        """The metric values of generated images with these features (and logits)."""

    def reference(self) -> ReferenceStats:
        """The reference statistics, made and cached on first use when needed."""
        if not isinstance(self._reference, ReferenceStats):
            path = Path(self._reference)
            if not path.is_file() and self.reference_dataset is not None:
                self._reference = self._make_reference(path)
            else:
                self._reference = ReferenceStats.load(path)
        network = self.extractor.network
        self._reference.check_extractor(type(network).__name__, network.fingerprint,
                                        'the reference statistics')
        if self.needs_reference_features and self._reference.features is None:
            raise PatchgenError(f'{type(self).__name__} needs the reference features, which these '
                                f'statistics do not keep: make them with `patchgen ref '
                                f'--keep-features` or give the reference images')
        return self._reference

    def _make_reference(self, path: Path) -> ReferenceStats:
        print_log(f'Computing reference statistics for {type(self).__name__} into {path}',
                  logger='current')
        dataset = DATASETS.build(self.reference_dataset)
        stats = reference_stats(self.extractor, image_batches(dataset, self.reference_num))
        stats.save(path)
        return stats


@METRICS.register_module()
class FID(GenerativeMetric):
    """Frechet distance between generated and reference features.

    Named ``fid`` with TF-Inception features, ``fd<suffix>`` with others.
    Also reports its two terms, ``..._mean_term`` (squared distance of the
    means) and ``..._trace_term`` (the covariance part).
    """

    def score(self, features: np.ndarray, logits: np.ndarray | None) -> dict[str, float]:
        reference = self.reference()
        mu, sigma = feature_statistics(features)
        total = frechet_distance(mu, sigma, reference.mu, reference.sigma)
        mean_term = float(np.sum((mu - reference.mu) ** 2))
        name = 'fid' if not self.suffix else f'fd{self.suffix}'
        return {name: total, f'{name}_mean_term': mean_term,
                f'{name}_trace_term': total - mean_term}


@METRICS.register_module()
class KID(GenerativeMetric):
    """Kernel Inception Distance: unbiased MMD with a cubic kernel, mean and std over subsets.

    Args:
        num_subsets: Random subsets averaged over.
        subset_size: Samples per subset; by default 1000 (as torch-fidelity), capped
            at half the smaller set so that subsets differ and the std means something.
        **kwargs: See :class:`GenerativeMetric`.
    """

    needs_reference_features = True

    def __init__(self, num_subsets: int = 100, subset_size: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_subsets = num_subsets
        self.subset_size = subset_size

    def score(self, features: np.ndarray, logits: np.ndarray | None) -> dict[str, float]:
        reference = self.reference().features
        size = self.subset_size or min(1000, min(len(features), len(reference)) // 2)
        mean, std = kernel_inception_distance(features, reference, self.num_subsets, size)
        return {f'kid{self.suffix}': mean, f'kid{self.suffix}_std': std}


@METRICS.register_module()
class InceptionScore(GenerativeMetric):
    """Inception Score (or its analogue with a dataset classifier): mean and std over splits.

    Args:
        num_splits: Contiguous splits of the samples.
        **kwargs: See :class:`GenerativeMetric` (no reference is needed).
    """

    needs_reference = False
    needs_logits = True

    def __init__(self, num_splits: int = 10, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_splits = num_splits

    def score(self, features: np.ndarray, logits: np.ndarray | None) -> dict[str, float]:
        mean, std = inception_score(softmax_probs(logits), self.num_splits)
        return {f'is{self.suffix}': mean, f'is{self.suffix}_std': std}


@METRICS.register_module()
class PrecisionRecall(GenerativeMetric):
    """Improved precision (fidelity) and recall (coverage) with k-NN manifolds.

    Args:
        k: Neighbour whose distance sets each sample's radius.
        **kwargs: See :class:`GenerativeMetric`.
    """

    needs_reference_features = True

    def __init__(self, k: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.k = k

    def score(self, features: np.ndarray, logits: np.ndarray | None) -> dict[str, float]:
        precision, recall = precision_recall(self.reference().features, features, self.k)
        return {f'precision{self.suffix}': precision, f'recall{self.suffix}': recall}
