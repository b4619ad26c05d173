"""Turns a collated batch into model inputs."""
import torch
from mmengine.model import BaseDataPreprocessor

from patchgen.images import dequantize
from patchgen.registry import MODELS


@MODELS.register_module()
class DiffusionDataPreprocessor(BaseDataPreprocessor):
    """Moves a batch to the model's device and maps uint8 pixels to [-1, 1].

    A training batch is ``{'inputs': (N, C, H, W) uint8, 'labels': (N,) long,
    'patch_size': int}``; an evaluation batch is ``{'seeds': (N,) long}``
    (plus ``labels``). Float inputs (latents) and keys other than ``inputs``
    pass through unchanged.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        if 'inputs' in data and data['inputs'].dtype == torch.uint8:
            data['inputs'] = dequantize(data['inputs'])  # (N, C, H, W) in [-1, 1]
        return data
