"""The same code on a GPU: a training step, channels-last, bf16 autocast, one-GPU FSDP.

Every test here skips without CUDA; `tools/gpu_check.sh` runs them on a GPU machine.
"""
import math
import os
import subprocess
import sys

import pytest
import torch

from conftest import QUICKSTART, ROOT, loss_draws, needs_mlxtend, tiny_diffusion, tiny_options
from patchgen.engine.loops import planned_batch
from patchgen.engine.optim_wrapper import AutocastOptimWrapper, SafeOptimWrapper

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')


def cuda_model(**options) -> torch.nn.Module:
    return tiny_diffusion(**options).cuda()


def cuda_loss(net: torch.nn.Module, size: int = 8) -> torch.Tensor:
    images = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    draws = [d.cuda() for d in loss_draws(images, size, seed=1)]
    return net.loss(images.cuda(), size, *draws)['loss']


@pytest.mark.parametrize('wrapper', ['fp32', 'bf16'])
def test_a_training_step_on_the_gpu_updates_the_weights(wrapper: str) -> None:
    net = cuda_model()
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    optim = (SafeOptimWrapper(optimizer=optimizer) if wrapper == 'fp32'
             else AutocastOptimWrapper(dtype='bfloat16', optimizer=optimizer))
    before = [p.detach().clone() for p in net.parameters()]
    log = net.train_step(planned_batch(torch.randint(0, 256, (8, 1, 16, 16),
                                                     dtype=torch.uint8), 8), optim)
    assert math.isfinite(log['loss'].item()) and optim.last_update == 'stepped'
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_channels_last_and_bf16_compute_the_same_loss_on_the_gpu() -> None:
    plain = cuda_loss(cuda_model())
    assert torch.allclose(plain, cuda_loss(cuda_model(channels_last=True)), rtol=1e-3)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        bf16 = cuda_loss(cuda_model())
    assert abs(bf16.item() / plain.item() - 1) < 0.05


@needs_mlxtend
def test_fsdp_trains_on_one_gpu(tmp_path) -> None:
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=1',
         '-m', 'patchgen', 'train', QUICKSTART, '--launcher', 'pytorch',
         '--work-dir', str(tmp_path), *tiny_options(**{
             'train_cfg.max_iters': 2, 'default_hooks.checkpoint.interval': 2,
             'model_wrapper_cfg.type': 'PatchFullyShardedDataParallel'})],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / 'iter_2.pth').is_file()
