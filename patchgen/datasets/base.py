"""The base of patchgen's datasets: items always come out packed, metainfo stays plain."""
from collections.abc import Callable, Sequence
from typing import Any

import torch
from mmengine.dataset import BaseDataset

from patchgen.datasets.transforms import PackDiffusionInputs
from patchgen.errors import PatchgenError
from patchgen.registry import TRANSFORMS

PipelineStep = dict | Callable[[dict], dict | None]


def build_pipeline(pipeline: Sequence[PipelineStep]) -> list[Callable[[dict], dict | None]]:
    """Build config dicts from patchgen's TRANSFORMS and end the pipeline by packing.

    Steps are built from patchgen's registry, so names such as ``'Pad'`` resolve
    with or without ``default_scope='patchgen'``.

    Args:
        pipeline: Transform configs (``dict(type=...)``) or callables.

    Returns:
        The built steps, with ``PackDiffusionInputs()`` appended unless the
        pipeline already ends with it.
    """
    steps = [TRANSFORMS.build(step) if isinstance(step, dict) else step for step in pipeline]
    if not steps or not isinstance(steps[-1], PackDiffusionInputs):
        steps.append(PackDiffusionInputs())
    return steps


def count_classes(labels: Sequence[int] | None) -> int:
    """Number of classes of integer labels (largest + 1), or 0 for an unlabelled dataset."""
    if labels is None or len(labels) == 0:
        return 0
    if min(labels) < 0:
        raise PatchgenError(f'label {min(labels)} is negative: class labels must be 0, 1, 2, ...')
    return int(max(labels)) + 1


def describe_packed(inputs: torch.Tensor) -> dict:
    """Metainfo of a packed (C, H, W) item: ``channels`` and ``resolution``.

    ``resolution`` is the side length of square items, ``[H, W]`` otherwise.
    """
    channels, height, width = inputs.shape
    return dict(channels=channels, resolution=height if height == width else [height, width])


class DiffusionDataset(BaseDataset):
    """An mmengine dataset whose items are packed for patchgen's models.

    Raw items (``get_data_info``) are ``{'img': (H, W, C) uint8, 'label': int}``
    ('label' only in labelled datasets). The pipeline ends with
    ``PackDiffusionInputs``, appended when missing, so every item is
    ``{'inputs': (C, H, W) uint8 tensor, 'labels': int}``. ``metainfo`` holds
    plain values only: ``name``, ``num_classes`` (0 when unlabelled, set by
    subclasses), and the ``channels`` and ``resolution`` of the packed first item.

    Args:
        pipeline: Transform configs or callables, applied to raw items.
        **kwargs: Passed to ``BaseDataset`` (e.g. ``indices=1000`` for the
            first 1000 items, ``metainfo=dict(name=...)``).
    """

    METAINFO: dict = dict(name='images')

    def __init__(self, pipeline: Sequence[PipelineStep] = (), **kwargs: Any) -> None:
        super().__init__(pipeline=build_pipeline(pipeline), **kwargs)

    def full_init(self) -> None:
        """Load the data list, then describe the packed items in ``metainfo``."""
        if self._fully_initialized:
            return
        super().full_init()
        if len(self):
            self._metainfo.update(describe_packed(self[0]['inputs']))  # a valid item
