"""MNIST-style IDX files (gzipped or raw) and Fashion-MNIST."""
import gzip
import math
import os
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from patchgen.datasets.array import ArrayDataset
from patchgen.datasets.base import PipelineStep
from patchgen.errors import PatchgenError
from patchgen.registry import DATASETS

GZIP_MAGIC = b'\x1f\x8b'
IDX_UINT8 = 0x08  # the IDX type code of unsigned bytes


def read_idx(path: str, ndim: int) -> np.ndarray:
    """Read an IDX file of uint8 values, gzipped or raw.

    The header is two zero bytes, the type code (0x08 for uint8), the number of
    dimensions, then each dimension as a big-endian int32; the values follow.

    Args:
        path: The file (e.g. ``train-images-idx3-ubyte.gz``).
        ndim: Dimensions expected: 3 for images (magic 0x00000803), 1 for
            labels (magic 0x00000801).

    Returns:
        The read-only uint8 array of the shape the header gives.
    """
    if not os.path.isfile(path):
        raise PatchgenError(f'IDX file {path!r} not found: check the path')
    with open(path, 'rb') as file:
        data = file.read()
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            raise PatchgenError(f'{path!r} is a broken gzip file: download it again') from None
    expected_magic = IDX_UINT8 << 8 | ndim
    header_size = 4 + 4 * ndim
    if len(data) < header_size or int.from_bytes(data[:4], 'big') != expected_magic:
        raise PatchgenError(f'{path!r} is not a {ndim}-D uint8 IDX file (magic 0x{data[:4].hex()}, '
                            f'expected 0x{expected_magic:08x}): pass *-images-idx3-ubyte[.gz] '
                            'images and *-labels-idx1-ubyte[.gz] labels')
    shape = tuple(np.frombuffer(data, '>i4', count=ndim, offset=4).tolist())
    values = np.frombuffer(data, np.uint8, offset=header_size)
    if values.size != math.prod(shape):
        raise PatchgenError(f'{path!r} holds {values.size} values where its header says {shape}: '
                            'the file is truncated or corrupt, download it again')
    return values.reshape(shape)


@DATASETS.register_module()
class IDXDataset(ArrayDataset):
    """Greyscale images from an IDX file (MNIST layout), with optional IDX labels.

    Args:
        images: IDX file of (N, H, W) uint8 images, gzipped or raw; items are
            (H, W, 1).
        labels: IDX file of (N,) uint8 labels, or None for an unlabelled dataset.
        pipeline: Transform configs or callables; ``PackDiffusionInputs`` is
            appended when the pipeline does not end with it.
        **kwargs: Passed to ``BaseDataset`` (e.g. ``indices``, ``metainfo``).
    """

    METAINFO: dict = dict(name='idx')

    def __init__(self,
                 images: str,
                 labels: str | None = None,
                 pipeline: Sequence[PipelineStep] = (),
                 **kwargs: Any) -> None:
        image_array = read_idx(images, ndim=3)  # (N, H, W)
        label_array = None if labels is None else read_idx(labels, ndim=1)  # (N,)
        if label_array is not None and len(label_array) != len(image_array):
            raise PatchgenError(f'{labels!r} holds {len(label_array)} labels but {images!r} '
                                f'holds {len(image_array)} images: pass the labels of those images')
        super().__init__(image_array[:, :, :, None], label_array, pipeline, **kwargs)


@DATASETS.register_module()
class FashionMNIST(IDXDataset):
    """Fashion-MNIST (Zalando Research, MIT licence): 28x28 greyscale clothing, 10 classes.

    Offline copy: ``apt-get install dataset-fashion-mnist`` installs the IDX files
    in ``/usr/share/datasets/fashion-mnist``.

    Args:
        split: ``'train'`` (60,000 images) or ``'test'`` (10,000 images).
        root: Folder of ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``.
        pipeline: Transform configs or callables; ``PackDiffusionInputs`` is
            appended when the pipeline does not end with it.
        **kwargs: Passed to ``BaseDataset`` (e.g. ``indices``, ``metainfo``).
    """

    METAINFO: dict = dict(name='fashion-mnist',
                          classes=['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                                   'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'])
    FILE_PREFIXES = {'train': 'train', 'test': 't10k'}

    def __init__(self,
                 split: str = 'train',
                 root: str = '/usr/share/datasets/fashion-mnist',
                 pipeline: Sequence[PipelineStep] = (),
                 **kwargs: Any) -> None:
        if split not in self.FILE_PREFIXES:
            raise PatchgenError(f"split={split!r} is not a Fashion-MNIST split: "
                                "use 'train' or 'test'")
        prefix = os.path.join(root, self.FILE_PREFIXES[split])
        images, labels = f'{prefix}-images-idx3-ubyte.gz', f'{prefix}-labels-idx1-ubyte.gz'
        if not (os.path.isfile(images) and os.path.isfile(labels)):
            raise PatchgenError(f'Fashion-MNIST not found in {root}: install it with '
                                '`apt-get install dataset-fashion-mnist` or set root=')
        super().__init__(images, labels, pipeline, **kwargs)
