"""Image sources for evaluation: folders, zips, IDX files, dataset names and configs."""
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from torch.utils.data import DataLoader

from patchgen.config import load_config
from patchgen.datasets import open_source
from patchgen.distributed import shard
from patchgen.errors import PatchgenError
from patchgen.registry import DATASETS, build_in_scope


def open_images(source: str) -> BaseDataset:
    """A dataset of the images at ``source``.

    Args:
        source: A folder or .zip of images, an IDX file, a dataset name
            (``mnist5k``, ``fashion-mnist``, ``fashion-mnist-test``), or a
            Python config file, whose ``train_dataloader.dataset`` is used with
            its pipeline (so padding and resizing match training).
    """
    if source.endswith('.py'):
        cfg = load_config(source)
        return build_in_scope(DATASETS, cfg.train_dataloader.dataset, cfg.get('default_scope'))
    return open_source(source)


def stack_images(items: list[dict]) -> torch.Tensor:
    """Collate packed items into (N, C, H, W) uint8; images of different sizes are an error."""
    shapes = {tuple(item['inputs'].shape) for item in items}
    if len(shapes) > 1:
        sizes = ' and '.join(f'{c}x{h}x{w}' for c, h, w in sorted(shapes)[:2])
        raise PatchgenError(f'the images have different shapes ({sizes}, as CxHxW): convert '
                            f'them to one size and channel count first, e.g. with `patchgen data '
                            f'SOURCE --out DATA.zip --channels 3` after resizing')
    return torch.stack([item['inputs'] for item in items])


def image_batches(dataset: BaseDataset, num: int | None = None, batch_size: int = 64,
                  seed: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[torch.Tensor]:
    """Yield (B, C, H, W) uint8 batches of ``num`` images of ``dataset`` (all by default).

    A subset is a seeded random draw, not the first images, because datasets
    such as MNIST-5k are sorted by label. With ``world_size`` ranks, this rank
    reads only batches ``rank, rank + world_size, ...`` of that same sequence
    (:func:`patchgen.distributed.gather_batches` puts the results back in order).
    """
    if batch_size < 1:
        raise PatchgenError(f'batch_size must be at least 1, got {batch_size}')
    indices = list(range(len(dataset)))
    if num is not None:
        if num < 1:
            raise PatchgenError(f'num must be at least 1, got {num}')
        if num > len(dataset):
            raise PatchgenError(f'the source holds {len(dataset)} images, fewer than num={num}')
        if num < len(dataset):
            indices = sorted(np.random.default_rng(seed).permutation(len(dataset))[:num].tolist())
    batches = [indices[start:start + batch_size] for start in range(0, len(indices), batch_size)]
    yield from DataLoader(dataset, batch_sampler=shard(batches, rank, world_size),
                          collate_fn=stack_images)


def is_stats_file(source: str) -> bool:
    """Whether ``source`` names a statistics file rather than images."""
    return Path(source).suffix == '.npz'
