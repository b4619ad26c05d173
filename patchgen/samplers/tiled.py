"""Tiled denoising: a canvas larger than a tile, as overlapping tiles blended at every call."""
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from patchgen.coords import coordinate_channels
from patchgen.errors import PatchgenError

# D(x (B, C, t, t), sigma (B,), coords (B, 2, t, t), images (B,) long: the canvas of each tile)
TileDenoiser = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Tiling:
    """How to cut a canvas into tiles.

    Args:
        tile: Side t of the square tiles, at most the training resolution.
        overlap: Pixels that neighbouring tiles share at least; ``t // 4`` by default.
        batch: Tiles per network call, whatever the canvas size.
    """

    tile: int
    overlap: int | None = None
    batch: int = 64

    def __post_init__(self) -> None:
        if self.tile < 2:
            raise PatchgenError(f'tile must be at least 2, got {self.tile}')
        if self.overlap is not None and not 0 <= self.overlap < self.tile:
            raise PatchgenError(f'tile overlap must be in 0..{self.tile - 1}, got {self.overlap}')
        if self.batch < 1:
            raise PatchgenError(f'tile batch must be at least 1, got {self.batch}')

    def starts(self, length: int) -> list[int]:
        """First pixel of each tile along a side of ``length`` pixels; the last one ends flush."""
        stride = self.tile - (self.tile // 4 if self.overlap is None else self.overlap)
        return list(range(0, length - self.tile, stride)) + [length - self.tile]


def blend_window(tile: int) -> Tensor:
    """(t, t) weights of a tile: a separable sine bump, largest in the middle, > 0 at the edges."""
    ramp = torch.sin(math.pi * (torch.arange(tile) + 0.5) / tile)  # (t,)
    return ramp[:, None] * ramp[None, :]


class TiledDenoiser:
    """D(x; sigma) of whole canvases from a denoiser of tiles, for any :class:`Sampler`.

    Each call cuts every canvas into overlapping t x t tiles, denoises them
    ``tiling.batch`` at a time, and blends the outputs with :func:`blend_window`
    weights normalised to sum to 1 at every pixel. So the network only ever sees
    batches of tiles, and a canvas does not depend on the tile batch (each pixel
    sums its tiles in the same order). A tile gets the coordinate channels of a
    t x t patch of the training canvas at the same relative place: a tile in
    the canvas's top-left corner those of the training image's top-left patch,
    and so on (every tile is a whole training image when t = R), so each tile
    is a patch the model was trained on.

    Args:
        denoise: The tile denoiser (see ``TileDenoiser``).
        size: (height, width) of the canvas.
        resolution: Side R of the training images.
        tiling: The tile size, overlap and batch.
    """

    def __init__(self, denoise: TileDenoiser, size: tuple[int, int], resolution: int,
                 tiling: Tiling) -> None:
        t = tiling.tile
        if t > min(resolution, *size):
            raise PatchgenError(f'tile {t} is larger than the training resolution {resolution} '
                                f'or the {size[0]}x{size[1]} canvas')
        self.denoise = denoise
        self.tiling = tiling
        rows, cols = tiling.starts(size[0]), tiling.starts(size[1])
        self.corners = [(top, left) for top in rows for left in cols]  # T tiles

        def placed(start: int, length: int) -> int:  # the same relative place in the training image
            return 0 if length == t else round(start * (resolution - t) / (length - t))

        window = blend_window(t)
        total = torch.zeros(size)  # (H, W) sum of the windows
        for top, left in self.corners:
            total[top:top + t, left:left + t] += window
        self.weights = torch.stack([window / total[top:top + t, left:left + t]
                                    for top, left in self.corners])  # (T, t, t)
        tops = torch.tensor([placed(top, size[0]) for top, _ in self.corners])
        lefts = torch.tensor([placed(left, size[1]) for _, left in self.corners])
        self.coords = coordinate_channels(tops, lefts, t, t, resolution)  # (T, 2, t, t)

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        """x (N, C, H, W) canvases at noise levels sigma (N,) -> (N, C, H, W) blended D."""
        t = self.tiling.tile
        weights, coords = self.weights.to(x.device), self.coords.to(x.device)
        pairs = [(k, n) for k in range(len(self.corners)) for n in range(len(x))]  # tile-major
        out = torch.zeros_like(x)
        for start in range(0, len(pairs), self.tiling.batch):
            chunk = pairs[start:start + self.tiling.batch]
            tiles = torch.tensor([k for k, _ in chunk], device=x.device)  # (B,)
            images = torch.tensor([n for _, n in chunk], device=x.device)  # (B,)
            boxes = [(n, *self.corners[k]) for k, n in chunk]
            crops = torch.stack([x[n, :, top:top + t, left:left + t]
                                 for n, top, left in boxes])  # (B, C, t, t)
            denoised = self.denoise(crops, sigma[images], coords[tiles], images)  # (B, C, t, t)
            for (n, top, left), k, tile_out in zip(boxes, tiles.tolist(), denoised):
                out[n, :, top:top + t, left:left + t] += weights[k] * tile_out
        return out
