"""Every config under configs/ loads, and its model builds."""
from pathlib import Path

import pytest
import torch

from patchgen import config
from patchgen.config import CONFIG_DIR, load_config
from patchgen.registry import MODELS

CONFIGS = sorted(p for p in CONFIG_DIR.rglob('*.py')  # diffusion configs
                 if not {'_base_', 'features', 'autoencoders'} & set(p.parts))


def test_the_expected_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {'quickstart.py', 'fmnist32_patch.py', 'fmnist32_full.py', 'celeba64_ddpmpp.py',
            'afhqv2_64_ddpmpp.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(CONFIG_DIR)))
def test_config_builds_its_model(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.default_scope == 'patchgen' and cfg.train_cfg.type == 'PatchTrainLoop'
    with torch.device('meta'):  # build the structure without allocating paper-scale weights
        model = MODELS.build(cfg.model)
    assert model.resolution % 4 == 0
    assert sum(p.numel() for p in model.parameters()) > 0


def test_patch_and_full_fmnist_configs_differ_only_in_the_patch_sampler() -> None:
    patch = load_config(CONFIG_DIR / 'fmnist32_patch.py').to_dict()
    full = load_config(CONFIG_DIR / 'fmnist32_full.py').to_dict()
    assert patch['train_cfg'].pop('patch_sampler')['type'] == 'RandomMultiScale'
    assert full['train_cfg'].pop('patch_sampler') == {'type': 'FullImage'}
    assert patch == full


def test_class_config_switches_unet_and_dit_with_one_line(tmp_path: Path) -> None:
    source = (CONFIG_DIR / 'fmnist32_class.py').read_text()
    assert source.count("backbone=backbones['dit']") == 1
    unet_config = tmp_path / 'fmnist32_class_unet.py'
    unet_config.write_text(source.replace("_base_ = ['./", f"_base_ = ['{CONFIG_DIR}/")
                           .replace("backbone=backbones['dit']", "backbone=backbones['unet']"))
    dit, unet = load_config(CONFIG_DIR / 'fmnist32_class.py').to_dict(), load_config(
        unet_config).to_dict()
    assert dit['model'].pop('backbone')['type'] == 'DiT'
    assert unet['model'].pop('backbone')['type'] == 'UNet'
    assert dit['model'] == unet['model'] and dit['model']['num_classes'] == 10


def test_the_old_model_patch_sampler_key_moves_to_the_loop_with_a_warning(monkeypatch) -> None:
    logged = []
    monkeypatch.setattr(config, 'print_log', lambda message, **kwargs: logged.append(message))
    cfg = load_config('quickstart')  # the bases set train_cfg.patch_sampler; the user, the old key
    cfg.model.patch_sampler = dict(type='FixedSize', size=16)
    config.move_patch_sampler_to_loop(cfg)
    assert 'patch_sampler' not in cfg.model
    assert cfg.train_cfg.patch_sampler == dict(type='FixedSize', size=16)
    (message,) = logged
    assert message.startswith('model.patch_sampler is deprecated: set train_cfg.patch_sampler')


def test_switching_a_components_type_drops_the_options_it_does_not_take() -> None:
    cfg = load_config('fmnist32_patch', {'train_cfg.patch_sampler.type': 'FullImage'})
    assert cfg.train_cfg.patch_sampler == dict(type='FullImage')  # real_p is gone
    cfg = load_config('fmnist32_patch', {'train_cfg.patch_sampler.type': 'NoiseAwareMultiScale',
                                         'train_cfg.patch_sampler.coupling': 0.5})
    assert cfg.train_cfg.patch_sampler == dict(type='NoiseAwareMultiScale', real_p=0.5,
                                               coupling=0.5)  # kept: both taken
