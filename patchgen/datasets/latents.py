"""Latent datasets: the folder format that ``patchgen data encode`` writes, and its reader.

A latent dataset is a folder of

- ``meta.json``: what it holds and what made it: the source, the image and
  latent shapes, the autoencoder's type, config and fingerprint, and ``done``,
  the number of rows written so far;
- ``latents.npy``: (N, c, h, w) float16 scaled latents, one row per image;
- ``flipped.npy``: the latents of the mirrored images (written with ``--xflip``);
- ``labels.npy``: (N,) int64 class labels (labelled sources only).

Mirrored images are encoded, not mirrored latents: an autoencoder is not
exactly equivariant to flips, and flipping whole images before any crop keeps
every patch's coordinates right.
"""
import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from patchgen.errors import PatchgenError
from patchgen.registry import DATASETS

FORMAT = 'patchgen-latents/1'
META = 'meta.json'
LATENTS = 'latents.npy'
FLIPPED = 'flipped.npy'
LABELS = 'labels.npy'
FILES = (META, LATENTS, FLIPPED, LABELS)


def read_meta(root: str | Path) -> dict:
    """The ``meta.json`` of a latent dataset; a folder without one raises PatchgenError."""
    path = Path(root) / META
    if not path.is_file():
        raise PatchgenError(f'{root} is not a latent dataset (no {META}): write one with '
                            f'`patchgen data encode SOURCE --autoencoder AE --out {root}`')
    meta = json.loads(path.read_text())
    if meta.get('format') != FORMAT:
        raise PatchgenError(f'{path} is not in the format {FORMAT}, which this patchgen reads: '
                            f'encode the data again with `patchgen data encode`')
    return meta


@DATASETS.register_module()
class LatentDataset(Dataset):
    """Latents that ``patchgen data encode`` wrote, memory-mapped.

    Item k is ``{'inputs': (c, h, w) float32 latents, 'labels': int}`` ('labels'
    only for labelled sources). ``metainfo`` holds ``name``, ``num_classes``,
    ``channels``, ``resolution`` and ``autoencoder`` (type, config and
    fingerprint of the autoencoder that made the latents), which training
    checks against the model's.

    Args:
        root: The folder.
        xflip: Give the latents of the mirrored image with probability 0.5
            (needs a dataset encoded with ``--xflip``).
    """

    def __init__(self, root: str, xflip: bool = False) -> None:
        meta = read_meta(root)
        if meta['done'] < meta['count']:
            raise PatchgenError(f'{root} is unfinished ({meta["done"]} of {meta["count"]} images '
                                f'encoded): run the same `patchgen data encode` command again')
        if xflip and not meta['xflip']:
            raise PatchgenError(f'xflip=True but {root} holds no latents of mirrored images: '
                                f'encode it with `patchgen data encode ... --xflip`')
        self.root = Path(root)
        self.xflip = xflip
        self.latents = np.load(self.root / LATENTS, mmap_mode='r')  # (N, c, h, w) float16
        self.flipped = np.load(self.root / FLIPPED, mmap_mode='r') if xflip else None
        self.labels = np.load(self.root / LABELS) if meta['labelled'] else None  # (N,)
        channels, height, width = meta['latent_shape']
        self.metainfo = dict(name=f'latents of {meta["source"]}',
                             num_classes=meta['num_classes'], channels=channels,
                             resolution=height if height == width else [height, width],
                             autoencoder=meta['autoencoder'])

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, index: int) -> dict:
        rows = self.flipped if self.xflip and torch.rand(()) < 0.5 else self.latents
        item = {'inputs': torch.from_numpy(rows[index].astype(np.float32))}  # (c, h, w)
        if self.labels is not None:
            item['labels'] = int(self.labels[index])
        return item


def check_latent_source(dataset: Dataset, model: torch.nn.Module) -> None:
    """Refuse to train a model on latents of another autoencoder than its own, on latents
    without an autoencoder to decode them, or on images when it has an autoencoder."""
    made_by = getattr(dataset, 'metainfo', {}).get('autoencoder')
    autoencoder = getattr(model, 'autoencoder', None)
    if made_by is None and autoencoder is None:
        return
    if made_by is None:
        raise PatchgenError('model.autoencoder is set, so the model trains on latents, but the '
                            'training data are images: encode them once with `patchgen data '
                            'encode SOURCE --autoencoder CONFIG --out LATENTS` and train on '
                            "dict(type='LatentDataset', root=LATENTS)")
    if autoencoder is None:
        raise PatchgenError(f'the training data are latents of a {made_by["type"]}, but the '
                            f'model has no autoencoder to decode its samples: set '
                            f'model.autoencoder={made_by["config"]}')
    own = autoencoder.get().fingerprint()
    if own != made_by['fingerprint']:
        raise PatchgenError(f'the training latents were made by another autoencoder '
                            f'({made_by["type"]} {made_by["fingerprint"][:12]}) than '
                            f'model.autoencoder ({autoencoder.cfg["type"]} {own[:12]}): encode '
                            f'the data again with the model\'s autoencoder, or set '
                            f'model.autoencoder to the one that made them')
