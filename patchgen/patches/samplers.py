"""Patch samplers: each optimizer step's patch size, batch multiplier and noise band.

:meth:`PatchSampler.plan` says which patch size a step uses, how many data
batches it draws (the multiplier, from a multiplier rule) and which quantiles
of the schedule's noise law its noise levels come from; the answer depends
only on ``(seed, step)``, so every rank of a distributed run agrees on it.
:meth:`PatchSampler.corners` draws each image's crop position and
:func:`crop_patches` cuts the patches with their coordinate channels.
"""
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from patchgen.coords import coordinate_channels
from patchgen.errors import PatchgenError
from patchgen.registry import MULTIPLIER_RULES, PATCH_SAMPLERS
from patchgen.schedules.base import FULL_BAND


@dataclass(frozen=True)
class PatchPlan:
    """What one optimizer step trains on."""

    size: int  # patch side in pixels
    multiplier: int  # data batches drawn for the step
    noise_band: tuple[float, float] = FULL_BAND  # quantiles of the noise law, [lo, hi)


class PatchSampler(ABC):
    """Base class: the multiplier rule and the crop positions that all samplers share.

    Args:
        resolution: Side R of the full training images.
        multiplier: Config of the multiplier rule (MULTIPLIER_RULES); the
            reference's ``R // size`` (``ReferenceMultiplier``) by default.
    """

    def __init__(self, resolution: int, multiplier: dict | None = None) -> None:
        if resolution < 2:
            raise PatchgenError(f'resolution must be at least 2, got {resolution}')
        self.resolution = resolution
        self.multiplier = MULTIPLIER_RULES.build(multiplier or dict(type='ReferenceMultiplier'))

    @abstractmethod
    def size_for_step(self, step: int, seed: int) -> int:
        """The patch size of optimizer step ``step`` in a run seeded with ``seed``."""

    def plan(self, step: int, seed: int = 0) -> PatchPlan:
        """Patch size, multiplier and noise band of one step; the same on every rank."""
        size = self.size_for_step(step, seed)
        return PatchPlan(size=size, multiplier=self.multiplier(self.resolution, size))

    def corners(self, n: int, size: int, device: torch.device | str = 'cpu'
                ) -> tuple[Tensor, Tensor]:
        """(top, left), each (n,) long: uniform over ``[0, R - size]`` from torch's global
        generator, or all zero for full-size patches."""
        if size == self.resolution:
            zeros = torch.zeros(n, dtype=torch.long, device=device)
            return zeros, zeros.clone()
        top = torch.randint(0, self.resolution - size + 1, (n,), device=device)
        left = torch.randint(0, self.resolution - size + 1, (n,), device=device)
        return top, left


def crop_patches(images: Tensor, top: Tensor, left: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Cut one ``size`` patch per image at (top, left), with its coordinate channels.

    Args:
        images: (N, C, R, R) full images.
        top: (N,) long, first row of each patch.
        left: (N,) long, first column of each patch.
        size: Patch side in pixels.

    Returns:
        patches (N, C, size, size) and their coordinates (N, 2, size, size).
    """
    n, _, height, width = images.shape
    if height != width:
        raise PatchgenError(f'images are {height}x{width}; patches are cut from square images: '
                            f'pad or resize the data to the model resolution')
    if not 0 < size <= height:
        raise PatchgenError(f'patch size {size} does not fit {height}x{width} images')
    patches = images if size == height else gather_patches(images, top, left, size)
    return patches, coordinate_channels(top, left, size, size, height)


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


def check_real_p(real_p: float) -> None:
    """Refuse a share of full-image steps outside [0, 1]."""
    if not 0.0 <= real_p <= 1.0:
        raise PatchgenError(f'real_p must lie in [0, 1], got {real_p}')


def default_sizes_and_probs(resolution: int, real_p: float) -> tuple[list[int], list[float]]:
    """The paper's pixel-space mix: sizes R/4, R/2, R with 0.4(1-p), 0.6(1-p), p."""
    if resolution % 4:
        raise PatchgenError(
            f'resolution {resolution} is not divisible by 4, which the patch sizes '
            f'R/4 and R/2 need: pad or resize the data, or give `sizes` explicitly')
    check_real_p(real_p)
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
        multiplier: Config of the multiplier rule (MULTIPLIER_RULES).
    """

    def __init__(self,
                 resolution: int,
                 real_p: float = 0.5,
                 sizes: Sequence[int] | None = None,
                 probs: Sequence[float] | None = None,
                 multiplier: dict | None = None) -> None:
        super().__init__(resolution, multiplier)
        self.sizes, self.probs = size_mix(resolution, real_p, sizes, probs)

    def size_for_step(self, step: int, seed: int) -> int:
        rng = np.random.default_rng([seed, step])
        return self.sizes[rng.choice(len(self.sizes), p=self.probs)]


@PATCH_SAMPLERS.register_module()
class LatentMultiScale(RandomMultiScale):
    """The paper's latent-space mix: each step draws size R/2 or R with probabilities
    1 - p and p (the default multiplier rule gives x2 / x1 batches).

    Args:
        resolution: Side R of the full latents; even.
        real_p: Share of steps on full latents.
        multiplier: Config of the multiplier rule (MULTIPLIER_RULES).
    """

    def __init__(self, resolution: int, real_p: float = 0.5,
                 multiplier: dict | None = None) -> None:
        if resolution % 2:
            raise PatchgenError(f'latent resolution {resolution} is odd, so it has no R/2 patches:'
                                f' use an autoencoder and image size giving an even latent side')
        check_real_p(real_p)
        super().__init__(resolution, sizes=[resolution // 2, resolution],
                         probs=[1 - real_p, real_p], multiplier=multiplier)


@PATCH_SAMPLERS.register_module()
class FixedSize(PatchSampler):
    """Every step uses the same patch size.

    Args:
        resolution: Side R of the full images.
        size: The patch size.
        multiplier: Config of the multiplier rule (MULTIPLIER_RULES).
    """

    def __init__(self, resolution: int, size: int, multiplier: dict | None = None) -> None:
        super().__init__(resolution, multiplier)
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
        multiplier: Config of the multiplier rule (MULTIPLIER_RULES).
    """

    def __init__(self,
                 resolution: int,
                 total_iters: int,
                 real_p: float = 0.5,
                 sizes: Sequence[int] | None = None,
                 probs: Sequence[float] | None = None,
                 multiplier: dict | None = None) -> None:
        super().__init__(resolution, multiplier)
        if total_iters < 1:
            raise PatchgenError(f'total_iters must be at least 1, got {total_iters}')
        self.sizes, shares = size_mix(resolution, real_p, sizes, probs)
        self.ends = np.cumsum(shares) * total_iters  # step where each size ends

    def size_for_step(self, step: int, seed: int) -> int:
        index = int(np.searchsorted(self.ends, step, side='right'))
        return self.sizes[min(index, len(self.sizes) - 1)]


@PATCH_SAMPLERS.register_module()
class NoiseAwareMultiScale(RandomMultiScale):
    """Patch size and noise level drawn together: small patches train low noise levels.

    A denoiser at low noise needs only local context, at high noise the global
    layout. Sizes are sorted small to large and size k owns the k-th band of the
    schedule's noise quantiles, as wide as its probability: with the paper's mix
    at real_p 0.5, R/4 patches train the lowest 20% of noise levels, R/2 the
    next 30%, full images the top 50%. With probability ``1 - coupling`` a step
    ignores its band and draws from the whole law. Either way the noise law over
    steps stays the schedule's: the bands tile [0, 1) in proportion to how often
    each is used.

    Args:
        resolution: Side R of the full images.
        real_p: Share of steps on full images (default sizes R/4, R/2, R).
        sizes: Patch sizes, overriding the default; then ``probs`` too.
        probs: Probability of each size.
        coupling: Probability that a step's noise levels come from its size's
            band (1: always; 0: never, which is :class:`RandomMultiScale`).
        multiplier: Config of the multiplier rule (MULTIPLIER_RULES).
    """

    def __init__(self,
                 resolution: int,
                 real_p: float = 0.5,
                 sizes: Sequence[int] | None = None,
                 probs: Sequence[float] | None = None,
                 coupling: float = 1.0,
                 multiplier: dict | None = None) -> None:
        super().__init__(resolution, real_p, sizes, probs, multiplier)
        if not 0.0 <= coupling <= 1.0:
            raise PatchgenError(f'coupling must lie in [0, 1], got {coupling}')
        self.coupling = coupling
        order = np.argsort(self.sizes, kind='stable')  # small sizes take low quantiles
        edges = np.concatenate([[0.0], np.cumsum(self.probs[order])])
        edges[-1] = 1.0
        self.bands = {self.sizes[k]: (float(edges[i]), float(edges[i + 1]))
                      for i, k in enumerate(order)}

    def plan(self, step: int, seed: int = 0) -> PatchPlan:
        size = self.size_for_step(step, seed)  # RandomMultiScale's, step for step
        coupled = np.random.default_rng([seed, step, 1]).random() < self.coupling
        band = self.bands[size] if coupled else FULL_BAND
        return PatchPlan(size=size, multiplier=self.multiplier(self.resolution, size),
                         noise_band=band)


@PATCH_SAMPLERS.register_module()
class AnnealedMultiScale(PatchSampler):
    """A patch-share schedule: size probabilities move linearly from ``start_probs`` to
    ``end_probs`` over ``total_iters`` steps (e.g. mostly small patches early, full images
    at the end), then stay at ``end_probs``.

    Args:
        resolution: Side R of the full images.
        total_iters: Steps over which the probabilities move.
        start_probs: Probability of each size at step 0.
        end_probs: Probability of each size from step ``total_iters`` on.
        sizes: Patch sizes; R/4, R/2, R by default.
        multiplier: Config of the multiplier rule (MULTIPLIER_RULES).
    """

    def __init__(self,
                 resolution: int,
                 total_iters: int,
                 start_probs: Sequence[float],
                 end_probs: Sequence[float],
                 sizes: Sequence[int] | None = None,
                 multiplier: dict | None = None) -> None:
        super().__init__(resolution, multiplier)
        if total_iters < 1:
            raise PatchgenError(f'total_iters must be at least 1, got {total_iters}')
        sizes = default_sizes_and_probs(resolution, 0.5)[0] if sizes is None else sizes
        self.sizes, self.start_probs = size_mix(resolution, 0.5, sizes, start_probs)
        self.end_probs = size_mix(resolution, 0.5, sizes, end_probs)[1]
        self.total_iters = total_iters

    def probs_at(self, step: int) -> np.ndarray:
        """The size probabilities of step ``step``."""
        t = min(step / self.total_iters, 1.0)
        return (1 - t) * self.start_probs + t * self.end_probs

    def size_for_step(self, step: int, seed: int) -> int:
        rng = np.random.default_rng([seed, step])
        return self.sizes[rng.choice(len(self.sizes), p=self.probs_at(step))]
