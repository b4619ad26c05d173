"""The interface of feature extractors: uint8 images in, features (and class logits) out."""
from abc import ABC, abstractmethod
from typing import NamedTuple

from torch import Tensor, nn


class Features(NamedTuple):
    """What an extractor returns for a batch of N images."""

    features: Tensor  # (N, D) float32: the embedding for Frechet distance, KID, precision/recall
    logits: Tensor | None  # (N, K) class logits for the Inception Score, None without a head


class FeatureExtractor(nn.Module, ABC):
    """Turns uint8 images into features; metrics computed with it carry its ``metric_suffix``.

    Subclasses set ``metric_suffix`` ('' for the TF-Inception network, so its
    metrics are ``fid``, ``kid``, ``is``; e.g. '_fmnist' for a Fashion-MNIST
    classifier, giving ``fd_fmnist``, ``kid_fmnist``, ``is_fmnist``) and
    ``fingerprint``, the SHA-256 of the weights, stored in reference statistics
    so that statistics made with another network are refused.
    """

    metric_suffix: str = ''
    fingerprint: str = ''

    @property
    def has_logits(self) -> bool:
        """Whether :meth:`forward` returns class logits (needed for the Inception Score)."""
        return False

    @abstractmethod
    def forward(self, images: Tensor) -> Features:
        """Features of (N, C, H, W) uint8 images (C = 1 or 3, any H and W)."""
