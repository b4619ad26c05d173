"""Images from a folder or a .zip file, in the layout of EDM's dataset_tool.py."""
import io
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from patchgen.datasets.base import DiffusionDataset, PipelineStep, count_classes
from patchgen.datasets.channels import as_hwc, check_channels, convert_channels
from patchgen.datasets.readers import open_reader
from patchgen.errors import PatchgenError
from patchgen.registry import DATASETS

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp')
LABELS_FILE = 'dataset.json'  # EDM: {"labels": [["00000/img00000000.png", 3], ...]} or null
NATIVE_MODES = ('L', 'LA', 'RGB', 'RGBA')  # PIL modes read as they are


def is_image_name(name: str) -> bool:
    """Whether a relative path names an image, skipping hidden and macOS metadata files."""
    parts = name.split('/')
    hidden = any(part.startswith('.') or part == '__MACOSX' for part in parts)
    return not hidden and name.lower().endswith(IMAGE_EXTENSIONS)


def decode_image(data: bytes, path: str) -> np.ndarray:
    """Decode image bytes with PIL.

    Args:
        data: The encoded file (PNG, JPEG, BMP, WebP, ...).
        path: The file's path, named in the error when it cannot be decoded.

    Returns:
        (H, W, C) uint8 with C = 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in NATIVE_MODES:
                image = image.convert('L' if image.mode == '1' else 'RGBA')
            return as_hwc(np.array(image))  # writable
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise PatchgenError(f'image {path!r} cannot be decoded: re-save it as PNG or JPEG, '
                            'or remove it') from None


@DATASETS.register_module()
class ImageFolderDataset(DiffusionDataset):
    """Images of a folder (searched recursively) or a .zip file, decoded on access.

    Images are ``.png .jpg .jpeg .bmp .webp`` files (any case), in sorted path
    order; hidden files are skipped. A ``dataset.json`` at the top, as EDM's
    ``dataset_tool.py`` writes (``{"labels": [["00000/img00000000.png", 3], ...]}``
    or ``{"labels": null}``), labels the images; ``num_classes`` is then the
    largest label + 1, and 0 without labels.

    Args:
        root: A folder or a .zip file of images.
        channels: 1 (greyscale), 3 (RGB), or None to keep the images as found,
            in which case all must agree. Alpha is composited on white.
        pipeline: Transform configs or callables; ``PackDiffusionInputs`` is
            appended when the pipeline does not end with it.
        **kwargs: Passed to ``BaseDataset`` (e.g. ``indices``, ``metainfo``).
    """

    METAINFO: dict = dict(name='image-folder')

    def __init__(self,
                 root: str,
                 channels: int | None = None,
                 pipeline: Sequence[PipelineStep] = (),
                 **kwargs: Any) -> None:
        check_channels(channels)
        self.root = root
        self.channels = channels
        self.reader = open_reader(root)
        self.image_channels = channels  # set from the first image when None
        super().__init__(pipeline=pipeline, **kwargs)

    def load_data_list(self) -> list[dict]:
        """One ``{'img_path': name}`` (plus ``'label'``) per image; sets ``num_classes``."""
        names = self.reader.names()
        image_names = [name for name in names if is_image_name(name)]
        if not image_names:
            raise PatchgenError(f'dataset root {self.root!r} holds no images '
                                f'({"/".join(IMAGE_EXTENSIONS)}): point `root` at a folder or '
                                '.zip of images')
        if self.image_channels is None:
            self.image_channels = self._decode(image_names[0]).shape[2]
        labels = self._read_labels(image_names) if LABELS_FILE in names else None
        self._metainfo['num_classes'] = count_classes(labels)
        if labels is None:
            return [dict(img_path=name) for name in image_names]
        return [dict(img_path=name, label=label) for name, label in zip(image_names, labels)]

    def get_data_info(self, idx: int) -> dict:
        """The raw item: its data-list entry plus ``'img'``, the decoded (H, W, C) uint8 image."""
        info = super().get_data_info(idx)
        info['img'] = self._decode(info['img_path'])
        return info

    def _decode(self, name: str) -> np.ndarray:
        """Read and decode image ``name`` to (H, W, C) uint8 with the dataset's channels."""
        path = os.path.join(self.root, name)
        img = convert_channels(decode_image(self.reader.read(name), path), self.channels)
        if self.image_channels is not None and img.shape[2] != self.image_channels:
            raise PatchgenError(f'image {path!r} has {img.shape[2]} channels where the first image '
                                f'has {self.image_channels}: set channels=1 or channels=3')
        return img

    def _read_labels(self, image_names: list[str]) -> list[int] | None:
        """Labels of ``image_names`` from ``dataset.json``, or None when its labels are null."""
        path = os.path.join(self.root, LABELS_FILE)
        try:
            labels = json.loads(self.reader.read(LABELS_FILE))['labels']
            table = None if labels is None else {
                name.replace('\\', '/'): int(label) for name, label in labels}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PatchgenError(f'{path!r} is not in EDM\'s layout '
                                '({"labels": [[file, int], ...]} or {"labels": null}): '
                                'fix or remove it') from None
        if table is None:
            return None
        missing = sorted(set(table) - set(image_names))
        if missing:
            raise PatchgenError(f'{path!r} labels {len(missing)} missing image(s), first '
                                f'{missing[0]!r}: add the images or remove their labels')
        unlabelled = [name for name in image_names if name not in table]
        if unlabelled:
            raise PatchgenError(f'{path!r} has no label for {len(unlabelled)} image(s), first '
                                f'{unlabelled[0]!r}: label every image or remove the file')
        return [table[name] for name in image_names]
