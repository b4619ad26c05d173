"""Building feature extractors, running them over image sets, and reference statistics."""
import json
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from patchgen.distributed import gather_batches
from patchgen.errors import PatchgenError
from patchgen.registry import FEATURE_EXTRACTORS

from .extractor import FeatureExtractor, Features
from .frechet import feature_statistics
from .stats import ReferenceStats


def extractor_config(features: str = 'inception', weights: str | None = None,
                     download: bool = False) -> dict:
    """The extractor config for a CLI ``--features`` value.

    ``inception`` is the TF-Inception network (``weights`` and ``download``
    say where its weights come from); a ``.pth`` path is a dataset classifier
    trained with ``patchgen features train``; any other value names a
    registered extractor.
    """
    if features in ('inception', 'TFInception'):
        return dict(type='TFInception', weights=weights, allow_download=download)
    if features.endswith('.pth'):
        return dict(type='DatasetClassifier', checkpoint=features)
    return dict(type=features)


class SharedExtractor:
    """One extractor per config in a process, remembering the features of the last batch.

    Several metrics (FID, KID, IS, ...) handed the same list of images then
    run the network once. The cache holds the images themselves and matches
    them by identity, so a later batch can never be mistaken for it.
    """

    _instances: dict[str, 'SharedExtractor'] = {}

    def __init__(self, cfg: dict) -> None:
        self.network: FeatureExtractor = FEATURE_EXTRACTORS.build(dict(cfg))
        self.network.eval()
        self._last_images: list[torch.Tensor] = []
        self._last_features: Features | None = None

    @classmethod
    def get(cls, cfg: dict) -> 'SharedExtractor':
        """The process's extractor for ``cfg``, built on first use."""
        key = json.dumps(cfg, sort_keys=True, default=str)
        if key not in cls._instances:
            cls._instances[key] = cls(cfg)
        return cls._instances[key]

    def __call__(self, images: Sequence[torch.Tensor]) -> Features:
        """Features of N (C, H, W) uint8 images (a list, or a batch tensor), on their device."""
        images = list(images)
        same = (len(images) == len(self._last_images)
                and all(a is b for a, b in zip(images, self._last_images)))
        if not same:
            batch = torch.stack(images)  # (N, C, H, W)
            self.network.to(batch.device)
            with torch.inference_mode():
                self._last_features = self.network(batch)
            self._last_images = images
        return self._last_features


def extract(extractor: SharedExtractor, batches: Iterable[torch.Tensor],
            progress: Callable[[int], None] | None = None, need_logits: bool = False,
            rank: int = 0, world_size: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """Run an extractor over (B, C, H, W) uint8 image batches.

    With ``world_size`` ranks, ``batches`` are this rank's share (from
    ``image_batches(..., rank, world_size)``), and every rank returns the
    features of all of them in the order one process would have.

    Returns:
        features (N, D) float32 and logits (N, K) float32 (None unless ``need_logits``).
    """
    features, logits = [], []
    for images in batches:
        out = extractor(images)
        features.append(out.features.float().cpu().numpy())
        if need_logits:
            logits.append(out.logits.float().cpu().numpy())
        if progress is not None:
            progress(len(images))
    features = gather_batches(features, rank, world_size)
    logits = gather_batches(logits, rank, world_size)
    if not features:
        raise PatchgenError('no images to evaluate: the source is empty')
    return np.concatenate(features), (np.concatenate(logits) if need_logits else None)


def reference_stats(extractor: SharedExtractor, batches: Iterable[torch.Tensor],
                    keep_features: bool = True, progress: Callable[[int], None] | None = None,
                    rank: int = 0, world_size: int = 1) -> ReferenceStats:
    """Feature statistics of a reference image set, labelled with the extractor that made them.

    With ``world_size`` ranks, ``batches`` are this rank's share (see :func:`extract`).
    """
    features, _ = extract(extractor, batches, progress, rank=rank, world_size=world_size)
    mu, sigma = feature_statistics(features)
    network = extractor.network
    return ReferenceStats(mu=mu, sigma=sigma, extractor=type(network).__name__,
                          fingerprint=network.fingerprint, num_images=len(features),
                          features=features if keep_features else None)
