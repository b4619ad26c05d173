"""The PatchDiffusion model: loss options, coordinates, non-finite gradients, sampling."""
import math

import pytest
import torch
from mmengine.logging import MessageHub

from conftest import loss_draws
from patchgen.engine.loops import StepBatches, planned_batch
from patchgen.engine.optim_wrapper import SafeOptimWrapper
from patchgen.errors import PatchgenError
from patchgen.patches import FixedSize
from patchgen.registry import MODELS


def tiny_model(**overrides) -> torch.nn.Module:
    cfg = dict(type='PatchDiffusion', image_channels=1, resolution=16,
               backbone=dict(type='UNet', base_channels=16, channel_mults=(1, 2), num_blocks=1,
                             attn_resolutions=(8,), dropout=0.0),
               schedule=dict(type='EDM'),
               sampler=dict(type='HeunSampler', num_steps=3))
    cfg.update(overrides)
    model = MODELS.build(cfg)
    torch.manual_seed(0)
    for param in model.parameters():  # leave the zero-initialised output: make F matter
        torch.nn.init.normal_(param, std=0.05)
    return model


def seeded_loss(model: torch.nn.Module, images: torch.Tensor, size: int) -> torch.Tensor:
    return model.loss(images, size, *loss_draws(images, size, seed=123))['loss']


def test_pixel_sum_is_pixel_mean_times_pixels_per_patch() -> None:
    images = torch.rand(6, 1, 16, 16) * 2 - 1
    summed = seeded_loss(tiny_model(loss_reduction='pixel_sum'), images, 8)
    mean = seeded_loss(tiny_model(loss_reduction='pixel_mean'), images, 8)
    assert torch.allclose(summed, mean * 8 * 8, rtol=1e-5)
    with pytest.raises(PatchgenError, match='loss_reduction'):
        tiny_model(loss_reduction='sum')


def test_denoiser_sees_the_coordinates() -> None:
    model = tiny_model()
    x, sigma = torch.randn(2, 1, 8, 8), torch.tensor([0.5, 0.5])
    from patchgen.coords import coordinate_channels
    a = coordinate_channels(torch.tensor([0, 0]), torch.tensor([0, 0]), 8, 8, 16)
    b = coordinate_channels(torch.tensor([8, 8]), torch.tensor([8, 8]), 8, 8, 16)
    assert not torch.allclose(model.denoise(x, sigma, a), model.denoise(x, sigma, b))


@pytest.mark.parametrize('schedule', ['EDM', 'VP', 'VE'])
def test_every_schedule_trains_on_patches(schedule: str) -> None:
    model = tiny_model(schedule=dict(type=schedule))
    optim = SafeOptimWrapper(optimizer=torch.optim.Adam(model.parameters(), 1e-3))
    batch = planned_batch(torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8), 4)
    before = [p.clone() for p in model.parameters()]
    log = model.train_step(batch, optim)
    assert math.isfinite(log['loss'].item()) and log['patch_size'].item() == 4
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_train_step_skips_a_step_with_non_finite_gradients() -> None:
    model = tiny_model()
    optim = SafeOptimWrapper(optimizer=torch.optim.Adam(model.parameters(), lr=0.1))
    data = planned_batch(torch.zeros(4, 1, 16, 16, dtype=torch.uint8), 16)
    hub = MessageHub.get_current_instance()
    model.train_step(data, optim)
    assert optim.last_update == 'stepped' and hub.get_scalar('train/skipped').current() == 0
    before = [p.detach().clone() for p in model.parameters()]
    poisoned = model.backbone.conv_in.weight
    moments = {k: v.clone() for k, v in optim.optimizer.state[poisoned].items()}
    handle = poisoned.register_hook(
        lambda grad: torch.full_like(grad, float('nan')))
    model.train_step(data, optim)
    assert optim.last_update == 'skipped' and hub.get_scalar('train/skipped').current() == 1
    assert not math.isfinite(hub.get_scalar('train/grad_norm').current())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # no update at all
    state = optim.optimizer.state[poisoned]
    assert all(torch.equal(state[k], moments[k]) for k in moments)  # Adam's moments and step too
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())  # cleared
    handle.remove()
    model.train_step(data, optim)
    assert optim.last_update == 'stepped'


def test_forward_without_a_patch_size_names_the_loop() -> None:
    with pytest.raises(PatchgenError, match='PatchTrainLoop'):
        tiny_model()(torch.zeros(2, 1, 16, 16))


def test_step_batches_draw_multiplier_batches_and_replay_exactly() -> None:
    def loader():
        index = 0
        while True:
            yield {'inputs': torch.full((2, 1, 16, 16), index), 'labels': torch.tensor([index] * 2)}
            index += 1

    steps = StepBatches(loader(), FixedSize(16, 4), seed=0, rank=0)  # multiplier 16 // 4 = 4
    batch = next(steps)
    assert batch['patch_size'] == 4 and batch['inputs'].shape == (8, 1, 16, 16)
    assert batch['labels'].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert batch['top'].shape == batch['left'].shape == batch['noise_seeds'].shape == (8,)
    assert 0 <= batch['top'].min() and batch['top'].max() <= 12 and batch['noise_band'] == (0, 1)
    noise_at_step_1 = torch.randn(3)
    replay = StepBatches(loader(), FixedSize(16, 4), seed=0, rank=0)
    again = next(replay)
    assert torch.equal(torch.randn(3), noise_at_step_1)  # step randomness depends on the step only
    assert all(torch.equal(batch[k], again[k]) for k in ('top', 'left', 'noise_seeds'))
    other_rank = StepBatches(loader(), FixedSize(16, 4), seed=0, rank=1)
    theirs = next(other_rank)
    assert not torch.equal(torch.randn(3), noise_at_step_1)  # ranks get their own noise
    assert not torch.equal(theirs['noise_seeds'], batch['noise_seeds'])


def test_an_images_loss_depends_on_its_own_draws_not_its_batch() -> None:
    model = tiny_model(loss_reduction='pixel_mean')
    images = torch.rand(4, 1, 16, 16) * 2 - 1
    batch = planned_batch(torch.zeros(4, 1, 16, 16, dtype=torch.uint8), 8, seed=5)
    draws = [batch[k] for k in ('top', 'left', 'noise_seeds')]
    whole = model.loss(images, 8, *draws)['loss']
    halves = [model.loss(images[part], 8, *(d[part] for d in draws))['loss']
              for part in (slice(0, 2), slice(2, 4))]
    torch.testing.assert_close(whole, sum(halves) / 2)


def test_generate_is_seeded_full_size_and_keeps_training_mode() -> None:
    model = tiny_model()
    model.train()
    a = model.generate([1, 2])
    assert a.shape == (2, 1, 16, 16) and model.training
    assert torch.allclose(model.generate([2])[0], a[1], atol=1e-5)  # batch-independent
    wide = model.generate([1], size=(16, 32))
    assert wide.shape == (1, 1, 16, 32)
