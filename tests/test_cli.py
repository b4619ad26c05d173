"""The command line as a user runs it: train, resume, sample, list, and bad input."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from conftest import QUICKSTART, ROOT, assert_one_line_error, needs_mlxtend, patchgen, tiny_options


@needs_mlxtend
def test_train_resume_and_sample_from_the_command_line(tmp_path: Path) -> None:
    work = tmp_path / 'work'
    first = patchgen('train', QUICKSTART, '--work-dir', str(work),
                     *tiny_options(**{'train_cfg.max_iters': 4}))
    assert first.returncode == 0, first.stderr[-3000:]
    assert 'checkpoint:' in first.stdout and (work / 'iter_4.pth').is_file()
    second = patchgen('train', QUICKSTART, '--work-dir', str(work), '--resume',
                      *tiny_options(**{'train_cfg.max_iters': 8}))
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert 'Advance dataloader 4 steps' in log and 'Iter(train) [5/8]' in log
    assert 'Iter(train) [1/8]' not in log
    assert (work / 'iter_8.pth').is_file()

    outputs = []
    for name in ('a', 'b'):
        out = tmp_path / name
        result = patchgen('sample', str(work / 'iter_8.pth'), '--num', '8', '--out', str(out),
                          '--seed', '3', '--batch', '3', '--grid', str(tmp_path / f'{name}.png'))
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(sorted(out.glob('*.png')))
    assert [p.name for p in outputs[0]] == [f'{seed:06d}.png' for seed in range(3, 11)]
    for a, b in zip(*outputs):
        assert Image.open(a).size == (32, 32) and Image.open(a).mode == 'L'
        assert a.read_bytes() == b.read_bytes()  # the same seed gives the same file
    assert Image.open(tmp_path / 'a.png').size[0] > 32  # the grid
    wide = patchgen('sample', str(work / 'iter_8.pth'), '--num', '1', '--out', str(tmp_path / 'w'),
                    '--resolution', '48', '--x-start', '-8', '--y-start', '-8')
    assert wide.returncode == 0, wide.stderr[-3000:]
    assert Image.open(tmp_path / 'w' / '000000.png').size == (48, 48)  # an outpainted canvas


def test_list_shows_every_registry() -> None:
    result = patchgen('list')
    assert result.returncode == 0
    for name in ('BACKBONES', 'PATCH_SAMPLERS', 'RandomMultiScale', 'UNet', 'HeunSampler',
                 'PatchTrainLoop', 'CenterPad', 'EDM'):
        assert name in result.stdout


def test_missing_config_file() -> None:
    assert_one_line_error(patchgen('train', 'configs/nope.py'), 'configs/nope.py', 'does not exist')


def test_unknown_registry_name_lists_close_matches(tmp_path: Path) -> None:
    result = patchgen('train', QUICKSTART, '--work-dir', str(tmp_path),
                      '--cfg-options', 'train_cfg.patch_sampler.type=RandomMultiscale')
    assert_one_line_error(result, "'RandomMultiscale'", 'patch sampler', 'RandomMultiScale')


def test_resolution_not_divisible_by_four(tmp_path: Path) -> None:
    result = patchgen('train', QUICKSTART, '--work-dir', str(tmp_path),
                      '--cfg-options', 'model.resolution=30',
                      'train_cfg.patch_sampler.type=RandomMultiScale')
    assert_one_line_error(result, 'resolution 30', 'divisible by 4')


def test_wrong_checkpoint_path(tmp_path: Path) -> None:
    result = patchgen('sample', str(tmp_path / 'missing.pth'), '--num', '2', '--out',
                      str(tmp_path / 'out'))
    assert_one_line_error(result, 'missing.pth', 'does not exist')


@pytest.mark.parametrize('args, words', [
    (['sample', 'x.pth', '--num', '0', '--out', 'o'], ['--num']),
    (['train', 'configs/quickstart.py', '--cfg-options', 'novalue'], ['key=value']),
])
def test_bad_values(args: list[str], words: list[str], tmp_path: Path) -> None:
    assert_one_line_error(patchgen(*args, cwd=ROOT), *words)


@needs_mlxtend
def test_tools_train_behaves_like_patchgen_train(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / 'tools' / 'train.py'),
                             QUICKSTART, '--work-dir', str(tmp_path),
                             *tiny_options(**{'train_cfg.max_iters': 2})],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / 'iter_2.pth').is_file() and 'checkpoint:' in result.stdout


def test_data_converts_a_folder_into_an_edm_zip(tmp_path: Path) -> None:
    folder = tmp_path / 'images'
    folder.mkdir()
    for index in range(3):
        Image.new('RGB', (8, 8), (index * 40, 0, 0)).save(folder / f'{index}.png')
    result = patchgen('data', str(folder), '--out', str(tmp_path / 'd.zip'), '--channels', '1')
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(tmp_path / 'd.zip') as archive:
        names = sorted(archive.namelist())
        assert names == ['00000/img00000000.png', '00000/img00000001.png',
                         '00000/img00000002.png', 'dataset.json']
        with archive.open('00000/img00000001.png') as file:
            assert Image.open(file).mode == 'L'


def test_error_messages_keep_their_square_brackets(tmp_path: Path) -> None:
    name = str(tmp_path / 'x[dict(a)]' / '[bold]y.py')  # rich markup would eat these
    assert_one_line_error(patchgen('train', name), name)
