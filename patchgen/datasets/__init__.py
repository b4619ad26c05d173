"""Datasets and transforms of patchgen; importing this registers them all.

Every dataset yields ``{'inputs': (C, H, W) uint8 tensor, 'labels': int}`` items
('labels' only when labelled); see :class:`~patchgen.datasets.base.DiffusionDataset`.
"""
from patchgen.datasets.array import ArrayDataset
from patchgen.datasets.base import DiffusionDataset
from patchgen.datasets.export import export_zip, open_source
from patchgen.datasets.idx import FashionMNIST, IDXDataset, read_idx
from patchgen.datasets.image_folder import ImageFolderDataset
from patchgen.datasets.latents import LatentDataset
from patchgen.datasets.mnist5k import MNIST5k
from patchgen.datasets.seeds import SeedDataset
from patchgen.datasets.transforms import CenterPad, PackDiffusionInputs, ToChannels

__all__ = [
    'ArrayDataset', 'CenterPad', 'DiffusionDataset', 'FashionMNIST', 'IDXDataset',
    'ImageFolderDataset', 'LatentDataset', 'MNIST5k', 'PackDiffusionInputs', 'SeedDataset',
    'ToChannels',
    'export_zip',
    'open_source', 'read_idx',
]
