"""Write datasets as EDM-style zips, and open the data sources the CLI accepts."""
import io
import json
import os
import re
import zipfile
from collections.abc import Callable
from functools import partial

import numpy as np
from mmengine.dataset import BaseDataset
from PIL import Image

from patchgen.datasets.idx import FashionMNIST, IDXDataset
from patchgen.datasets.image_folder import ImageFolderDataset
from patchgen.datasets.mnist5k import MNIST5k
from patchgen.errors import PatchgenError
from patchgen.files import atomic_write

IMAGES_PER_FOLDER = 1000  # EDM's dataset_tool.py layout: 00000/img00000000.png ...
IDX_NAME = re.compile(r'(-ubyte|\.idx)(\.gz)?$', re.IGNORECASE)
NAMED_SOURCES: dict[str, Callable[..., BaseDataset]] = {  # each takes pipeline=
    'mnist5k': MNIST5k,
    'fashion-mnist': partial(FashionMNIST, 'train'),
    'fashion-mnist-test': partial(FashionMNIST, 'test'),
}


def edm_image_name(index: int) -> str:
    """Name of image ``index`` inside an EDM dataset zip, e.g. ``00001/img00001234.png``."""
    return f'{index // IMAGES_PER_FOLDER:05d}/img{index:08d}.png'


def encode_png(inputs: np.ndarray) -> bytes:
    """Encode a (C, H, W) uint8 image (C = 1 or 3) as a greyscale or RGB PNG."""
    if inputs.shape[0] not in (1, 3):
        raise PatchgenError(f'cannot write an image with {inputs.shape[0]} channels as PNG: '
                            'convert the dataset to 1 or 3 channels (ToChannels)')
    image = Image.fromarray(inputs[0] if inputs.shape[0] == 1 else inputs.transpose(1, 2, 0))
    buffer = io.BytesIO()
    image.save(buffer, format='PNG')
    return buffer.getvalue()


def export_zip(dataset: BaseDataset,
               out_path: str,
               progress: Callable[[int, int], None] | None = None) -> int:
    """Write a dataset's packed items to a zip in EDM's ``dataset_tool.py`` layout.

    Images go to ``00000/img00000000.png``, ``00000/img00000001.png``, ... (1000
    per folder) as greyscale or RGB PNGs, and ``dataset.json`` holds
    ``{"labels": [[name, label], ...]}`` or ``{"labels": null}``. Items are taken
    after the dataset's pipeline (random transforms are applied once). The zip
    is written atomically (:func:`patchgen.files.atomic_write`), so an interrupted
    export leaves no partial zip.

    Args:
        dataset: A dataset whose items are ``{'inputs': (C, H, W) uint8, 'labels': int}``.
        out_path: The zip to write (replaced if it exists).
        progress: Called as ``progress(done, total)`` after each image.

    Returns:
        The number of images written.
    """
    total = len(dataset)
    labels: list[list] = []
    with (atomic_write(out_path) as file,
          zipfile.ZipFile(file, 'w', zipfile.ZIP_STORED) as archive):
        for index in range(total):
            item = dataset[index]
            name = edm_image_name(index)
            archive.writestr(name, encode_png(item['inputs'].numpy()))
            if 'labels' in item:
                labels.append([name, int(item['labels'])])
            if progress is not None:
                progress(index + 1, total)
        archive.writestr('dataset.json', json.dumps({'labels': labels or None}))
    return total


def idx_labels_sibling(images_path: str) -> str | None:
    """The ``labels-idx1`` file next to an ``images-idx3`` file, when it exists."""
    folder, name = os.path.split(images_path)
    labels_path = os.path.join(folder, name.replace('images-idx3', 'labels-idx1'))
    return labels_path if labels_path != images_path and os.path.isfile(labels_path) else None


def open_source(source: str, channels: int | None = None) -> BaseDataset:
    """Open a data source given on the command line.

    Args:
        source: A folder or .zip of images; an IDX images file (``*-ubyte``,
            ``*-ubyte.gz``, ``*.idx``), labelled when its ``labels-idx1`` sibling
            exists; or a name: ``mnist5k``, ``fashion-mnist``, ``fashion-mnist-test``.
        channels: 1 or 3 to convert every image; None keeps them as found.

    Returns:
        The dataset, yielding packed items.
    """
    if os.path.isdir(source) or (os.path.isfile(source) and source.lower().endswith('.zip')):
        return ImageFolderDataset(source, channels=channels)
    pipeline = [] if channels is None else [dict(type='ToChannels', channels=channels)]
    if os.path.isfile(source) and IDX_NAME.search(source):
        return IDXDataset(source, idx_labels_sibling(source), pipeline=pipeline)
    if source.lower() in NAMED_SOURCES:
        return NAMED_SOURCES[source.lower()](pipeline=pipeline)
    raise PatchgenError(f'data source {source!r} is not an existing folder, .zip or IDX file '
                        '(*-ubyte[.gz], *.idx[.gz]) nor a dataset name '
                        f'({", ".join(NAMED_SOURCES)}): pass one of these')
