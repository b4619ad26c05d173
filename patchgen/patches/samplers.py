"""Patch samplers: each optimizer step's patch size, its batch multiplier, and the crops.

A sampler answers two questions. :meth:`PatchSampler.plan` says which patch
size a step uses and how many data batches it draws (the batch multiplier);
the answer depends only on ``(seed, step)``, so every rank of a distributed
run agrees on it. :meth:`PatchSampler.crop` cuts one patch per image at a
uniformly random position and returns its coordinate channels.
"""
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from patchgen.coords import coordinate_channels
from patchgen.errors import PatchgenError
from patchgen.registry import PATCH_SAMPLERS


@dataclass(frozen=True)
class PatchPlan:
    """What one optimizer step trains on."""

    size: int  # patch side in pixels
    multiplier: int  # data batches drawn for the step


class PatchSampler(ABC):
    """Base class: the multiplier rule and the cropping that all samplers share.

    Args:
        resolution: Side R of the full training images.
        max_multiplier: Cap on the default multiplier rule ``R // size``
            (the reference's values: x4 / x2 / x1 for R/4, R/2, R).
            None means no cap.
    """

    def __init__(self, resolution: int, max_multiplier: int | None = None) -> None:
        if resolution < 2:
            raise PatchgenError(f'resolution must be at least 2, got {resolution}')
        if max_multiplier is not None and max_multiplier < 1:
            raise PatchgenError(f'max_multiplier must be at least 1, got {max_multiplier}')
        self.resolution = resolution
        self.max_multiplier = max_multiplier

    @abstractmethod
    def size_for_step(self, step: int, seed: int) -> int:
        """The patch size of optimizer step ``step`` in a run seeded with ``seed``."""

    def multiplier(self, size: int) -> int:
        """Data batches drawn for a step on ``size`` patches."""
        multiplier = max(1, self.resolution // size)
        return multiplier if self.max_multiplier is None else min(multiplier, self.max_multiplier)

    def plan(self, step: int, seed: int = 0) -> PatchPlan:
        """Patch size and multiplier of one step; the same on every rank."""
        size = self.size_for_step(step, seed)
        return PatchPlan(size=size, multiplier=self.multiplier(size))

    def crop(self, images: Tensor, size: int,
             corners: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Cut one ``size`` patch per image, at uniform random positions or at ``corners``.

        Random positions come from torch's global generator; rows and columns
        are each uniform over the integers ``[0, R - size]``.

        Args:
            images: (N, C, R, R) full images.
            size: Patch side in pixels.
            corners: (top, left), each (N,) long, to cut at given positions.

        Returns:
            patches (N, C, size, size) and their coordinates (N, 2, size, size).
        """
        n, _, height, width = images.shape
        if height != self.resolution or width != self.resolution:
            raise PatchgenError(
                f'images are {height}x{width} but the patch sampler expects '
                f'{self.resolution}x{self.resolution}: resize or pad the data '
                f'to the model resolution')
        if corners is not None:
            top, left = corners
        elif size == self.resolution:
            top = left = torch.zeros(n, dtype=torch.long, device=images.device)
        else:
            top = torch.randint(0, self.resolution - size + 1, (n,), device=images.device)
            left = torch.randint(0, self.resolution - size + 1, (n,), device=images.device)
        patches = images if size == self.resolution else gather_patches(images, top, left, size)
        return patches, coordinate_channels(top, left, size, size, self.resolution)


def gather_patches(images: Tensor, top: Tensor, left: Tensor, size: int) -> Tensor:
    """Crop ``images[n, :, top[n]:top[n]+size, left[n]:left[n]+size]`` for all n at once.

    Args:
        images: (N, C, H, W).
        top: (N,) first row of each crop.
        left: (N,) first column of each crop.
        size: Side of the square crops.

    Returns:
        (N, C, size, size) crops, gathered in one indexing operation.
    """
    offsets = torch.arange(size, device=images.device)
    rows = (top[:, None] + offsets)[:, :, None]  # (N, size, 1)
    cols = (left[:, None] + offsets)[:, None, :]  # (N, 1, size)
    batch = torch.arange(images.shape[0], device=images.device)[:, None, None]  # (N, 1, 1)
    return images[batch, :, rows, cols].permute(0, 3, 1, 2)  # (N, C, size, size)


def default_sizes_and_probs(resolution: int, real_p: float) -> tuple[list[int], list[float]]:
    """The paper's pixel-space mix: sizes R/4, R/2, R with 0.4(1-p), 0.6(1-p), p."""
    if resolution % 4:
        raise PatchgenError(
            f'resolution {resolution} is not divisible by 4, which the patch sizes '
            f'R/4 and R/2 need: pad or resize the data, or give `sizes` explicitly')
    if not 0.0 <= real_p <= 1.0:
        raise PatchgenError(f'real_p must lie in [0, 1], got {real_p}')
    sizes = [resolution // 4, resolution // 2, resolution]
    return sizes, [0.4 * (1 - real_p), 0.6 * (1 - real_p), real_p]


def size_mix(resolution: int, real_p: float, sizes: Sequence[int] | None,
             probs: Sequence[float] | None) -> tuple[list[int], np.ndarray]:
    """Patch sizes and their probabilities: the paper's mix unless ``sizes`` is given."""
    if sizes is None:
        sizes, default_probs = default_sizes_and_probs(resolution, real_p)
        probs = default_probs if probs is None else probs
    elif probs is None:
        raise PatchgenError('`sizes` was given without `probs`: give one probability '
                            '(share of steps) per size')
    sizes = [int(s) for s in sizes]
    bad = [s for s in sizes if not 0 < s <= resolution]
    if bad:
        raise PatchgenError(f'patch sizes {bad} are outside 1..{resolution}: use sizes '
                            f'no larger than the resolution')
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) != len(sizes) or (probs < 0).any() or abs(probs.sum() - 1) > 1e-6:
        raise PatchgenError(f'probs {probs.tolist()} must be {len(sizes)} non-negative '
                            f'numbers summing to 1, one per size in {sizes}')
    return sizes, probs


@PATCH_SAMPLERS.register_module()
class RandomMultiScale(PatchSampler):
    """Patch Diffusion's sampler: each step draws its size from a fixed mix.

    Args:
        resolution: Side R of the full images.
        real_p: Share of steps on full images; with the default sizes
            R/4, R/2, R the probabilities are 0.4(1-p), 0.6(1-p), p.
        sizes: Patch sizes, overriding the default (e.g. ``[R // 2, R]`` for
            latent space); then ``probs`` must be given too.
        probs: Probability of each size.
        max_multiplier: Cap on the multiplier rule ``R // size``.
    """

    def __init__(self,
                 resolution: int,
                 real_p: float = 0.5,
                 sizes: Sequence[int] | None = None,
                 probs: Sequence[float] | None = None,
                 max_multiplier: int | None = None) -> None:
        super().__init__(resolution, max_multiplier)
        self.sizes, self.probs = size_mix(resolution, real_p, sizes, probs)

    def size_for_step(self, step: int, seed: int) -> int:
        rng = np.random.default_rng([seed, step])
        return self.sizes[rng.choice(len(self.sizes), p=self.probs)]


@PATCH_SAMPLERS.register_module()
class FixedSize(PatchSampler):
    """Every step uses the same patch size.

    Args:
        resolution: Side R of the full images.
        size: The patch size.
        max_multiplier: Cap on the multiplier rule ``R // size``.
    """

    def __init__(self, resolution: int, size: int, max_multiplier: int | None = None) -> None:
        super().__init__(resolution, max_multiplier)
        self.size = size_mix(resolution, 0.0, [size], [1.0])[0][0]

    def size_for_step(self, step: int, seed: int) -> int:
        return self.size


@PATCH_SAMPLERS.register_module()
class FullImage(FixedSize):
    """Plain diffusion training: every step sees whole images (multiplier 1)."""

    def __init__(self, resolution: int) -> None:
        super().__init__(resolution, size=resolution)


@PATCH_SAMPLERS.register_module()
class Progressive(PatchSampler):
    """Small patches first, then larger: size k runs for a ``probs[k]`` share of training.

    Args:
        resolution: Side R of the full images.
        total_iters: Length of training in optimizer steps.
        real_p: As in :class:`RandomMultiScale`, for the default sizes.
        sizes: Patch sizes in the order they are used.
        probs: Share of training spent on each size.
        max_multiplier: Cap on the multiplier rule ``R // size``.
    """

    def __init__(self,
                 resolution: int,
                 total_iters: int,
                 real_p: float = 0.5,
                 sizes: Sequence[int] | None = None,
                 probs: Sequence[float] | None = None,
                 max_multiplier: int | None = None) -> None:
        super().__init__(resolution, max_multiplier)
        if total_iters < 1:
            raise PatchgenError(f'total_iters must be at least 1, got {total_iters}')
        self.sizes, shares = size_mix(resolution, real_p, sizes, probs)
        self.ends = np.cumsum(shares) * total_iters  # step where each size ends

    def size_for_step(self, step: int, seed: int) -> int:
        index = int(np.searchsorted(self.ends, step, side='right'))
        return self.sizes[min(index, len(self.sizes) - 1)]
