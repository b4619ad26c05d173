"""Turns a collated batch into model inputs."""
from mmengine.model import BaseDataPreprocessor

from patchgen.registry import MODELS


@MODELS.register_module()
class DiffusionDataPreprocessor(BaseDataPreprocessor):
    """Moves a batch to the model's device and maps uint8 pixels to [-1, 1].

    The batch is a dict ``{'inputs': (N, C, H, W) uint8, 'labels': (N,) long,
    'patch_size': int}``; keys other than ``inputs`` pass through unchanged.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        return {**data, 'inputs': data['inputs'].float() / 127.5 - 1}  # (N, C, H, W) in [-1, 1]
