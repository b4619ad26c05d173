"""Contract test suites for backbones and samplers: patchgen's own parts and plugins run them.

Mix a suite into a pytest class named ``Test...`` and give the config of the
part under test; pytest then runs every clause (each ``test_*`` method)::

    from patchgen.testing import BackboneContract, SamplerContract

    class TestMyNet(BackboneContract):
        backbone = dict(type='MyNet', width=8)  # keep it tiny: the suite builds it often

    class TestMySampler(SamplerContract):
        sampler = dict(type='MySampler', num_steps=18)

A clause that the part breaks raises AssertionError with a message naming the clause.
"""
from typing import ClassVar

import pytest
import torch
from torch import Tensor, nn

from patchgen.coords import coordinate_channels
from patchgen.registry import BACKBONES, SAMPLERS
from patchgen.samplers import Denoiser, Sampler, SeededNoise
from patchgen.schedules import EDM


@torch.no_grad()
def randomise_zero_parameters(module: nn.Module, seed: int = 0, std: float = 0.05) -> None:
    """Give every all-zero parameter (zero-initialised output layers, biases) seeded random values,
    so that every input path reaches the output of an untrained network."""
    generator = torch.Generator().manual_seed(seed)
    for param in module.parameters():
        if not param.any():
            param.copy_(torch.randn(param.shape, generator=generator) * std)


class BackboneContract:
    """The backbone contract (see :class:`patchgen.backbones.Backbone`), as pytest tests.

    Attributes:
        backbone: Config of the backbone (``type`` a name in BACKBONES or a class),
            without the four arguments that the model fills in.
        resolution: Training canvas R; inputs are R/4, R/2, R (also R/2 x R) and 2R wide.
        image_channels: Image channels C; the backbone gets C + 2 input channels.
        num_classes: Classes of the conditional backbone that the label clause builds.
    """

    backbone: ClassVar[dict]
    resolution: ClassVar[int] = 16
    image_channels: ClassVar[int] = 3
    num_classes: ClassVar[int] = 3

    def build(self, num_classes: int = 0, seed: int = 0) -> nn.Module:
        """The backbone as ``PatchDiffusion`` builds it, after seeding torch, in eval mode."""
        torch.manual_seed(seed)
        return BACKBONES.build(dict(self.backbone), default_args=dict(
            in_channels=self.image_channels + 2, out_channels=self.image_channels,
            resolution=self.resolution, num_classes=num_classes)).eval()

    def inputs(self, height: int, width: int, top: int = 0, left: int = 0,
               n: int = 2) -> tuple[Tensor, Tensor]:
        """Seeded input (N, C + 2, H, W) of patches cut at (top, left), and (N,) noise labels."""
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(n, self.image_channels, height, width, generator=generator)
        coords = coordinate_channels(torch.full((n,), top), torch.full((n,), left),
                                     height, width, self.resolution)  # (N, 2, H, W)
        return torch.cat([images, coords], dim=1), torch.randn(n, generator=generator)

    def sizes(self) -> list[tuple[int, int, int, int]]:
        """(height, width, top, left) of patches, the full canvas and a larger canvas around it."""
        r = self.resolution
        return [(r // 4, r // 4, r // 2, r // 4), (r // 2, r // 2, 0, r // 2),
                (r // 2, r, r // 4, 0), (r, r, 0, 0), (2 * r, 2 * r, -r // 2, -r // 2)]

    @torch.no_grad()
    def test_output_shapes(self) -> None:
        model = self.build()
        randomise_zero_parameters(model)
        for height, width, top, left in self.sizes():
            x, noise_labels = self.inputs(height, width, top, left)
            out = model(x, noise_labels)
            expected = (len(x), self.image_channels, height, width)
            assert tuple(out.shape) == expected, (
                f'shape: a {height}x{width} input gave {tuple(out.shape)}, not {expected}')
            assert torch.isfinite(out).all(), f'shape: non-finite output at {height}x{width}'

    @torch.no_grad()
    def test_coordinate_channels_are_used(self) -> None:
        model = self.build()
        randomise_zero_parameters(model)
        size = self.resolution // 2
        x, noise_labels = self.inputs(size, size)
        reference = model(x, noise_labels)
        for name, top, left in (('x', 0, size), ('y', size, 0)):
            moved, _ = self.inputs(size, size, top, left)  # same pixels, other coordinates
            assert not torch.allclose(model(moved, noise_labels), reference), (
                f'coordinates: moving the patch along {name} does not change the output')

    @torch.no_grad()
    def test_class_labels_and_null_label(self) -> None:
        model = self.build(self.num_classes)
        randomise_zero_parameters(model)
        x, noise_labels = self.inputs(self.resolution // 2, self.resolution // 2)
        n = len(x)
        first, second, null = (model(x, noise_labels, torch.full((n,), label))
                               for label in (0, 1, self.num_classes))
        assert not torch.allclose(first, second), 'labels: labels 0 and 1 give the same output'
        assert not torch.allclose(null, first), (
            f'labels: the null label {self.num_classes} gives the output of label 0')
        assert torch.equal(model(x, noise_labels, None), null), (
            f'labels: None must mean the null label {self.num_classes}')

    @torch.no_grad()
    def test_untrained_output_is_zero_when_promised(self) -> None:
        model = self.build(self.num_classes)
        if not getattr(model, 'zero_init_output', False):
            pytest.skip(f'{type(model).__name__} does not promise zero output (zero_init_output)')
        for height, width, top, left in self.sizes():
            x, noise_labels = self.inputs(height, width, top, left)
            labels = torch.tensor([0, self.num_classes])
            assert not model(x, noise_labels, labels).any(), (
                f'zero output: zero_init_output is set but an untrained {height}x{width} '
                f'output is not 0')

    @torch.no_grad()
    def test_deterministic_by_seed(self) -> None:
        first, again, other = self.build(seed=1), self.build(seed=1), self.build(seed=2)
        weights = first.state_dict()
        for key, value in again.state_dict().items():
            assert torch.equal(value, weights[key]), f'seed: {key} differs between two builds'
        assert any(not torch.equal(value, weights[key])
                   for key, value in other.state_dict().items()), (
            'seed: seeds 1 and 2 build the same weights')
        for model in (first, again):
            randomise_zero_parameters(model)
        x, noise_labels = self.inputs(self.resolution, self.resolution)
        out = first(x, noise_labels)
        assert torch.equal(first(x, noise_labels), out), 'seed: two eval calls give two outputs'
        assert torch.equal(again(x, noise_labels), out), 'seed: same seed, other output'


SIGMA_DATA = 0.5
MEAN_DATA = 0.3


def gaussian_denoiser(x: Tensor, sigma: Tensor) -> Tensor:
    """The exact denoiser of N(MEAN_DATA, SIGMA_DATA^2 I) data: x (N, C, H, W), sigma (N,)."""
    shrink = SIGMA_DATA ** 2 / (sigma.view(-1, 1, 1, 1) ** 2 + SIGMA_DATA ** 2)  # (N, 1, 1, 1)
    return MEAN_DATA + shrink * (x - MEAN_DATA)


def gaussian_error(samples: Tensor) -> float:
    """Largest error in the mean and standard deviation of samples of N(MEAN_DATA, SIGMA_DATA^2)
    data, relative to SIGMA_DATA."""
    return max(abs(samples.mean().item() - MEAN_DATA),
               abs(samples.std().item() - SIGMA_DATA)) / SIGMA_DATA


class SamplerContract:
    """The sampler contract (see :class:`patchgen.samplers.Sampler`), as pytest tests.

    Sampling runs over EDM's noise levels (sigma_max 80, rho 7), for the
    sampler's ``num_steps`` except in the Gaussian clause. There, data
    N(MEAN_DATA, SIGMA_DATA^2) per pixel has the exact denoiser
    :func:`gaussian_denoiser`, so all error is the sampler's (and about 0.01
    from the finite sample and sigma_max): the error must stay under each
    step count's tolerance and shrink as the steps grow.

    Attributes:
        sampler: Config of the sampler (``type`` a name in SAMPLERS or a class).
        shape: (C, H, W) of one image.
        gaussian_steps: Increasing step counts of the Gaussian clause.
        gaussian_tolerances: Largest :func:`gaussian_error` allowed at each of them.
    """

    sampler: ClassVar[dict]
    shape: ClassVar[tuple[int, int, int]] = (3, 8, 8)
    gaussian_steps: ClassVar[tuple[int, ...]] = (8, 32)
    gaussian_tolerances: ClassVar[tuple[float, ...]] = (0.5, 0.05)

    def build(self) -> Sampler:
        """The sampler as ``PatchDiffusion`` builds it."""
        return SAMPLERS.build(dict(self.sampler))

    def sample(self, sampler: Sampler, seeds: list[int], denoise: Denoiser = gaussian_denoiser,
               num_steps: int | None = None) -> Tensor:
        """(len(seeds), C, H, W) samples of ``denoise`` (by default Gaussian data's)."""
        sigmas = EDM().sampling_sigmas(num_steps or sampler.num_steps)  # (steps + 1,)
        return sampler.sample(denoise, sigmas, SeededNoise(seeds, 'cpu'), self.shape)

    def test_num_steps(self) -> None:
        num_steps = self.build().num_steps
        assert isinstance(num_steps, int) and num_steps >= 1, (
            f'num_steps: must be a positive int, got {num_steps!r}')

    def test_output_shape_and_denoiser_calls(self) -> None:
        seeds = [0, 1, 2]
        expected = (len(seeds), *self.shape)
        calls = []

        def recording(x: Tensor, sigma: Tensor) -> Tensor:
            calls.append((tuple(x.shape), x.dtype, tuple(sigma.shape)))
            return gaussian_denoiser(x, sigma)

        out = self.sample(self.build(), seeds, recording)
        assert calls, 'shape: the sampler never calls the denoiser'
        assert set(calls) == {(expected, torch.float32, (len(seeds),))}, (
            f'shape: the denoiser must get float32 x {expected} and sigma ({len(seeds)},), '
            f'got {sorted(set(calls), key=str)}')
        assert tuple(out.shape) == expected and out.dtype == torch.float32, (
            f'shape: samples are {out.dtype} {tuple(out.shape)}, not float32 {expected}')
        assert torch.isfinite(out).all(), 'shape: non-finite samples'

    def test_nfe_counts_the_denoiser_calls(self) -> None:
        sampler = self.build()
        calls = []

        def counting(x: Tensor, sigma: Tensor) -> Tensor:
            calls.append(1)
            return gaussian_denoiser(x, sigma)

        for num_steps in (1, 2, 5, sampler.num_steps):
            calls.clear()
            self.sample(sampler, [0], counting, num_steps)
            assert sampler.nfe(num_steps) == len(calls), (
                f'nfe: nfe({num_steps}) is {sampler.nfe(num_steps)} but {num_steps} steps '
                f'call the denoiser {len(calls)} times')

    def test_an_image_depends_on_its_seed_only(self) -> None:
        sampler = self.build()
        together = self.sample(sampler, [5, 6, 7])
        assert torch.equal(self.sample(sampler, [5, 6, 7]), together), (
            'seed: the same seeds give other images')
        assert torch.equal(self.sample(sampler, [6])[0], together[1]), (
            'seed: an image changes with the other seeds of its batch')
        assert not torch.equal(together[0], together[1]), 'seed: two seeds give the same image'

    def test_samples_gaussian_data_more_closely_with_more_steps(self) -> None:
        sampler = self.build()
        errors = [gaussian_error(self.sample(sampler, list(range(256)), num_steps=steps))
                  for steps in self.gaussian_steps]  # 256 x C x H x W values each
        found = ', '.join(f'{e:.4f} at {n} steps' for e, n in zip(errors, self.gaussian_steps))
        assert all(fine < coarse for coarse, fine in zip(errors, errors[1:])), (
            f'gaussian: the error does not shrink with the steps: {found}')
        for error, steps, tolerance in zip(errors, self.gaussian_steps, self.gaussian_tolerances):
            assert error < tolerance, (
                f'gaussian: samples of N({MEAN_DATA}, {SIGMA_DATA}^2) data with its exact '
                f'denoiser are off by {found}: over {tolerance} at {steps} steps')
