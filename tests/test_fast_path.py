"""CPU fast-path switches: channels-last and bf16 autocast compute the same model."""
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper

from conftest import assert_same_tensors, loss_draws, needs_mlxtend, tiny_diffusion
from patchgen.engine import build_runner, load_checkpoint_file, optim_wrapper
from patchgen.engine.autocast_probe import autocast_speedup
from patchgen.engine.loops import PatchTrainLoop, planned_batch
from patchgen.engine.optim_wrapper import AutocastOptimWrapper
from patchgen.errors import PatchgenError
from patchgen.patches import RandomMultiScale


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


def test_autocast_probe_leaves_weights_gradients_and_random_state_alone() -> None:
    net = tiny_diffusion()
    dropouts = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    for dropout in dropouts:
        dropout.p = 0.5  # draws from the global generator
    assert dropouts
    seeded_loss(net).backward()
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    grads = [p.grad.clone() for p in net.parameters()]
    rng = torch.get_rng_state()
    speedup = autocast_speedup(net, {(8, 8): 0.5, (16, 4): 0.5}, torch.bfloat16, repeats=1)
    assert math.isfinite(speedup) and speedup > 0
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(p.grad, g) for p, g in zip(net.parameters(), grads))
    assert all(torch.equal(v, weights[k]) for k, v in net.state_dict().items())


@pytest.mark.parametrize('speedup, chosen', [(1.5, torch.bfloat16), (1.05, None)])
def test_auto_dtype_casts_only_when_bf16_is_faster_and_checkpoints_keep_the_choice(
        speedup: float, chosen: torch.dtype | None, monkeypatch: pytest.MonkeyPatch) -> None:
    net = tiny_diffusion()
    monkeypatch.setattr(optim_wrapper, 'autocast_speedup', lambda *args: speedup)
    wrapper = AutocastOptimWrapper(dtype='auto', optimizer=torch.optim.Adam(net.parameters()))
    with pytest.raises(PatchgenError, match='not measured'):
        with wrapper.optim_context(net):
            pass
    wrapper.settle(net, {(16, 8): 1.0})
    assert wrapper.cast_dtype == chosen  # bf16 only past min_speedup (1.1)
    seen = []
    net.backbone.conv_in.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    net.train_step(planned_batch(torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8), 8),
                   wrapper)
    assert seen == [chosen or torch.float32]
    monkeypatch.setattr(optim_wrapper, 'autocast_speedup', None)  # a resumed run does not probe
    resumed = AutocastOptimWrapper(dtype='auto', optimizer=torch.optim.Adam(net.parameters()))
    resumed.load_state_dict(wrapper.state_dict())
    resumed.settle(net, {(16, 8): 1.0})
    assert resumed.cast_dtype == chosen
    idle = AutocastOptimWrapper(dtype='auto', optimizer=torch.optim.Adam(net.parameters()))
    idle.settle(net, {})  # a run of no steps (max_iters=0) times nothing and stays fp32
    assert idle.cast_dtype is None


@needs_mlxtend
def test_a_run_that_probes_and_stays_fp32_equals_a_plain_fp32_run(tiny_cfg: Config,
                                                                  tmp_path: Path) -> None:
    """The probe in PatchTrainLoop (real timings, bf16 never fast enough) leaves no trace."""
    def trained(work_dir: Path, wrapper: dict) -> dict:
        cfg = tiny_cfg.copy()
        cfg.merge_from_dict({'work_dir': str(work_dir), 'train_cfg.max_iters': 4,
                             'default_hooks.checkpoint.interval': 4,
                             'optim_wrapper': wrapper})
        cfg.experiment_name += work_dir.name
        build_runner(cfg).train()
        return load_checkpoint_file(work_dir / 'iter_4.pth')

    plain = trained(tmp_path / 'plain', dict(dtype='float32'))
    probed = trained(tmp_path / 'probed', dict(dtype='auto', min_speedup=1e9))
    assert probed['optimizer']['autocast_dtype'] == 'float32'
    assert_same_tensors(plain['state_dict'], probed['state_dict'], 'state_dict')


def test_the_probe_weighs_each_kind_of_step_by_its_share_of_the_run() -> None:
    loop = SimpleNamespace(max_iters=20_000, runner=SimpleNamespace(seed=3),
                           dataloader=SimpleNamespace(batch_size=8),
                           patch_sampler=RandomMultiScale(resolution=32, real_p=0.5))
    mix = PatchTrainLoop.step_mix(loop)  # sizes 8/16/32 draw R // size = 4/2/1 batches of 8
    assert set(mix) == {(8, 32), (16, 16), (32, 8)}
    assert sum(mix.values()) == pytest.approx(1)
    for shape, share in {(8, 32): 0.2, (16, 16): 0.3, (32, 8): 0.5}.items():
        assert mix[shape] == pytest.approx(share, abs=0.05)  # 1,000 plans
