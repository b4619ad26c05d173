"""Dataset-native features: a small classifier trained on the labelled dataset itself.

Where Inception features make little sense or cannot be had offline (Fashion-MNIST,
MNIST), patchgen trains :class:`FeatureClassifier` on the dataset's labels
(:mod:`patchgen.evaluation.classifier_training`). Its penultimate layer gives the
features of a Frechet distance (``fd_fmnist``, never "FID") and its softmax an
Inception-Score analogue (``is_fmnist``), through the :class:`DatasetClassifier`
feature extractor.
"""
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from patchgen.checkpoint_file import load_checkpoint_file, save_checkpoint_file
from patchgen.datasets.channels import LUMA_601
from patchgen.errors import PatchgenError
from patchgen.evaluation.extractor import FeatureExtractor, Features
from patchgen.evaluation.weights import sha256_of
from patchgen.images import dequantize
from patchgen.registry import FEATURE_EXTRACTORS

META_KEYS = ('name', 'metric_suffix', 'model', 'num_classes', 'channels', 'resolution',
             'test_accuracy', 'dataset')


class FeatureClassifier(nn.Module):
    """A small CNN whose penultimate layer gives features and whose head gives class logits.

    Stages of conv3x3-BatchNorm-ReLU blocks, 2x2 max pooling between stages, global
    average pooling, a Linear-ReLU feature layer and a Linear head.

    Args:
        in_channels: Image channels (1 greyscale, 3 RGB).
        num_classes: Number of classes K.
        resolution: Side length of the images it takes; :func:`prepare_images`
            resizes others to it.
        widths: Channels of each stage.
        depths: Conv blocks of each stage.
        feature_dim: Size D of the features.
    """

    def __init__(self,
                 in_channels: int = 1,
                 num_classes: int = 10,
                 resolution: int = 32,
                 widths: Sequence[int] = (16, 32, 64, 128),
                 depths: Sequence[int] = (1, 1, 1, 1),
                 feature_dim: int = 128) -> None:
        super().__init__()
        if len(widths) != len(depths) or min(depths, default=0) < 1:
            raise PatchgenError(f'widths={tuple(widths)} and depths={tuple(depths)} do not pair '
                                'up: give one width and a depth >= 1 for each stage')
        self.in_channels = in_channels
        self.resolution = resolution
        layers: list[nn.Module] = []
        channels = in_channels
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            if stage:
                layers.append(nn.MaxPool2d(2))
            for _ in range(depth):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False),
                           nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.features = nn.Sequential(nn.Linear(channels, feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Features (N, feature_dim) and logits (N, K) of (N, C, H, W) images in [-1, 1]."""
        features = self.features(self.trunk(x))  # (N, D)
        return features, self.head(features)  # (N, D), (N, K)


def match_channels(images: Tensor, channels: int) -> Tensor:
    """Convert (N, C, H, W) uint8 images to 1 or 3 channels.

    RGB becomes greyscale by ITU-R 601 luma (rounded, as the ``ToChannels``
    transform does), greyscale becomes RGB by repeating the channel.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise PatchgenError(f'images are {images.dtype} of shape {tuple(images.shape)}: give '
                            '(N, C, H, W) uint8 images with C = 1 (greyscale) or 3 (RGB)')
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1)  # (N, 3, H, W)
    luma = torch.as_tensor(LUMA_601, dtype=torch.float32, device=images.device)
    grey = torch.einsum('nchw,c->nhw', images.float(), luma).round()  # (N, H, W)
    return grey.to(torch.uint8).unsqueeze(1)  # (N, 1, H, W)


def prepare_images(images: Tensor, channels: int, resolution: int) -> Tensor:
    """Turn (N, C, H, W) uint8 images into a classifier's (N, channels, resolution, resolution).

    Pixels are scaled to [-1, 1] (:func:`patchgen.images.dequantize`); images of another size are
    resized bilinearly (antialiased when shrinking).
    """
    x = dequantize(match_channels(images, channels))  # (N, channels, H, W)
    if x.shape[-2:] != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode='bilinear',
                          align_corners=False, antialias=True)
    return x


def save_classifier(model: FeatureClassifier, meta: dict, out: str | Path) -> None:
    """Write ``{'state_dict', 'meta'}`` to ``out`` atomically, for :func:`load_classifier`."""
    save_checkpoint_file({'state_dict': model.state_dict(), 'meta': meta}, out)


def load_classifier(path: str | Path) -> tuple[FeatureClassifier, dict]:
    """Rebuild a trained FeatureClassifier and its meta from a :func:`train_classifier` checkpoint.

    A missing file, or one that is not such a checkpoint, raises a one-line
    PatchgenError that says how to make one.
    """
    make_one = (f'make one with e.g. `patchgen features train '
                f'configs/features/fmnist_classifier.py --out {path}`')
    if not Path(path).is_file():
        raise PatchgenError(f'classifier checkpoint {path} does not exist: {make_one}')
    checkpoint = load_checkpoint_file(path)
    meta = checkpoint.get('meta')
    missing = [key for key in META_KEYS if not isinstance(meta, dict) or key not in meta]
    if missing:
        raise PatchgenError(f'{path} is not a feature-classifier checkpoint (its meta lacks '
                            f'{", ".join(missing)}): {make_one}')
    try:
        model = FeatureClassifier(**meta['model'])
        model.load_state_dict(checkpoint['state_dict'])
    except (TypeError, RuntimeError):
        raise PatchgenError(f'the weights in {path} do not fit the classifier its meta '
                            f'describes: {make_one}') from None
    return model, meta


@FEATURE_EXTRACTORS.register_module()
class DatasetClassifier(FeatureExtractor):
    """Features and logits of a classifier trained on the dataset (:func:`train_classifier`).

    Images are converted to the classifier's channels (RGB to grey by ITU-R 601
    luma, grey to RGB by repetition) and resized to its resolution. The network
    stays in eval mode. ``metric_suffix`` comes from the checkpoint (e.g.
    ``'_fmnist'``), ``fingerprint`` is the SHA-256 of the checkpoint file.

    Args:
        checkpoint: A checkpoint written by ``patchgen features train``.
    """

    def __init__(self, checkpoint: str) -> None:
        super().__init__()
        model, self.meta = load_classifier(checkpoint)
        self.model = model.eval().requires_grad_(False)
        self.metric_suffix = self.meta['metric_suffix']
        self.fingerprint = sha256_of(checkpoint)

    @property
    def has_logits(self) -> bool:
        """True: the classifier's head gives logits for the Inception-Score analogue."""
        return True

    def train(self, mode: bool = True) -> 'DatasetClassifier':
        """Keep the classifier in eval mode, so that BatchNorm uses its running statistics."""
        super().train(mode)
        self.model.eval()
        return self

    @torch.inference_mode()
    def forward(self, images: Tensor) -> Features:
        """Features (N, D) float32 and logits (N, K) of (N, C, H, W) uint8 images."""
        device = next(self.model.parameters()).device
        x = prepare_images(images.to(device), self.model.in_channels, self.model.resolution)
        features, logits = self.model(x)  # (N, D), (N, K)
        return Features(features.float(), logits.float())
