"""Outpainting: extend an image by a border that the model draws, the image itself held fixed."""
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from patchgen.datasets.channels import convert_channels
from patchgen.datasets.image_folder import decode_image
from patchgen.errors import PatchgenError
from patchgen.images import dequantize
from patchgen.inference import check_class_label, seed_labels
from patchgen.samplers import MaskedSampler, Sampler, Tiling


def read_image(path: str | Path, channels: int) -> Tensor:
    """(channels, H, W) image in [-1, 1] from an image file (grey and RGB converted to
    ``channels``, alpha composited on white)."""
    path = Path(path)
    if not path.is_file():
        raise PatchgenError(f'image {str(path)!r} is not a file')
    pixels = convert_channels(decode_image(path.read_bytes(), str(path)), channels)  # (H, W, C)
    return dequantize(torch.from_numpy(pixels).permute(2, 0, 1))


def padded_canvas(image: Tensor, pad: int) -> tuple[Tensor, Tensor]:
    """The (C, H + 2 pad, W + 2 pad) canvas with the (C, H, W) ``image`` in its middle (zeros
    around it) and its (H + 2 pad, W + 2 pad) bool mask, True at the image's pixels."""
    border = (pad, pad, pad, pad)
    return F.pad(image, border), F.pad(torch.ones(image.shape[1:], dtype=torch.bool), border)


def outpaint(model: torch.nn.Module, image: Tensor, pad: int, seed: int = 0,
             num_steps: int | None = None, sampler: Sampler | None = None,
             tiling: Tiling | None = None, class_label: int | None = None,
             guidance: float = 1.0) -> Tensor:
    """The image with a border of ``pad`` pixels on each side drawn by the model.

    The canvas is sampled as overlapping tiles (:class:`TiledDenoiser`), each
    with the coordinates of its place in the training layout, while a
    :class:`MaskedSampler` holds the image's pixels at every step.

    Args:
        model: A PatchDiffusion model.
        image: (C, H, W) image in [-1, 1], C the model's image channels.
        pad: Pixels added on each side, at least 1.
        seed: The seed of the noise; the same seed gives the same canvas.
        num_steps: Sampler steps; the sampler's own setting by default.
        sampler: The solver; the model's by default.
        tiling: The tiles; by default tiles of the training resolution (or the
            canvas's shorter side, if smaller) with their default overlap and batch.
        class_label: The class of a class-conditional model (default: seed % classes).
        guidance: Classifier-free guidance weight (1: none).

    Returns:
        (C, H + 2 pad, W + 2 pad) canvas in about [-1, 1], equal to ``image`` in its middle.
    """
    if pad < 1:
        raise PatchgenError(f'pad must be at least 1 (pixels added on each side), got {pad}')
    if image.shape[0] != model.image_channels:
        raise PatchgenError(f'the image has {image.shape[0]} channels, the model '
                            f'{model.image_channels}')
    check_class_label(model, class_label)
    canvas, mask = padded_canvas(image, pad)  # (C, H', W'), (H', W')
    size = tuple(mask.shape)
    tiling = tiling or Tiling(min(model.resolution, *size))
    masked = MaskedSampler(sampler or model.sampler, canvas, mask)
    return model.generate([seed], seed_labels(model, [seed], class_label), num_steps, size,
                          guidance=guidance, sampler=masked, tiling=tiling)[0]
