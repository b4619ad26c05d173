"""CPU fast-path switches: channels-last and bf16 autocast compute the same model."""
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper

from conftest import loss_draws, tiny_diffusion
from patchgen.engine.loops import planned_batch
from patchgen.engine.optim_wrapper import AutocastOptimWrapper
from patchgen.errors import PatchgenError


def seeded_loss(net: torch.nn.Module, size: int = 8) -> torch.Tensor:
    images = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return net.loss(images, size, *loss_draws(images, size, seed=1))['loss']


def test_channels_last_gives_the_same_loss() -> None:
    plain, fast = tiny_diffusion(), tiny_diffusion(channels_last=True)
    fast.load_state_dict(plain.state_dict())  # the same weights, kept in channels-last layout
    assert fast.backbone.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(seeded_loss(plain), seeded_loss(fast), rtol=1e-4)


def test_bf16_autocast_step_runs_in_bf16_and_updates_the_weights() -> None:
    net = tiny_diffusion()
    wrapper = AutocastOptimWrapper(dtype='bfloat16',
                                   optimizer=torch.optim.Adam(net.parameters(), 1e-3))
    seen = []
    net.backbone.conv_in.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    before = net.backbone.conv_in.weight.detach().clone()
    batch = planned_batch(torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8), 8)
    log = net.train_step(batch, wrapper)
    assert seen == [torch.bfloat16] and math.isfinite(log['loss'].item())
    assert not torch.equal(before, net.backbone.conv_in.weight)
    assert net.backbone.conv_in.weight.dtype == torch.float32  # master weights stay fp32
    fp32 = seeded_loss(tiny_diffusion())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        bf16 = seeded_loss(tiny_diffusion())
    assert abs(bf16.item() - fp32.item()) / fp32.item() < 0.05  # same model, bf16 rounding


def test_fp16_is_refused_on_the_cpu_and_unknown_dtypes_anywhere() -> None:
    net = tiny_diffusion()
    wrapper = AutocastOptimWrapper(dtype='float16',
                                   optimizer=torch.optim.Adam(net.parameters(), 1e-3))
    with pytest.raises(PatchgenError, match='needs a GPU'):
        with wrapper.optim_context(net):
            pass
    with pytest.raises(PatchgenError, match='dtype'):
        AutocastOptimWrapper(dtype='int8', optimizer=torch.optim.Adam(net.parameters()))
    assert isinstance(wrapper, OptimWrapper)


def test_grad_scaler_path_unscales_before_clipping_and_skips_overflow() -> None:
    """The fp16 step's loss-scaling logic, run on the CPU with torch's CPU GradScaler (fp16
    autocast itself is GPU-only in patchgen)."""
    def scaled_wrapper(net: torch.nn.Module) -> AutocastOptimWrapper:
        wrapper = AutocastOptimWrapper(dtype='float16', clip_grad=dict(max_norm=0.5),
                                       optimizer=torch.optim.SGD(net.parameters(), lr=0.1))
        wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=1024.0)
        return wrapper

    def loss_of(net: torch.nn.Module) -> torch.Tensor:
        return sum((param * (index + 1)).square().sum()
                   for index, param in enumerate(net.parameters()))

    torch.manual_seed(0)
    scaled, plain = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    plain.load_state_dict(scaled.state_dict())
    wrapper = scaled_wrapper(scaled)
    wrapper.backward(loss_of(scaled))
    assert torch.allclose(scaled.weight.grad, 1024 * 2 * scaled.weight.detach())  # scaled
    wrapper.step()
    reference = OptimWrapper(torch.optim.SGD(plain.parameters(), lr=0.1),
                             clip_grad=dict(max_norm=0.5))
    reference.update_params(loss_of(plain))  # the same step on unscaled gradients
    for a, b in zip(scaled.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b)
    wrapper.zero_grad()
    before = [param.detach().clone() for param in scaled.parameters()]
    wrapper.backward(loss_of(scaled) * float('inf'))  # an overflowing step
    wrapper.step()
    assert all(torch.equal(a, b) for a, b in zip(before, scaled.parameters()))  # skipped
    assert wrapper.state_dict()['loss_scaler']['scale'] == 512.0  # and the scale halved
    restored = scaled_wrapper(torch.nn.Linear(4, 3))
    restored.load_state_dict(wrapper.state_dict())
    assert restored.loss_scaler.get_scale() == 512.0
    # Through update_params: the logged norm is the unscaled gradients', and an overflow
    # that the scaler skips is reported as a skipped step.
    hub, fresh = MessageHub.get_current_instance(), scaled_wrapper(scaled)
    scaled.zero_grad()  # the overflowing step above left its gradients
    norm = torch.cat([2 * p.detach().flatten() * (i + 1) ** 2
                      for i, p in enumerate(scaled.parameters())]).norm()
    fresh.update_params(loss_of(scaled))
    assert fresh.last_update == 'stepped'
    assert hub.get_scalar('train/grad_norm').current() == pytest.approx(norm.item(), rel=1e-4)
    fresh.update_params(loss_of(scaled) * float('inf'))
    assert fresh.last_update == 'skipped' and fresh.loss_scaler.get_scale() == 512.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason='fp16 with a GradScaler needs CUDA')
def test_fp16_grad_scaler_on_cuda_round_trips_its_state() -> None:
    net = tiny_diffusion().cuda()
    wrapper = AutocastOptimWrapper(dtype='float16',
                                   optimizer=torch.optim.Adam(net.parameters(), 1e-3))
    batch = planned_batch(torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8), 8)
    net.train_step(batch, wrapper)
    state = wrapper.state_dict()
    assert 'loss_scaler' in state and state['loss_scaler']['scale'] > 0
    wrapper.load_state_dict(state)
