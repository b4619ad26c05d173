"""Dataset-native features: a small classifier trained on the labelled dataset itself.

Where Inception features make little sense or cannot be had offline (Fashion-MNIST,
MNIST), patchgen trains :class:`FeatureClassifier` on the dataset's labels. Its
penultimate layer gives the features of a Frechet distance (``fd_fmnist``, never
"FID") and its softmax an Inception-Score analogue (``is_fmnist``), through the
:class:`DatasetClassifier` feature extractor.
"""
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, default_collate

from patchgen.config import load_config
from patchgen.datasets.channels import LUMA_601
from patchgen.engine.checkpoint import load_checkpoint_file
from patchgen.engine.loops import reseed_global_rngs
from patchgen.errors import PatchgenError
from patchgen.evaluation.extractor import FeatureExtractor, Features
from patchgen.evaluation.weights import sha256_of
from patchgen.registry import DATASETS, FEATURE_EXTRACTORS

CONFIG_KEYS = ('name', 'train_dataset', 'test_dataset', 'model', 'epochs', 'batch_size', 'lr',
               'seed')
META_KEYS = ('name', 'metric_suffix', 'model', 'num_classes', 'channels', 'resolution',
             'test_accuracy', 'dataset')
METRIC_NAME = re.compile(r'[a-z0-9]+(_[a-z0-9]+)*')
EVAL_BATCH_SIZE = 500


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

    Pixels are scaled to [-1, 1] (x / 127.5 - 1); images of another size are
    resized bilinearly (antialiased when shrinking).
    """
    x = match_channels(images, channels).float() / 127.5 - 1  # (N, channels, H, W)
    if x.shape[-2:] != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode='bilinear',
                          align_corners=False, antialias=True)
    return x


def build_dataset(cfg: dict, key: str) -> Dataset:
    """Build a labelled dataset from its config; unlabelled ones raise PatchgenError."""
    dataset = DATASETS.build(cfg)
    if not dataset.metainfo.get('num_classes'):
        raise PatchgenError(f'{key} ({cfg["type"]}) has no labels: a classifier needs a labelled '
                            'dataset such as FashionMNIST or MNIST5k')
    return dataset


def read_classifier_config(config_path: str | Path) -> dict:
    """Load a classifier config as a plain dict, checking its keys and ``name``."""
    cfg = load_config(config_path).to_dict()
    missing = [key for key in CONFIG_KEYS if key not in cfg]
    if missing:
        raise PatchgenError(f'{config_path} lacks {", ".join(missing)}: a classifier config sets '
                            f'{", ".join(CONFIG_KEYS)} (see configs/features/fmnist_classifier.py)')
    if not isinstance(cfg['name'], str) or not METRIC_NAME.fullmatch(cfg['name']):
        raise PatchgenError(f'name={cfg["name"]!r} cannot be part of metric names: use lowercase '
                            "letters, digits and underscores, e.g. 'fmnist'")
    return cfg


@torch.inference_mode()
def accuracy(model: FeatureClassifier, dataset: Dataset) -> float:
    """Fraction of a labelled dataset that the model classifies correctly (eval mode)."""
    model.eval()
    correct = 0
    for batch in DataLoader(dataset, EVAL_BATCH_SIZE, collate_fn=default_collate):
        x = prepare_images(batch['inputs'], model.in_channels, model.resolution)
        correct += int((model(x)[1].argmax(1) == batch['labels']).sum())
    return correct / len(dataset)


def save_classifier(model: FeatureClassifier, meta: dict, out: str | Path) -> None:
    """Write ``{'state_dict', 'meta'}`` to ``out`` through a temporary file, atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temp_path = out.with_name(f'.{out.name}.{os.getpid()}.tmp')
    try:
        torch.save({'state_dict': model.state_dict(), 'meta': meta}, temp_path)
        os.replace(temp_path, out)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise


def fit(model: FeatureClassifier,
        loader: DataLoader,
        epochs: int,
        lr: float,
        progress: Callable[[int, int, float], None] | None = None) -> None:
    """Train with cross-entropy and Adam, the learning rate decayed to 0 on a cosine."""
    total_steps = epochs * len(loader)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    model.train()
    for step, batch in enumerate((batch for _ in range(epochs) for batch in loader), 1):
        x = prepare_images(batch['inputs'], model.in_channels, model.resolution)
        loss = F.cross_entropy(model(x)[1], batch['labels'])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress(step, total_steps, loss.item())


def train_classifier(config_path: str | Path,
                     out: str | Path,
                     progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Train a feature classifier from a config, test it, and save it as a plain checkpoint.

    The config sets ``name`` (metrics get the suffix ``'_' + name``),
    ``train_dataset`` and ``test_dataset`` (labelled dataset configs), ``model``
    (:class:`FeatureClassifier` arguments; ``in_channels``, ``num_classes`` and
    ``resolution`` default to the training set's), ``epochs``, ``batch_size``,
    ``lr`` (Adam, decayed to 0 on a cosine), ``seed`` and optionally
    ``num_workers``. Training runs on the CPU; the same seed and config give the
    same weights.

    Args:
        config_path: The Python config.
        out: The checkpoint to write (replaced if it exists).
        progress: Called as ``progress(step, total_steps, loss)`` after each step.

    Returns:
        The checkpoint's meta: ``name``, ``metric_suffix``, ``model`` (the
        FeatureClassifier arguments), ``num_classes``, ``channels``,
        ``resolution``, ``test_accuracy`` and ``dataset`` (the training set's name).
    """
    cfg = read_classifier_config(config_path)
    init_default_scope('patchgen')
    train_set = build_dataset(cfg['train_dataset'], 'train_dataset')
    test_set = build_dataset(cfg['test_dataset'], 'test_dataset')
    if len(train_set) < cfg['batch_size']:
        raise PatchgenError(f'train_dataset has {len(train_set)} images, fewer than '
                            f'batch_size={cfg["batch_size"]}: lower batch_size')
    size = train_set.metainfo['resolution']  # an int, or [H, W] for non-square images
    model_kwargs = {'in_channels': train_set.metainfo['channels'],
                    'num_classes': train_set.metainfo['num_classes'],
                    'resolution': size if isinstance(size, int) else max(size),
                    **cfg['model']}
    reseed_global_rngs(cfg['seed'], 0, 0)  # weights and random transforms of the pipeline
    model = FeatureClassifier(**model_kwargs)
    loader = DataLoader(train_set, cfg['batch_size'], shuffle=True, drop_last=True,
                        num_workers=cfg.get('num_workers', 0), collate_fn=default_collate,
                        generator=torch.Generator().manual_seed(cfg['seed']))
    fit(model, loader, cfg['epochs'], cfg['lr'], progress)
    meta = {'name': cfg['name'], 'metric_suffix': '_' + cfg['name'], 'model': model_kwargs,
            'num_classes': model_kwargs['num_classes'], 'channels': model_kwargs['in_channels'],
            'resolution': model_kwargs['resolution'], 'test_accuracy': accuracy(model, test_set),
            'dataset': train_set.metainfo['name']}
    save_classifier(model, meta, out)
    return meta


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
