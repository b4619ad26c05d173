"""The documentation's marked code blocks run, its links resolve, and docs/configs.md's option
tables match the code.

Marking convention (README.md and docs/*.md):

- A fenced block whose info string is ``bash runnable`` is run with ``bash -e -o pipefail``;
  one whose info string is ``python runnable`` is run with this venv's python
  (``sys.executable``). The first word keeps the highlighting (```` ```bash runnable ````).
- A fenced block whose info string is ``python file=NAME`` (any language, ``file=`` anywhere in
  it) is not run: its text is written to the file NAME, for later blocks to use.
- Any other block (```` ```bash ````, ```` ```python ````, ...) is never run: long jobs
  (the quickstart, real training, FID with Inception weights) stay unmarked.

The blocks of one document run in order, in one fresh temporary folder of their own, with the
venv's ``bin`` first on PATH (so ``patchgen`` and ``python`` are this checkout's), PYTHONPATH
unset (a block that needs it sets it), MPLBACKEND=Agg and OMP_NUM_THREADS=1 unless set; each block
must exit with status 0.

Quick settings, the only change made to a block's text: every command line of a bash block
that runs ``patchgen train`` (after joining ``\\``-continued lines) gets ``QUICK_TRAIN_OPTIONS``
appended, i.e. ``--cfg-options train_cfg.max_iters=2 train_dataloader.batch_size=4 ...``.
Overrides given later win, so the documented command trains 2 steps of batch 4, samples its grid
with 2 solver steps, and skips the end-of-training plots. The checkpoint keeps
``model.sampler.num_steps=2``, so a later ``patchgen sample`` of it is quick too. Nothing else is
rewritten: the other marked blocks are quick as written. The whole file took 53 s (47 s of it
in the tests) on this project's 2-core CPU at OMP_NUM_THREADS=1 while a benchmark kept both
cores busy (load average 4.8); each ``patchgen`` process spends most of its time importing torch
and mmengine, so mark only blocks that run a few such processes.
"""
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]

QUICK_TRAIN_OPTIONS = {
    'train_cfg.max_iters': 2,
    'train_dataloader.batch_size': 4,
    'model.sampler.num_steps': 2,
    'default_hooks.sample_grid.num_images': 4,
    'default_hooks.sample_grid.num_steps': 2,
    'default_hooks.logger.interval': 1,
    'default_hooks.watch.plots': False,
}
# At least this many marked blocks (runnable or file) in all docs, and these docs have some:
# a marking that got lost must fail the test, not pass it with nothing run.
MIN_MARKED_BLOCKS = 14
DOCS_WITH_RUNNABLE_BLOCKS = ('getting_started.md', 'configs.md', 'custom_components.md',
                             'evaluation.md')

FENCE = re.compile(r'^```([^\n`]*)\n(.*?)^```[ \t]*$', re.M | re.S)


def marked_blocks(path: Path) -> list[tuple[str, str, str]]:
    """(kind, target, text) of each marked block in a markdown file, in order: kind is 'bash'
    or 'python' (run) or 'file' (written to ``target``)."""
    blocks = []
    for info, text in FENCE.findall(path.read_text()):
        words = info.split()
        file = next((word[5:] for word in words if word.startswith('file=')), None)
        if file:
            blocks.append(('file', file, text))
        elif words[1:2] == ['runnable'] and words[0] in ('bash', 'python'):
            blocks.append((words[0], '', text))
    return blocks


def quick(script: str) -> str:
    """The bash ``script`` with ``QUICK_TRAIN_OPTIONS`` appended to each ``patchgen train``."""
    options = ' '.join(f'{key}={value}' for key, value in QUICK_TRAIN_OPTIONS.items())
    lines = script.replace('\\\n', ' ').splitlines()
    return '\n'.join(f'{line} --cfg-options {options}'
                     if re.search(r'(^|\s)patchgen train\s', line) else line for line in lines)


def environment() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND='Agg')
    env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{env.get("PATH", "")}'
    env.setdefault('OMP_NUM_THREADS', '1')
    env.pop('PYTHONPATH', None)  # blocks that need it set it themselves
    return env


def run_block(kind: str, text: str, cwd: Path, where: str) -> None:
    if kind == 'bash':
        command = ['bash', '-e', '-o', 'pipefail', '-c', quick(text)]
    else:
        command = [sys.executable, '-c', text]
    result = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, (
        f'{where}: the {kind} block exited {result.returncode}\n--- block ---\n{text}'
        f'--- stdout (end) ---\n{result.stdout[-3000:]}\n--- stderr (end) ---\n'
        f'{result.stderr[-3000:]}')


def test_enough_blocks_are_marked() -> None:
    counts = {path.name: len(marked_blocks(path)) for path in DOCS}
    assert sum(counts.values()) >= MIN_MARKED_BLOCKS, counts
    for name in DOCS_WITH_RUNNABLE_BLOCKS:
        kinds = [kind for kind, _, _ in marked_blocks(ROOT / 'docs' / name)]
        assert {'bash', 'python'} & set(kinds), f'docs/{name} has no runnable block'


@pytest.mark.parametrize('path', [path for path in DOCS if marked_blocks(path)],
                         ids=lambda path: path.name)
def test_marked_blocks_run(path: Path, tmp_path: Path) -> None:
    for index, (kind, target, text) in enumerate(marked_blocks(path), 1):
        where = f'{path.relative_to(ROOT)} block {index}'
        if kind == 'file':
            (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / target).write_text(text)
        else:
            run_block(kind, text, tmp_path, where)


def test_quick_appends_options_to_train_commands() -> None:
    lines = quick('PYTHONPATH=. patchgen train a.py \\\n  --work-dir w\nls').splitlines()
    assert lines[0].startswith('PYTHONPATH=. patchgen train a.py ')
    assert '--work-dir w --cfg-options train_cfg.max_iters=2 ' in lines[0]
    assert lines[0].endswith(' default_hooks.watch.plots=False') and lines[1] == 'ls'


LINK = re.compile(r'\]\(([^)\s]+)\)')


@pytest.mark.parametrize('path', DOCS, ids=lambda path: path.name)
def test_relative_links_resolve(path: Path) -> None:
    for target in LINK.findall(path.read_text()):
        if re.match(r'[a-z]+:', target) or target.startswith('#'):
            continue
        file = (path.parent / target.split('#')[0]).resolve()
        assert file.exists(), f'{path.relative_to(ROOT)} links to {target}, which is missing'


# --- docs/configs.md: one table per registry, one row per constructor option ----------------

TABLES = ('PATCH_SAMPLERS', 'MULTIPLIER_RULES', 'NOISE_SCHEDULES', 'SAMPLERS', 'LOSS_WEIGHTINGS',
          'AUTOENCODERS', 'BACKBONES', 'PatchDiffusion')  # registries, and the model's own table


def constructor_options(cls: type) -> dict[str, object]:
    """Option name -> default (``inspect.Parameter.empty`` when required) of patchgen's
    constructors along the MRO, as far as ``**kwargs`` passes them on."""
    options: dict[str, object] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith('patchgen') or '__init__' not in vars(klass):
            continue
        parameters = list(inspect.signature(klass.__init__).parameters.values())[1:]
        for parameter in parameters:
            if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                options.setdefault(parameter.name, parameter.default)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return options


def documented_options(heading: str) -> dict[str, dict[str, str]]:
    """Name -> {option: default cell} from the table under ``### `HEADING` `` in configs.md."""
    text = (ROOT / 'docs' / 'configs.md').read_text()
    section = re.search(rf'^### `{heading}`.*?(?=^#)', text + '\n#', re.M | re.S)
    assert section, f'docs/configs.md has no section ### `{heading}`'
    table: dict[str, dict[str, str]] = {}
    name = None
    for row in re.findall(r'^\|(.*)\|\s*$', section.group(), re.M):
        cells = [cell.strip() for cell in row.split('|')]
        if cells[1] == 'option' or all(cell and set(cell) <= set('-: ') for cell in cells):
            continue  # the header and the line under it
        name = cells[0].strip('`') or name
        table.setdefault(name, {})
        if cells[1] not in ('', '-', '(none)'):
            table[name][cells[1].strip('`')] = cells[2]
    return table


@pytest.mark.parametrize('heading', TABLES)
def test_configs_md_lists_every_option(heading: str) -> None:
    from patchgen import registry as registries
    if heading == 'PatchDiffusion':
        from patchgen.models import PatchDiffusion
        classes = {'PatchDiffusion': PatchDiffusion}
    else:
        getattr(registries, heading).import_from_location()
        classes = getattr(registries, heading).module_dict
    documented = documented_options(heading)
    assert set(documented) == set(classes), (
        f'docs/configs.md {heading}: documented {sorted(documented)}, registered '
        f'{sorted(classes)}')
    for name, cls in classes.items():
        options = constructor_options(cls)
        assert set(documented[name]) == set(options), (
            f'docs/configs.md {name}: documented {sorted(documented[name])}, code '
            f'{sorted(options)}')
        for option, default in options.items():
            cell = documented[name][option]
            if default is inspect.Parameter.empty:
                assert not cell.startswith('`'), f'{name}.{option} is required, not {cell}'
            else:
                assert cell == f'`{default!r}`', f'{name}.{option} defaults to {default!r}, ' \
                                                 f'documented {cell}'
