"""Images from a folder or a .zip file, in the layout of EDM's dataset_tool.py."""
import io
import json
import logging
import os
from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np
from mmengine.logging import print_log
from PIL import Image

from patchgen.datasets.base import DiffusionDataset, PipelineStep, count_classes
from patchgen.datasets.channels import as_hwc, check_channels, convert_channels
from patchgen.datasets.readers import open_reader
from patchgen.errors import PatchgenError
from patchgen.registry import DATASETS

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp')
LABELS_FILE = 'dataset.json'  # EDM: {"labels": [["00000/img00000000.png", 3], ...]} or null
NATIVE_MODES = ('L', 'LA', 'RGB', 'RGBA')  # PIL modes read as they are
GREY_MODES = ('1', 'L', 'LA')  # PIL modes that decode to one channel (alpha composited)
ON_ERROR = ('raise', 'skip')


class UnreadableImage(PatchgenError):
    """An image file that cannot be decoded; ``path`` names it."""

    path = ''


def unreadable(path: str) -> UnreadableImage:
    error = UnreadableImage(f'image {path!r} cannot be decoded: re-save it as PNG or JPEG, '
                            'or remove it')
    error.path = path
    return error


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
        raise unreadable(path) from None


def read_header(file: BinaryIO, path: str) -> tuple[int, int, int]:
    """(width, height, channels after decoding) from an image file's header."""
    try:
        with file, Image.open(file) as image:
            return image.width, image.height, 1 if image.mode in GREY_MODES else 3
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise unreadable(path) from None


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
        min_size: Smallest width and height allowed, e.g. the training
            resolution when the pipeline crops without resizing.
        on_error: What an undecodable image does: 'raise' stops with its name;
            'skip' leaves it out with a counted warning.

    Every image's header is read when the dataset loads, so an unreadable
    file, mixed channel counts (with ``channels=None``) or a too small image
    fail before training starts, naming the file.
        **kwargs: Passed to ``BaseDataset`` (e.g. ``indices``, ``metainfo``).
    """

    METAINFO: dict = dict(name='image-folder')

    def __init__(self,
                 root: str,
                 channels: int | None = None,
                 pipeline: Sequence[PipelineStep] = (),
                 min_size: int | None = None,
                 on_error: str = 'raise',
                 **kwargs: Any) -> None:
        check_channels(channels)
        if on_error not in ON_ERROR:
            raise PatchgenError(f'on_error={on_error!r} is unknown: use {" or ".join(ON_ERROR)}')
        self.root = root
        self.channels = channels
        self.min_size = min_size
        self.on_error = on_error
        self.skipped: set[str] = set()  # undecodable images left out (in this process)
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
        image_names = self._check_headers(image_names)
        labels = self._read_labels(image_names) if LABELS_FILE in names else None
        self._metainfo['num_classes'] = count_classes(labels)
        if labels is None:
            return [dict(img_path=name) for name in image_names]
        return [dict(img_path=name, label=label) for name, label in zip(image_names, labels)]

    def _check_headers(self, names: list[str]) -> list[str]:
        """The readable images of ``names``; sets ``image_channels`` and checks sizes."""
        readable = []
        for name in names:
            path = os.path.join(self.root, name)
            try:
                width, height, channels = read_header(self.reader.open(name), path)
            except UnreadableImage as error:
                self._skip_or_raise(error)
                continue
            if self.min_size is not None and min(width, height) < self.min_size:
                raise PatchgenError(f'image {path!r} is {width}x{height}, smaller than '
                                    f'min_size={self.min_size}: remove it or resize the dataset')
            if self.channels is None and channels != (self.image_channels or channels):
                raise PatchgenError(f'image {path!r} has {channels} channel(s) where earlier '
                                    f'images have {self.image_channels}: set channels=1 or '
                                    'channels=3')
            self.image_channels = self.channels or channels
            readable.append(name)
        if not readable:
            raise PatchgenError(f'dataset root {self.root!r} holds no readable images')
        return readable

    def _skip_or_raise(self, error: UnreadableImage) -> None:
        """Raise ``error``, or with on_error='skip' count the image and warn once."""
        if self.on_error == 'raise':
            raise error
        if error.path not in self.skipped:
            self.skipped.add(error.path)
            print_log(f'{error}: skipped ({len(self.skipped)} image(s) so far)',
                      logger='current', level=logging.WARNING)

    def prepare_data(self, idx: int) -> dict | None:
        """The packed item, or None (mmengine then draws another) for a skipped image."""
        try:
            return super().prepare_data(idx)
        except UnreadableImage as error:
            self._skip_or_raise(error)
            return None

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
