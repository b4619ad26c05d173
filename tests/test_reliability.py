"""The fault battery: each fault as a user meets it (a subprocess, real files), and its outcome.

docs/reliability.md lists these cases and what happens in each.
"""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import (
    QUICKSTART,
    ROOT,
    Payload,
    assert_one_line_error,
    assert_same_tensors,
    needs_mlxtend,
    patchgen,
    tiny_options,
)
from patchgen.engine.checkpoint import load_checkpoint_file

STATES = ('state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers')

# Runs `patchgen train ...` (sys.argv[1:]) with mmengine's local file writes replaced by
# one that writes half of the file and then SIGKILLs the process, at the write of
# a checkpoint whose name contains $KILL_AT.
KILL_DURING_SAVE = '''
import os, signal, sys
from mmengine.fileio.backends import LocalBackend
from patchgen.cli.main import main
put = LocalBackend.put
def put_and_die(self, obj, filepath):
    if os.environ['KILL_AT'] in str(filepath):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
            f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return put(self, obj, filepath)
LocalBackend.put = put_and_die
sys.argv = ['patchgen', *sys.argv[1:]]
main()
'''


def train_args(work: Path, max_iters: int, *extra: str, **more) -> list[str]:
    return ['train', QUICKSTART, '--work-dir', str(work), *extra,
            *tiny_options(**{'train_cfg.max_iters': max_iters, **more})]


def assert_same_state(a: Path, b: Path) -> None:
    first, second = load_checkpoint_file(a), load_checkpoint_file(b)
    for key in STATES:
        assert_same_tensors(first[key], second[key], key)  # bitwise on the CPU


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory) -> Path:
    """An uninterrupted 12-step run's final checkpoint."""
    work = tmp_path_factory.mktemp('straight')
    result = patchgen(*train_args(work, 12))
    assert result.returncode == 0, result.stderr[-3000:]
    return work / 'iter_12.pth'


@needs_mlxtend
def test_sigkill_mid_run_then_resume_equals_uninterrupted_run(tmp_path: Path,
                                                             straight_run: Path) -> None:
    work = tmp_path / 'work'
    process = subprocess.Popen([sys.executable, '-m', 'patchgen', *train_args(work, 12)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (work / 'iter_4.pth').is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed, not finished
    assert not (work / 'iter_12.pth').exists()
    resumed = patchgen(*train_args(work, 12, '--resume'))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_state(work / 'iter_12.pth', straight_run)


@needs_mlxtend
def test_sigkill_while_saving_keeps_the_previous_checkpoint(tmp_path: Path,
                                                            straight_run: Path) -> None:
    work = tmp_path / 'work'
    killed = subprocess.run([sys.executable, '-c', KILL_DURING_SAVE, *train_args(work, 12)],
                            env={**os.environ, 'KILL_AT': 'iter_8'}, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (work / '.iter_8.pth.tmp').is_file() and not (work / 'iter_8.pth').exists()
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_4.pth')
    load_checkpoint_file(work / 'iter_4.pth')  # the previous checkpoint is whole
    resumed = patchgen(*train_args(work, 12, '--resume'))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_state(work / 'iter_12.pth', straight_run)


@needs_mlxtend
def test_resume_skips_a_corrupt_newest_checkpoint_and_says_so(tmp_path: Path) -> None:
    work = tmp_path / 'work'
    assert patchgen(*train_args(work, 8)).returncode == 0
    newest = work / 'iter_8.pth'
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated, as by a full disk
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(newest.read_bytes())
    resumed = patchgen(*train_args(work, 12, '--resume'))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert 'iter_8.pth is truncated or corrupt' in log
    assert f'Resumed from {work / "iter_4.pth"}' in log
    assert re.search(r'Iter\(train\) \[ *5/12\]', log)  # continues after step 4
    assert_one_line_error(patchgen('sample', str(broken), '--num', '1', '--out',
                                   str(tmp_path / 'out')), str(broken), 'truncated or corrupt')


def test_checkpoint_whose_pickle_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / 'payload_ran'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': Payload(marker)}, evil)
    result = patchgen('sample', str(evil), '--num', '1', '--out', str(tmp_path / 'out'))
    assert_one_line_error(result, str(evil), 'refused', 'system', '--trust-checkpoint')
    assert not marker.exists()  # the payload never ran


@needs_mlxtend
def test_checkpoint_whose_stored_config_runs_code_is_refused(straight_run: Path,
                                                             tmp_path: Path) -> None:
    marker = tmp_path / 'config_ran'
    state = torch.load(straight_run, weights_only=True)
    state['meta']['cfg'] += f"\nx = __import__('os').system('touch {marker}')\n"
    evil = tmp_path / 'evil_config.pth'
    torch.save(state, evil)
    result = patchgen('sample', str(evil), '--num', '1', '--out', str(tmp_path / 'out'))
    assert_one_line_error(result, 'not plain data')
    assert not marker.exists()  # the config's code never ran
    plain = patchgen('sample', str(straight_run), '--num', '1', '--out', str(tmp_path / 'ok'))
    assert plain.returncode == 0, plain.stderr[-2000:]


@needs_mlxtend
def test_non_finite_steps_are_skipped_then_the_run_stops_with_a_checkpoint(
        tmp_path: Path) -> None:
    work = tmp_path / 'work'
    result = patchgen(*train_args(work, 50, **{'optim_wrapper.optimizer.lr': 1e30,
                                                'param_scheduler': None,
                                                'default_hooks.nonfinite.max_consecutive': 3}))
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith('error: training stopped at step') and '3 steps in a row' in error
    assert 'non-finite loss or gradients (1 in a row' in result.stdout + result.stderr
    saved = Path(error.split('checkpoint ')[1].split(' holds')[0])
    state = load_checkpoint_file(saved)
    assert all(torch.isfinite(w).all() for w in state['state_dict'].values())
    assert state['message_hub']['runtime_info']['skipped_steps'] >= 3


def write_pngs(folder: Path, count: int, size: int, mode: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (count, size, size, len(mode)), np.uint8)
    for index, image in enumerate(pixels):
        Image.fromarray(image.squeeze(-1) if mode == 'L' else image).save(
            folder / f'{index:03d}.png')


def folder_options(folder: Path, **dataset) -> dict:
    """Overrides that train on ``folder`` through ImageFolderDataset, without padding."""
    dataset = {'type': 'ImageFolderDataset', 'root': str(folder), 'channels': 1, 'pipeline': [],
               **dataset}
    return {f'train_dataloader.dataset.{key}': value for key, value in dataset.items()}


@pytest.mark.parametrize('fault, words', [
    ('corrupt', ['bad.png', 'cannot be decoded']),
    ('empty', ['holds no images']),
    ('mixed', ['rgb.png', 'channels=1 or channels=3']),
    ('small', ['training images are 1x16x16', 'expects 1x32x32']),
])
def test_data_faults_fail_before_training_naming_the_reason(fault: str, words: list[str],
                                                            tmp_path: Path) -> None:
    folder = tmp_path / 'images'
    folder.mkdir()
    channels: int | None = 1
    if fault in ('corrupt', 'mixed'):
        write_pngs(folder, 4, 32, 'L')
    if fault == 'corrupt':
        (folder / 'bad.png').write_bytes(b'\x89PNG not really')
    if fault == 'mixed':
        Image.new('RGB', (32, 32)).save(folder / 'rgb.png')
        channels = None
    if fault == 'small':
        write_pngs(folder, 4, 16, 'L')
    result = patchgen(*train_args(tmp_path / 'work', 4, **folder_options(folder,
                                                                         channels=channels)))
    assert_one_line_error(result, *words)
    assert not (tmp_path / 'work' / 'last_checkpoint').exists()  # nothing trained


def test_corrupt_image_skipped_with_a_counted_warning(tmp_path: Path) -> None:
    folder = tmp_path / 'images'
    write_pngs(folder, 8, 32, 'L')
    (folder / 'bad.png').write_bytes(b'\x89PNG not really')
    result = patchgen(*train_args(tmp_path / 'work', 2, **folder_options(folder, on_error='skip')))
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'bad.png' in log and 'skipped (1 image(s) so far)' in log
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()


@pytest.mark.parametrize('options, words', [
    ('train_cfg.max_iter=5', ['train_cfg (PatchTrainLoop)', "'max_iter'", 'max_iters']),
    ('model.backbone.base_channel=8', ['model.backbone (UNet)', 'base_channels']),
    ('train_dataloader.batch_sizes=4', ['train_dataloader', 'batch_size']),
    ('max_iters=5', ['the config', "'max_iters'"]),
    ('train_cfg.max_iters=abc', ['expected a number', 'abc']),
    ('model.channels_last=1', ['expected true or false']),
    ('train_cfg.max_iters=-1', ['max_iters', '>= 1', '-1']),
    ('train_dataloader.batch_size=0', ['batch_size', '>= 1']),
    ('model.resolution=30 train_cfg.patch_sampler.type=RandomMultiScale',
     ['resolution 30', 'divisible by 4']),
    ('train_cfg.patch_sampler.type=RandomMultiscale', ["'RandomMultiscale'", 'RandomMultiScale']),
    ('train_dataloader.dataset.type=ImageFolderDataset train_dataloader.dataset.root=/nowhere',
     ['/nowhere', 'does not exist']),
])
def test_config_faults_are_one_line_errors(options: str, words: list[str], tmp_path: Path) -> None:
    assert_one_line_error(patchgen('train', QUICKSTART, '--work-dir', str(tmp_path / 'work'),
                                   '--cfg-options', *options.split()), *words)


@pytest.mark.parametrize('args, words', [
    (['train', 'configs/nope.py'], ['configs/nope.py', 'does not exist']),
    (['sample', 'missing.pth', '--num', '1', '--out', 'o'], ['missing.pth', 'does not exist']),
    (['sample', 'x.pth', '--num', '0', '--out', 'o'], ['--num']),
    (['fid', 'no_such_folder', 'ref.npz'], ['no_such_folder']),
])
def test_cli_faults_are_one_line_errors(args: list[str], words: list[str]) -> None:
    assert_one_line_error(patchgen(*args, cwd=ROOT), *words)


def test_debug_flag_shows_the_traceback(tmp_path: Path) -> None:
    result = patchgen('train', QUICKSTART, '--work-dir', str(tmp_path), '--debug',
                      '--cfg-options', 'train_cfg.max_iter=5')
    assert result.returncode != 0 and 'Traceback' in result.stderr

