"""The contract suites are no formality: each clause fails for a part that breaks it."""
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from patchgen.backbones import Backbone, ClassEmbedding, add_class_embedding
from patchgen.samplers import Denoiser, EulerSampler, HeunSampler, Sampler, SeededNoise
from patchgen.schedules import EDM
from patchgen.testing import BackboneContract, SamplerContract


class SmallNet(Backbone):
    """A backbone that keeps the contract: one conv, the noise and class embedding, a zero conv."""

    zero_init_output = True

    def __init__(self, in_channels: int, out_channels: int, resolution: int,
                 num_classes: int = 0) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.noise = nn.Linear(1, 8)
        self.classes = ClassEmbedding(num_classes, 8) if num_classes else None
        self.conv_out = nn.Conv2d(8, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def embed(self, noise_labels: Tensor, class_labels: Tensor | None) -> Tensor:
        """(N, 8) conditioning."""
        return add_class_embedding(self.noise(noise_labels[:, None]), self.classes, class_labels)

    def forward(self, x: Tensor, noise_labels: Tensor,
                class_labels: Tensor | None = None) -> Tensor:
        emb = self.embed(noise_labels, class_labels)  # (N, 8)
        return self.conv_out(F.silu(self.conv_in(x) + emb[:, :, None, None]))  # (N, C, H, W)


class FixedSize(SmallNet):
    def forward(self, x: Tensor, noise_labels: Tensor,
                class_labels: Tensor | None = None) -> Tensor:
        out = super().forward(x, noise_labels, class_labels)
        return F.interpolate(out, size=(16, 16))  # only right on the training canvas


class IgnoresCoordinates(SmallNet):
    def forward(self, x: Tensor, noise_labels: Tensor,
                class_labels: Tensor | None = None) -> Tensor:
        x = torch.cat([x[:, :-2], torch.zeros_like(x[:, -2:])], dim=1)
        return super().forward(x, noise_labels, class_labels)


class IgnoresY(SmallNet):
    def forward(self, x: Tensor, noise_labels: Tensor,
                class_labels: Tensor | None = None) -> Tensor:
        x = torch.cat([x[:, :-1], torch.zeros_like(x[:, -1:])], dim=1)
        return super().forward(x, noise_labels, class_labels)


class NoneIsNoLabel(SmallNet):
    """Adds no class embedding for None labels instead of the null label's."""

    def embed(self, noise_labels: Tensor, class_labels: Tensor | None) -> Tensor:
        if class_labels is None:
            return self.noise(noise_labels[:, None])
        return super().embed(noise_labels, class_labels)


class NullIsLabelZero(SmallNet):
    """Maps the null label onto label 0."""

    def embed(self, noise_labels: Tensor, class_labels: Tensor | None) -> Tensor:
        if class_labels is None:
            class_labels = torch.full((len(noise_labels),), self.classes.num_classes)
        return super().embed(noise_labels, class_labels % self.classes.num_classes)


class NotZero(SmallNet):
    """Promises zero output but starts its last layer at random."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        nn.init.normal_(self.conv_out.weight)


class NoisyForward(SmallNet):
    def forward(self, x: Tensor, noise_labels: Tensor,
                class_labels: Tensor | None = None) -> Tensor:
        return super().forward(x + 0.1 * torch.randn_like(x), noise_labels, class_labels)


class OwnSeed(SmallNet):
    """Initialises from a fixed seed of its own, whatever the global seed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            self.conv_in.weight.copy_(torch.randn(self.conv_in.weight.shape, generator=generator))
            self.conv_in.bias.zero_()
            self.noise.weight.copy_(torch.randn(self.noise.weight.shape, generator=generator))
            self.noise.bias.zero_()


def contract(backbone: type[nn.Module]) -> BackboneContract:
    return type('Contract', (BackboneContract,), {'backbone': dict(type=backbone)})()


class TestSmallNetContract(BackboneContract):
    backbone = dict(type=SmallNet)


@pytest.mark.parametrize('backbone,clause,words', [
    (FixedSize, 'test_output_shapes', 'shape: a 4x4 input'),
    (IgnoresCoordinates, 'test_coordinate_channels_are_used', 'along x'),
    (IgnoresY, 'test_coordinate_channels_are_used', 'along y'),
    (NoneIsNoLabel, 'test_class_labels_and_null_label', 'None must mean the null label'),
    (NullIsLabelZero, 'test_class_labels_and_null_label', 'null label 3 gives the output'),
    (NotZero, 'test_untrained_output_is_zero_when_promised', 'zero output'),
    (NoisyForward, 'test_deterministic_by_seed', 'two eval calls'),
    (OwnSeed, 'test_deterministic_by_seed', 'seeds 1 and 2 build the same weights'),
])
def test_backbone_clause_fails_for_a_backbone_that_breaks_it(
        backbone: type[nn.Module], clause: str, words: str) -> None:
    with pytest.raises(AssertionError, match=words):
        getattr(contract(backbone), clause)()


def test_zero_output_clause_skips_a_backbone_that_promises_nothing() -> None:
    class Unpromised(NotZero):
        zero_init_output = False

    with pytest.raises(pytest.skip.Exception):
        contract(Unpromised).test_untrained_output_is_zero_when_promised()


class GlobalNoise(HeunSampler):
    """Draws its initial noise from torch's global generator instead of the per-image streams."""

    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        seeded = SeededNoise([int(s) for s in torch.randint(0, 2 ** 31, (len(noise.generators),))],
                             noise.device)
        return super().sample(denoise, sigmas, seeded, shape)


class ReturnsNoise(HeunSampler):
    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        return noise.randn(*shape) * sigmas[0].item()


class Float64(HeunSampler):
    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        return super().sample(denoise, sigmas, noise, shape).double()


class FirstOrderOneStep(HeunSampler):
    """Jumps from pure noise straight to the denoiser's estimate."""

    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        x = noise.randn(*shape) * sigmas[0].item()
        return denoise(x, x.new_full((len(x),), sigmas[0].item()))


class ZeroSteps(Sampler):
    num_steps = 0

    def nfe(self, num_steps: int) -> int:
        return 0

    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        return noise.randn(*shape)


class CountsTheLastStepTwice(HeunSampler):
    def nfe(self, num_steps: int) -> int:
        return 2 * num_steps


class AlwaysEightSteps(HeunSampler):
    """Samples over EDM's 8 noise levels whatever it is given."""

    def sample(self, denoise: Denoiser, sigmas: Tensor, noise: SeededNoise,
               shape: tuple[int, int, int]) -> Tensor:
        return super().sample(denoise, EDM().sampling_sigmas(8), noise, shape)


def sampler_contract(sampler: type[Sampler]) -> SamplerContract:
    return type('Contract', (SamplerContract,), {'sampler': dict(type=sampler)})()


@pytest.mark.parametrize('sampler,clause,words', [
    (GlobalNoise, 'test_an_image_depends_on_its_seed_only', 'the same seeds give other images'),
    (ReturnsNoise, 'test_samples_gaussian_data_more_closely_with_more_steps', 'gaussian'),
    (FirstOrderOneStep, 'test_samples_gaussian_data_more_closely_with_more_steps', 'gaussian'),
    (AlwaysEightSteps, 'test_samples_gaussian_data_more_closely_with_more_steps',
     'does not shrink'),
    (EulerSampler, 'test_samples_gaussian_data_more_closely_with_more_steps',
     'over 0.05 at 32 steps'),  # first order: 0.081 at 32 steps
    (CountsTheLastStepTwice, 'test_nfe_counts_the_denoiser_calls', 'nfe: nfe'),
    (Float64, 'test_output_shape_and_denoiser_calls', 'float32'),
    (ZeroSteps, 'test_num_steps', 'positive int'),
])
def test_sampler_clause_fails_for_a_sampler_that_breaks_it(
        sampler: type[Sampler], clause: str, words: str) -> None:
    with pytest.raises(AssertionError, match=words):
        getattr(sampler_contract(sampler), clause)()
