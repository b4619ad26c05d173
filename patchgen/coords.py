"""Coordinate channels: where each pixel of a patch sits in the full image.

This is the only place that makes them; training (patches) and sampling (the
full canvas, or a larger or shifted one) both call :func:`coordinate_channels`.
"""
import torch
from torch import Tensor

from patchgen.errors import PatchgenError


def coordinate_channels(top: Tensor, left: Tensor, height: int, width: int,
                        resolution: int) -> Tensor:
    """Make the ``[x, y]`` channels of patches cut at ``(top, left)``.

    A pixel in global column ``j`` and row ``i`` gets
    ``x = (j / (R - 1) - 0.5) * 2`` and ``y = (i / (R - 1) - 0.5) * 2``, so the
    full ``R x R`` image spans exactly ``[-1, 1]`` and a patch gets its
    sub-range. Offsets outside ``[0, R - size]`` give coordinates outside
    ``[-1, 1]`` (extrapolation, outpainting).

    Args:
        top: (N,) integer row of each patch's top-left pixel.
        left: (N,) integer column of each patch's top-left pixel.
        height: Patch height in pixels.
        width: Patch width in pixels.
        resolution: The training canvas size R that maps to ``[-1, 1]``.

    Returns:
        (N, 2, height, width) float32 tensor, channel 0 = x, channel 1 = y.
    """
    if resolution < 2:
        raise PatchgenError(f'resolution must be at least 2, got {resolution}')
    scale = 2.0 / (resolution - 1)
    rows = torch.arange(height, device=top.device)
    cols = torch.arange(width, device=left.device)
    y = (top[:, None] + rows).float() * scale - 1.0  # (N, height)
    x = (left[:, None] + cols).float() * scale - 1.0  # (N, width)
    n = top.shape[0]
    x = x[:, None, :].expand(n, height, width)  # (N, height, width)
    y = y[:, :, None].expand(n, height, width)  # (N, height, width)
    return torch.stack([x, y], dim=1)  # (N, 2, height, width)
