"""A dataset of images held in memory as one array (the base of IDX and MNIST-5k)."""
from collections.abc import Sequence
from typing import Any

import numpy as np

from patchgen.datasets.base import DiffusionDataset, PipelineStep, count_classes
from patchgen.errors import PatchgenError
from patchgen.registry import DATASETS


@DATASETS.register_module()
class ArrayDataset(DiffusionDataset):
    """Images of one (N, H, W, C) uint8 array, with optional (N,) integer labels.

    The data list holds row numbers only, and is not serialized: the array is
    shared as it is with DataLoader workers.

    Args:
        images: (N, H, W, C) uint8 array.
        labels: (N,) integer array, or None for an unlabelled dataset.
        pipeline: Transform configs or callables; ``PackDiffusionInputs`` is
            appended when the pipeline does not end with it.
        **kwargs: Passed to ``BaseDataset`` (e.g. ``indices``, ``metainfo``).
    """

    METAINFO: dict = dict(name='arrays')

    def __init__(self,
                 images: np.ndarray,
                 labels: np.ndarray | None = None,
                 pipeline: Sequence[PipelineStep] = (),
                 **kwargs: Any) -> None:
        if images.ndim != 4 or images.dtype != np.uint8:
            raise PatchgenError(f'images are {images.dtype} of shape {images.shape}: '
                                'give one (N, H, W, C) uint8 array')
        if labels is not None and labels.shape != images.shape[:1]:
            raise PatchgenError(f'labels of shape {labels.shape} for {len(images)} images: '
                                'give one integer label per image')
        self.images = images  # (N, H, W, C) uint8
        self.labels = labels  # (N,) or None
        super().__init__(pipeline=pipeline, serialize_data=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        """One ``{'row': i}`` (plus ``'label'``) per image; sets ``num_classes``."""
        if self.labels is None:
            self._metainfo['num_classes'] = 0
            return [dict(row=row) for row in range(len(self.images))]
        labels = self.labels.tolist()
        self._metainfo['num_classes'] = count_classes(labels)
        return [dict(row=row, label=label) for row, label in enumerate(labels)]

    def get_data_info(self, idx: int) -> dict:
        """The raw item: its data-list entry plus ``'img'``, a (H, W, C) uint8 copy."""
        info = super().get_data_info(idx)
        info['img'] = self.images[info['row']].copy()  # the item owns its pixels
        return info
