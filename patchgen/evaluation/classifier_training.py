"""Training the dataset-native feature classifier of :mod:`patchgen.evaluation.classifier`."""
import re
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, default_collate

from patchgen.config import load_config
from patchgen.errors import PatchgenError
from patchgen.evaluation.classifier import FeatureClassifier, prepare_images, save_classifier
from patchgen.registry import DATASETS, build_in_scope
from patchgen.seeding import reseed_global_rngs

CONFIG_KEYS = ('name', 'train_dataset', 'test_dataset', 'model', 'epochs', 'batch_size', 'lr',
               'seed')
METRIC_NAME = re.compile(r'[a-z0-9]+(_[a-z0-9]+)*')
EVAL_BATCH_SIZE = 500


def build_dataset(cfg: dict, key: str) -> Dataset:
    """Build a labelled dataset from its config; unlabelled ones raise PatchgenError."""
    dataset = build_in_scope(DATASETS, cfg)
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
