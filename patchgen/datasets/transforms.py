"""Pipeline transforms of patchgen, and mmcv's transforms registered under patchgen's scope.

Images stay (H, W, C) uint8 through the pipeline. mmcv's cv2-based ``Resize`` and
``Pad`` return a (H, W) array for a (H, W, 1) image; every patchgen transform
reads a (H, W) image as one channel, and ``PackDiffusionInputs`` restores the
channel axis, so greyscale items always come out as (1, H, W).

mmcv's ``Pad`` pads at the bottom and right only; ``CenterPad`` pads evenly
around the image (e.g. 28x28 MNIST to 32x32).
"""
import numpy as np
import torch
from mmcv.transforms import BaseTransform, CenterCrop, Pad, RandomFlip, Resize

from patchgen.datasets.channels import as_hwc, check_channels, convert_channels
from patchgen.errors import PatchgenError
from patchgen.registry import TRANSFORMS

for mmcv_transform in (RandomFlip, Resize, Pad, CenterCrop):
    TRANSFORMS.register_module(module=mmcv_transform)


@TRANSFORMS.register_module()
class ToChannels(BaseTransform):
    """Convert ``results['img']`` to a channel count.

    Greyscale becomes RGB by repeating the channel, RGB becomes greyscale by
    ITU-R 601 luma, and alpha (RGBA, grey+alpha) is composited on white.

    Args:
        channels: 1 (greyscale) or 3 (RGB).
    """

    def __init__(self, channels: int) -> None:
        check_channels(channels)
        self.channels = channels

    def transform(self, results: dict) -> dict:
        """Replace ``results['img']`` by its (H, W, channels) uint8 conversion."""
        results['img'] = convert_channels(results['img'], self.channels)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(channels={self.channels})'


@TRANSFORMS.register_module()
class CenterPad(BaseTransform):
    """Pad ``results['img']`` evenly on all sides up to a size (odd extra goes bottom/right).

    Sides already at least as large as the size are left as they are.

    Args:
        size: Target ``(width, height)`` as mmcv's ``Pad`` takes it, or one int
            for a square.
        pad_val: Value of the padding pixels (0..255).
    """

    def __init__(self, size: int | tuple[int, int], pad_val: int = 0) -> None:
        self.width, self.height = (size, size) if isinstance(size, int) else size
        self.pad_val = pad_val

    def transform(self, results: dict) -> dict:
        """Replace ``results['img']`` by the padded (height, width, C) image."""
        img = as_hwc(results['img'])  # (H, W, C)
        extra_h = max(self.height - img.shape[0], 0)
        extra_w = max(self.width - img.shape[1], 0)
        padding = ((extra_h // 2, extra_h - extra_h // 2),
                   (extra_w // 2, extra_w - extra_w // 2),
                   (0, 0))
        results['img'] = np.pad(img, padding, constant_values=self.pad_val)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size=({self.width}, {self.height}), '
                f'pad_val={self.pad_val})')


@TRANSFORMS.register_module()
class PackDiffusionInputs(BaseTransform):
    """Pack an item for the model: ``{'inputs': (C, H, W) uint8 tensor, 'labels': int}``.

    ``'labels'`` is present only when the item has a ``'label'``. Every other key
    of the results dict is dropped. Datasets append this step themselves when a
    pipeline does not end with it.
    """

    def transform(self, results: dict) -> dict:
        """Return the packed item; a non-uint8 image raises PatchgenError."""
        img = as_hwc(results['img'])  # (H, W, C)
        if img.dtype != np.uint8:
            raise PatchgenError(f'the pipeline made a {img.dtype} image: keep images uint8 '
                                'through the pipeline (the model scales them to [-1, 1])')
        # (C, H, W), copied only when not contiguous or read-only (torch needs both)
        chw = np.require(img.transpose(2, 0, 1), requirements=['C', 'W'])
        packed = {'inputs': torch.from_numpy(chw)}
        if 'label' in results:
            packed['labels'] = int(results['label'])
        return packed
