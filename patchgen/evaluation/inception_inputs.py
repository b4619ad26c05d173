"""The input policy of the Inception metrics: how uint8 images of any size become its input."""
import torch
import torch.nn.functional as F
from torch import Tensor

from patchgen.errors import PatchgenError

INPUT_SIZE = 299


def inception_input(images: Tensor) -> Tensor:
    """(N, C, H, W) uint8 images, C in {1, 3} -> (N, 3, 299, 299) float32 in [-1, 1).

    This is patchgen's one resize policy for Inception metrics: pixel values
    (as floats, not rounded back to uint8) are resized with
    ``F.interpolate(mode='bilinear', align_corners=False, antialias=False)``,
    so 28x28 and 32x32 images are upsampled bilinearly to 299x299, like the TF
    graph's own bilinear resize (which samples TF1's grid without half-pixel
    centres, so its values differ slightly); 299x299 images are not resized.
    Greyscale images are repeated to three channels. Values are then
    normalised as ``(x - 128) / 128``, the TF graph's input range.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise PatchgenError(f'Inception takes (N, C, H, W) uint8 images with C = 1 or 3, got '
                            f'{images.dtype} of shape {tuple(images.shape)}: convert them first')
    x = images.float()  # (N, C, H, W)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode='bilinear',
                          align_corners=False, antialias=False)  # (N, C, 299, 299)
    x = x.expand(-1, 3, -1, -1)  # (N, 3, 299, 299): greyscale repeated
    return (x - 128) / 128
