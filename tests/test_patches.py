"""Patch samplers: crops match their coordinates, sizes and multipliers follow the config."""
import numpy as np
import pytest
import torch

from patchgen.errors import PatchgenError
from patchgen.patches import FixedSize, FullImage, Progressive, RandomMultiScale


def position_of(coords: torch.Tensor, resolution: int) -> tuple[int, int]:
    """(top, left) pixel of a patch, read back from its (2, s, s) coordinate channels."""
    x0, y0 = coords[0, 0, 0].item(), coords[1, 0, 0].item()
    return round((y0 + 1) / 2 * (resolution - 1)), round((x0 + 1) / 2 * (resolution - 1))


@pytest.mark.parametrize('size', [8, 16, 32])
def test_patch_pixels_are_the_crop_at_their_coordinates(size: int) -> None:
    torch.manual_seed(0)
    images = torch.randn(16, 3, 32, 32)
    patches, coords = RandomMultiScale(32).crop(images, size)
    assert patches.shape == (16, 3, size, size) and coords.shape == (16, 2, size, size)
    for n in range(16):
        top, left = position_of(coords[n], 32)
        assert torch.equal(patches[n], images[n, :, top:top + size, left:left + size])


def test_positions_are_per_sample_and_uniform_over_all_offsets() -> None:
    torch.manual_seed(1)
    resolution, size, n = 32, 8, 25_000
    _, coords = FixedSize(resolution, size).crop(torch.zeros(n, 1, resolution, resolution), size)
    tops = np.array([position_of(c, resolution)[0] for c in coords[:, :, :1, :1]])
    counts = np.bincount(tops, minlength=resolution - size + 1)
    assert len(counts) == resolution - size + 1  # never beyond R - s
    expected = n / len(counts)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))  # every offset, evenly
    assert len(set(tops[:16].tolist())) > 1  # samples of one batch get their own positions


@pytest.mark.parametrize('real_p', [0.5, 0.2])
def test_size_frequencies_follow_real_p(real_p: float) -> None:
    sampler = RandomMultiScale(64, real_p=real_p)
    steps = 6000
    sizes = [sampler.plan(step, seed=3).size for step in range(steps)]
    expected = {16: 0.4 * (1 - real_p), 32: 0.6 * (1 - real_p), 64: real_p}
    for size, p in expected.items():
        count = sizes.count(size)
        assert abs(count - p * steps) < 5 * np.sqrt(steps * p * (1 - p)), (size, count)


def test_default_multiplier_is_resolution_over_size_at_every_resolution() -> None:
    for resolution in (16, 32, 64, 128, 256):
        sampler = RandomMultiScale(resolution)
        assert [sampler.multiplier(s) for s in sampler.sizes] == [4, 2, 1]
    assert RandomMultiScale(32).sizes == [8, 16, 32]  # the reference crashes at R=32


def test_multiplier_cap_and_explicit_latent_mix() -> None:
    capped = RandomMultiScale(64, max_multiplier=2)
    assert [capped.multiplier(s) for s in capped.sizes] == [2, 2, 1]
    latent = RandomMultiScale(32, sizes=[16, 32], probs=[0.5, 0.5])
    assert {latent.plan(step).size for step in range(50)} == {16, 32}
    assert latent.multiplier(16) == 2


def test_plan_depends_only_on_seed_and_step() -> None:
    a, b = RandomMultiScale(32), RandomMultiScale(32)
    plans = [a.plan(step, seed=7) for step in range(200)]
    assert plans == [b.plan(step, seed=7) for step in range(200)]
    assert plans != [a.plan(step, seed=8) for step in range(200)]


def test_fixed_full_and_progressive_schedules() -> None:
    assert FixedSize(32, 16).plan(5).size == 16 and FixedSize(32, 16).plan(5).multiplier == 2
    full = FullImage(32)
    assert full.plan(0).size == 32 and full.plan(0).multiplier == 1
    images = torch.randn(4, 1, 32, 32)
    patches, coords = full.crop(images, 32)
    assert torch.equal(patches, images) and coords[:, 0, 0, 0].eq(-1).all()
    progressive = Progressive(32, total_iters=100)  # shares 0.2 / 0.3 / 0.5
    assert [progressive.plan(s).size for s in (0, 19, 20, 49, 50, 99, 150)] == \
        [8, 8, 16, 16, 32, 32, 32]


@pytest.mark.parametrize('kwargs, words', [
    (dict(resolution=30), 'not divisible by 4'),
    (dict(resolution=32, sizes=[8, 64], probs=[0.5, 0.5]), 'outside'),
    (dict(resolution=32, sizes=[8, 32], probs=[0.5, 0.6]), 'summing to 1'),
    (dict(resolution=32, sizes=[8, 32]), 'without `probs`'),
    (dict(resolution=32, real_p=1.5), 'real_p'),
])
def test_bad_configuration_is_a_one_line_error(kwargs: dict, words: str) -> None:
    with pytest.raises(PatchgenError, match=words) as error:
        RandomMultiScale(**kwargs)
    assert '\n' not in str(error.value)


def test_crop_refuses_images_of_another_resolution() -> None:
    with pytest.raises(PatchgenError, match='28x28'):
        RandomMultiScale(32).crop(torch.zeros(2, 1, 28, 28), 8)
