"""Bad input of every kind, through every command: one `error:` line, exit status 2, no traceback.

The table is made from the typer app itself. Each parameter of each command gets a
role from its name and type (a config, a checkpoint, an image, images, a run folder,
an output, a number, a name); each role has its malformed values, and each case
gives one parameter a malformed value and the others valid ones. A command added
later is covered through its parameters' roles; a parameter whose role cannot be
told, a number without a declared range or an output that does not say whether it
is a file or a folder fails ``test_every_parameter_has_a_role``, naming it.
"""
import gc
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import typer
from PIL import Image

from conftest import QUICKSTART, TINY_OVERRIDES, error_line
from patchgen.cli.main import app, main
from patchgen.config import load_config
from patchgen.engine import build_runner

# What a parameter takes, told by its name (a ``work_dir`` option is an output instead).
ROLES = {
    'config': 'config',
    'checkpoint': 'checkpoint', 'features': 'checkpoint', 'weights': 'checkpoint',
    'autoencoder': 'checkpoint',
    'image': 'image',
    'source': 'images', 'dataset': 'images', 'generated': 'images', 'reference': 'images',
    'work_dir': 'run',
    'out': 'output', 'grid': 'output',
    'device': 'name', 'sampler': 'name', 'metrics': 'name', 'metric': 'name',
    'launcher': 'name', 'sigma_rels': 'name', 'cfg_options': 'name',
}

# The malformed values of each file role: names of the files that the `inputs` fixture makes.
MALFORMED = {
    'config': ['missing.py', 'folder.py', 'empty.py', 'truncated.py', 'syntax_error.py',
               'png_as.py', 'checkpoint_as.py', 'checkpoint.pth'],
    'checkpoint': ['missing.pth', 'folder.pth', 'empty.pth', 'truncated.pth', 'png_as.pth',
                   'config_as.pth', 'npz_as.pth', 'zip_as.pth', 'no_state_dict.pth'],
    'image': ['missing.png', 'folder.png', 'empty.png', 'truncated.png', 'checkpoint_as.png',
              'config_as.png'],
    'images': ['missing_folder', 'empty_folder', 'corrupt_image_folder', 'missing.zip',
               'empty.zip', 'truncated.zip', 'png_as.zip', 'checkpoint.pth', 'syntax_error.py',
               'missing.npz', 'folder.npz', 'empty.npz', 'truncated.npz', 'png_as.npz'],
    'run': ['missing_folder', 'a_file', 'empty_folder'],
    'name': ['no-such-thing'],
}
HUGE = {int: 10**30, float: 1e30}

# Where the parameters' roles do not give a valid call: (command, parameter) -> a valid value
# (a file name in QUICKSTART's config folder, or None: a value of the parameter's role).
NEEDED = {
    ('ema sweep', 'reference'): None,  # --metric fid needs one
    ('data encode', 'autoencoder'): 'fmnist32_latent.py',  # a config naming an autoencoder
}


def commands(group: typer.core.TyperGroup, path: tuple[str, ...] = ()) -> Iterator[tuple]:
    """(name, command) of every command under ``group``, subcommands as 'ema reconstruct'."""
    for name, command in group.commands.items():
        if hasattr(command, 'commands'):
            yield from commands(command, (*path, name))
        else:
            yield ' '.join((*path, name)), command


COMMANDS = dict(commands(typer.main.get_command(app)))


def is_argument(param) -> bool:
    return param.param_type_name == 'argument'


def kind(param) -> type:
    return param.type_descriptor.annotation


def role(param) -> str | None:
    """The role of a parameter; None for flags and for text the test cannot tell."""
    if kind(param) is bool:
        return None
    if kind(param) in (int, float):
        return 'number'
    if param.name == 'work_dir' and not is_argument(param):
        return 'output'
    return ROLES.get(param.name)


def output_is_folder(param) -> bool | None:
    """True for an output declared a folder (``file_okay=False``), False for a file
    (``dir_okay=False``), None when undeclared."""
    info = param.type_descriptor.parameter_info
    return None if info.file_okay == info.dir_okay else not info.file_okay


def out_of_range(param) -> list[str]:
    """0, -1, a huge value and the values just past the declared bounds, where out of range."""
    low, high = param.min, param.max
    if low is None or high is None:
        return []  # test_every_parameter_has_a_role names it
    values = {0, -1, HUGE[kind(param)], low - 1, high + 1}
    return [str(value) for value in sorted(values) if not low <= value <= high]


def malformed(param) -> list[str]:
    """The malformed values of a parameter (file names of the `inputs` fixture, or text)."""
    found = role(param)
    if found == 'number':
        return out_of_range(param)
    if found == 'output':
        wrong = {True: ['existing_file'], False: ['existing_folder'], None: []}
        return ['under_a_file/out', *wrong[output_is_folder(param)]]
    return MALFORMED.get(found, [])


def unplaced() -> list[str]:
    """Parameters the table cannot cover, each with what it lacks."""
    problems = []
    for name, command in COMMANDS.items():
        for param in command.params:
            where = f'`patchgen {name}` {param.opts[0]}'
            found = role(param)
            if found is None and (is_argument(param) or kind(param) is Path):
                problems.append(f'{where}: no role (add its name to ROLES)')
            if found == 'number' and (param.min is None or param.max is None):
                problems.append(f'{where}: declare its range, typer.Option(min=..., max=...)')
            if found == 'output' and output_is_folder(param) is None:
                problems.append(f'{where}: declare file_okay=False (a folder) or dir_okay=False '
                                f'(a file)')
    return problems


CASES = [pytest.param(name, param.name, value, id=f'{name}-{param.name}-{value}')
         for name, command in COMMANDS.items() for param in command.params
         if role(param) is not None for value in malformed(param)]


@pytest.fixture(scope='module')
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder of valid inputs (a run of two tiny training steps with its checkpoint and
    post-hoc EMA snapshots, images) and of every malformed file that MALFORMED names."""
    root = tmp_path_factory.mktemp('inputs')
    cfg = load_config(QUICKSTART, {**TINY_OVERRIDES, 'train_cfg.max_iters': 2,
                                   'default_hooks.checkpoint.interval': 2})
    cfg.work_dir = str(root / 'run')
    cfg.custom_hooks = [dict(type='PostHocEMAHook', snapshot_interval=1)]  # for `patchgen ema`
    cfg.experiment_name = f'test_{uuid.uuid4().hex}'
    build_runner(cfg).train()
    checkpoint = (root / 'run' / 'iter_2.pth').read_bytes()
    (root / 'checkpoint.pth').write_bytes(checkpoint)
    images = root / 'images'
    images.mkdir()
    for index in range(4):
        Image.new('L', (16, 16), index * 60).save(images / f'{index}.png')
    png = (images / '0.png').read_bytes()
    config = Path(QUICKSTART).read_text()
    npz = root / 'stats.npz'
    np.savez(npz, mu=np.zeros(2), sigma=np.eye(2))
    with zipfile.ZipFile(root / 'images.zip', 'w') as archive:
        archive.write(images / '0.png', '0.png')
    contents = {'png': png, 'checkpoint': checkpoint, 'config': config.encode(),
                'npz': npz.read_bytes(), 'zip': (root / 'images.zip').read_bytes()}
    for suffix, own in (('.py', 'config'), ('.pth', 'checkpoint'), ('.png', 'png'),
                        ('.npz', 'npz'), ('.zip', 'zip')):
        (root / f'folder{suffix}').mkdir()
        (root / f'empty{suffix}').write_bytes(b'')
        (root / f'truncated{suffix}').write_bytes(contents[own][:len(contents[own]) // 2])
        for other, data in contents.items():
            if other != own:
                (root / f'{other}_as{suffix}').write_bytes(data)
    (root / 'truncated.py').write_text(config[:config.index('dict(') + 5])  # an open call
    (root / 'syntax_error.py').write_text('model = dict(type=\n')
    torch.save({'weights': torch.zeros(2)}, root / 'no_state_dict.pth')
    (root / 'empty_folder').mkdir()
    (root / 'corrupt_image_folder').mkdir()
    (root / 'corrupt_image_folder' / '0.png').write_bytes(png)
    (root / 'corrupt_image_folder' / '1.png').write_bytes(png[:len(png) // 2])
    (root / 'a_file').write_text('not a folder\n')
    (root / 'existing_file').write_text('a file where an output folder would be\n')
    (root / 'existing_folder').mkdir()
    (root / 'under_a_file').write_text('a file where a folder would be\n')
    gc.freeze()  # mmengine datasets call gc.collect(): fast once this big heap is left out
    yield root
    gc.unfreeze()


def valid(command: str, param, inputs: Path, tmp_path: Path) -> str | None:
    """A valid value of a parameter, where a call needs one (arguments, required options and
    NEEDED); None for the others."""
    needed = (command, param.name) in NEEDED
    if needed and NEEDED[command, param.name]:
        return str(Path(QUICKSTART).parent / NEEDED[command, param.name])
    if not (is_argument(param) or param.required or needed):
        return None
    found = role(param)
    if found == 'number':
        if param.min is None or param.max is None:
            return '1'  # test_every_parameter_has_a_role names it
        return str(param.min if kind(param) is int else (param.min + param.max) / 2)
    if found == 'output':
        return str(tmp_path / ('new_folder' if output_is_folder(param) else 'new_file'))
    paths = {'config': QUICKSTART, 'checkpoint': inputs / 'checkpoint.pth',
             'image': inputs / 'images' / '0.png', 'images': inputs / 'images',
             'run': inputs / 'run'}
    if found not in paths:
        pytest.fail(f'no valid value for {param.opts[0]} (role {found}): add one to valid()')
    return str(paths[found])


def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Run ``patchgen ARGS`` in this process; its exit status and standard error."""
    with mock.patch.object(sys, 'argv', ['patchgen', *args]):
        try:
            main()
        except SystemExit as exit:
            return exit.code, capsys.readouterr().err
        except Exception as error:  # noqa: BLE001 (a traceback is what this test finds)
            pytest.fail(f'patchgen {" ".join(args)} raised {error!r} instead of one error line')
    return 0, capsys.readouterr().err


def test_every_parameter_has_a_role() -> None:
    assert not unplaced(), 'parameters the bad-input table cannot cover:\n' + '\n'.join(unplaced())


def test_the_table_covers_every_command_that_takes_input() -> None:
    covered = {case.values[0] for case in CASES}
    takes_input = {name for name, command in COMMANDS.items()
                   if any(kind(param) is not bool for param in command.params)}
    assert takes_input <= covered, f'commands without bad-input cases: {takes_input - covered}'
    assert len(CASES) > 100


@pytest.mark.parametrize('command, name, value', CASES)
def test_bad_input_ends_in_one_error_line(command: str, name: str, value: str, inputs: Path,
                                          tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = next(param for param in COMMANDS[command].params if param.name == name)
    text = role(target) in ('number', 'name')
    bad = value if text else str(inputs / value)
    args = command.split()
    for param in COMMANDS[command].params:
        given = bad if param is target else valid(command, param, inputs, tmp_path)
        if given is not None:
            args += [given] if is_argument(param) else [param.opts[0], given]
    status, err = run_cli(args, capsys)
    context = f'patchgen {" ".join(args)}\nexit {status}, stderr:'
    assert status == 2, f'{context}\n{err}'
    last = error_line([line for line in err.splitlines() if line.strip()], context)
    assert 'Traceback' not in err
    named = {'number': (bad, *target.opts), 'name': (bad, *target.opts),
             'output': (bad, str(Path(bad).parent))}.get(role(target), (bad,))
    assert any(name in last for name in named), f'{last!r} names none of {named}'
