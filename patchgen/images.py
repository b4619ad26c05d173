"""Writing model outputs as PNG files and grids, and reading them back."""
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from patchgen.files import atomic_write


def quantize(images: Tensor) -> Tensor:
    """(N, C, H, W) images in [-1, 1] -> uint8 pixels, as PNG files hold them (same device)."""
    return (images.detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def dequantize(pixels: Tensor) -> Tensor:
    """uint8 pixels (any shape) -> float32 images in [-1, 1]: 0 -> -1, 255 -> 1 (see quantize)."""
    return pixels.float() / 127.5 - 1


def to_uint8(images: Tensor) -> np.ndarray:
    """(N, C, H, W) images in [-1, 1] -> (N, H, W, C) uint8 numpy, rounded and clipped."""
    return quantize(images).cpu().permute(0, 2, 3, 1).numpy()


def _pil(pixels: np.ndarray) -> Image.Image:
    """(H, W, C) uint8 -> a greyscale or RGB PIL image."""
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)


def save_png(pixels: np.ndarray, path: Path) -> None:
    """Write (H, W, C) uint8 pixels as a greyscale or RGB PNG file, atomically."""
    with atomic_write(path) as file:
        _pil(pixels).save(file, format='PNG')


def save_pngs(images: Tensor, paths: Sequence[Path]) -> None:
    """Write each (C, H, W) image of a [-1, 1] batch to its own PNG file."""
    for pixels, path in zip(to_uint8(images), paths):
        save_png(pixels, path)


def read_pngs(paths: Sequence[Path]) -> Tensor:
    """(N, C, H, W) images in [-1, 1] from PNG files that ``save_pngs`` wrote (exact round trip)."""
    pixels = np.stack([np.array(Image.open(path)) for path in paths])  # (N, H, W[, C]) uint8
    images = torch.from_numpy(pixels if pixels.ndim == 4 else pixels[..., None])
    return dequantize(images.permute(0, 3, 1, 2))


def save_grid(images: Tensor, path: Path, nrow: int | None = None) -> Path:
    """Write a [-1, 1] batch as one PNG grid, ``nrow`` images per row (square by default)."""
    from torchvision.utils import make_grid  # imported here: torchvision adds 1.5 s to CLI start-up
    nrow = nrow or math.ceil(math.sqrt(len(images)))
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, pad_value=1.0)  # (3, H', W')
    if images.shape[1] == 1:
        grid = grid[:1]  # make_grid repeats greyscale into 3 channels
    save_png(to_uint8(grid[None])[0], Path(path))
    return Path(path)
