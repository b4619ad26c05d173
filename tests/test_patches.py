"""Patch samplers: crops match their coordinates, sizes, multipliers and noise bands follow
the config, and the noise law over steps stays the schedule's."""
import numpy as np
import pytest
import torch
from scipy import stats

from patchgen.errors import PatchgenError
from patchgen.patches import (
    AnnealedMultiScale,
    ConstantPixels,
    ConstantTime,
    FixedSize,
    FullImage,
    NoiseAwareMultiScale,
    Progressive,
    RandomMultiScale,
    ReferenceMultiplier,
    crop_patches,
)
from patchgen.schedules import EDM


def crop(sampler, images: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut patches where the sampler places them (as the training loop does)."""
    return crop_patches(images, *sampler.corners(len(images), size), size)


def position_of(coords: torch.Tensor, resolution: int) -> tuple[int, int]:
    """(top, left) pixel of a patch, read back from its (2, s, s) coordinate channels."""
    x0, y0 = coords[0, 0, 0].item(), coords[1, 0, 0].item()
    return round((y0 + 1) / 2 * (resolution - 1)), round((x0 + 1) / 2 * (resolution - 1))


@pytest.mark.parametrize('size', [8, 16, 32])
def test_patch_pixels_are_the_crop_at_their_coordinates(size: int) -> None:
    torch.manual_seed(0)
    images = torch.randn(16, 3, 32, 32)
    patches, coords = crop(RandomMultiScale(32), images, size)
    assert patches.shape == (16, 3, size, size) and coords.shape == (16, 2, size, size)
    for n in range(16):
        top, left = position_of(coords[n], 32)
        assert torch.equal(patches[n], images[n, :, top:top + size, left:left + size])


def test_positions_are_per_sample_and_uniform_over_all_offsets() -> None:
    torch.manual_seed(1)
    resolution, size, n = 32, 8, 25_000
    _, coords = crop(FixedSize(resolution, size), torch.zeros(n, 1, resolution, resolution), size)
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
        assert [sampler.multiplier(resolution, s) for s in sampler.sizes] == [4, 2, 1]
    assert RandomMultiScale(32).sizes == [8, 16, 32]  # the reference crashes at R=32


def test_multiplier_cap_and_explicit_latent_mix() -> None:
    capped = RandomMultiScale(64, multiplier=dict(type='ReferenceMultiplier', max_multiplier=2))
    assert [capped.multiplier(64, s) for s in capped.sizes] == [2, 2, 1]
    latent = RandomMultiScale(32, sizes=[16, 32], probs=[0.5, 0.5])
    assert {latent.plan(step).size for step in range(50)} == {16, 32}
    assert latent.multiplier(32, 16) == 2


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
    patches, coords = crop(full, images, 32)
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


def test_crop_refuses_patches_that_do_not_fit() -> None:
    zeros = torch.zeros(2, dtype=torch.long)
    with pytest.raises(PatchgenError, match='28x30'):
        crop_patches(torch.zeros(2, 1, 28, 30), zeros, zeros, 8)
    with pytest.raises(PatchgenError, match='patch size 64'):
        crop_patches(torch.zeros(2, 1, 32, 32), zeros, zeros, 64)


def test_multiplier_rules() -> None:
    assert [ReferenceMultiplier()(64, s) for s in (16, 32, 64)] == [4, 2, 1]
    assert [ConstantPixels()(64, s) for s in (16, 32, 64)] == [16, 4, 1]
    assert [ConstantPixels(max_multiplier=8)(64, s) for s in (16, 32, 64)] == [8, 4, 1]
    # seconds per step on one data batch: full 1.0 s, R/2 0.45 s, R/4 0.3 s (fixed costs)
    timed = ConstantTime(seconds={8: 0.3, 16: 0.45, 32: 1.0})
    assert [timed(32, s) for s in (8, 16, 32)] == [3, 2, 1]
    with pytest.raises(PatchgenError, match='no measured seconds for patch sizes \\[4\\]'):
        timed(32, 4)
    with pytest.raises(PatchgenError, match='max_multiplier'):
        ReferenceMultiplier(max_multiplier=0)
    sampler = RandomMultiScale(32, multiplier=dict(type='ConstantPixels'))
    assert {sampler.plan(step).multiplier for step in range(40)} == {16, 4, 1}


def test_noise_aware_bands_tile_the_quantiles_by_size() -> None:
    sampler = NoiseAwareMultiScale(32, real_p=0.5)  # 8, 16, 32 with 0.2, 0.3, 0.5
    expected = {8: (0.0, 0.2), 16: (0.2, 0.5), 32: (0.5, 1.0)}
    assert {size: pytest.approx(band) for size, band in sampler.bands.items()} == expected
    plans = [sampler.plan(step, seed=1) for step in range(300)]
    assert all(plan.noise_band == sampler.bands[plan.size] for plan in plans)
    # the same sizes as the paper's sampler, step for step
    assert [p.size for p in plans] == [RandomMultiScale(32).plan(s, 1).size for s in range(300)]
    loose = NoiseAwareMultiScale(32, coupling=0.0)
    assert all(loose.plan(step).noise_band == (0.0, 1.0) for step in range(100))
    with pytest.raises(PatchgenError, match='coupling'):
        NoiseAwareMultiScale(32, coupling=1.5)


@pytest.mark.parametrize('coupling', [1.0, 0.6])
def test_noise_aware_sampling_keeps_the_schedules_noise_law_over_steps(coupling: float) -> None:
    sampler, schedule = NoiseAwareMultiScale(32, coupling=coupling), EDM()
    torch.manual_seed(0)
    sigmas = torch.cat([schedule.sample_sigma(1, torch.device('cpu'),
                                              sampler.plan(step, seed=2).noise_band)
                        for step in range(4000)])  # one draw per step
    small = [sampler.plan(step, seed=2).size == 8 for step in range(4000)]
    law = stats.norm(loc=schedule.p_mean, scale=schedule.p_std)  # ln(sigma) ~ N(-1.2, 1.2)
    assert stats.kstest(sigmas.log().numpy(), law.cdf).pvalue > 1e-3
    # ... while small patches keep to the low noise levels (all of them when coupled fully)
    low = sigmas[torch.tensor(small)] <= np.exp(law.ppf(0.2)) * (1 + 1e-5)
    assert low.float().mean() >= (1.0 if coupling == 1.0 else 0.6)


def test_annealed_share_moves_from_start_to_end_probs() -> None:
    sampler = AnnealedMultiScale(32, total_iters=1000, start_probs=[0.6, 0.3, 0.1],
                                 end_probs=[0.0, 0.2, 0.8])
    assert sampler.probs_at(0) == pytest.approx([0.6, 0.3, 0.1])
    assert sampler.probs_at(500) == pytest.approx([0.3, 0.25, 0.45])
    assert sampler.probs_at(1000) == pytest.approx([0.0, 0.2, 0.8])
    assert sampler.probs_at(5000) == pytest.approx([0.0, 0.2, 0.8])  # stays at the end
    late = [sampler.plan(step).size for step in range(1000, 3000)]
    assert 8 not in late and abs(late.count(32) / len(late) - 0.8) < 0.05
    early = [sampler.plan(step).size for step in range(0, 100)]
    assert early.count(8) > early.count(32)
    with pytest.raises(PatchgenError, match='summing to 1'):
        AnnealedMultiScale(32, total_iters=10, start_probs=[0.5, 0.5, 0.5], end_probs=[0, 0, 1])
