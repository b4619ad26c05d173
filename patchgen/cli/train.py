"""``patchgen train`` and ``patchgen quickstart``."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from patchgen.cli.errors import writable
from patchgen.errors import PatchgenError

if TYPE_CHECKING:
    from mmengine.runner import Runner

LAUNCHERS = ('none', 'pytorch', 'slurm')


def run_training(config: Path | str, work_dir: Path | None = None, resume: bool = False,
                 cfg_options: list[str] = (), launcher: str = 'none',
                 trust_checkpoint: bool = False) -> Runner:
    """Train from a config file; returns the runner after training."""
    from patchgen.config import load_config, parse_cfg_options
    from patchgen.engine import build_runner  # imported here: torch and mmengine's Runner are slow
    from patchgen.files import make_folder
    if launcher not in LAUNCHERS:
        raise PatchgenError(f'launcher {launcher!r} is unknown: use one of {", ".join(LAUNCHERS)}')
    cfg = load_config(config, parse_cfg_options(cfg_options))
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    elif cfg.get('work_dir') is None:
        cfg.work_dir = str(Path('work_dirs') / Path(config).stem)
    make_folder(cfg.work_dir)  # a path that cannot be a folder fails here, in one line
    cfg.resume = resume
    cfg.launcher = launcher
    if trust_checkpoint:
        cfg.trust_checkpoint = True
    runner = build_runner(cfg)
    runner.train()
    return runner


def report(runner: Runner) -> Path | None:
    """Print where the run left its checkpoint and sample grid; returns the checkpoint."""
    console = Console(soft_wrap=True, highlight=False)
    last = Path(runner.work_dir) / 'last_checkpoint'
    checkpoint = Path(last.read_text().strip()) if last.is_file() else None
    if checkpoint is not None:
        console.print(f'checkpoint:  {checkpoint}')
    grid = runner.message_hub.get_info('sample_grid')
    if grid:
        console.print(f'sample grid: {grid}')
    return checkpoint


ConfigPath = Annotated[Path, typer.Argument(
    help='Python config file, or a bundled config\'s name (quickstart, fmnist32_patch, ...).')]
WorkDir = Annotated[Path | None, typer.Option(
    file_okay=False, callback=writable,
    help='Where logs and checkpoints go (default: work_dirs/CONFIG_NAME).')]
Resume = Annotated[bool, typer.Option(
    '--resume', help='Resume from the latest checkpoint in the work dir.')]
CfgOptions = Annotated[list[str] | None, typer.Option(
    '--cfg-options', help='Override config keys: key=value [key=value ...].')]
TrustCheckpoint = Annotated[bool, typer.Option(
    '--trust-checkpoint', help='Unpickle everything in resumed or loaded checkpoints (legacy '
                               'files): a crafted file can then run any code.')]
Launcher = Annotated[str, typer.Option(help='Job launcher: none, pytorch (torchrun) or slurm.')]


def collect_options(ctx: typer.Context, cfg_options: list[str] | None) -> list[str]:
    """``--cfg-options a=1 b=2``: the pairs after the first arrive as extra arguments."""
    options = list(cfg_options or [])
    for extra in ctx.args:
        if extra.startswith('-') or '=' not in extra:
            raise PatchgenError(f'unexpected argument {extra!r}: see `{ctx.command_path} --help`')
        options.append(extra)
    return options


def train(ctx: typer.Context, config: ConfigPath, work_dir: WorkDir = None, resume: Resume = False,
          cfg_options: CfgOptions = None, launcher: Launcher = 'none',
          trust_checkpoint: TrustCheckpoint = False) -> None:
    """Train a model from a config through the MMEngine Runner."""
    report(run_training(config, work_dir, resume, collect_options(ctx, cfg_options), launcher,
                        trust_checkpoint))


def quickstart(ctx: typer.Context,
               work_dir: Annotated[Path, typer.Option(
                   file_okay=False, callback=writable, help='Where the run goes.')] = Path(
                   'work_dirs/quickstart'),
               cfg_options: CfgOptions = None) -> None:
    """Train a small model on MNIST-5k for a few minutes on a CPU and show the results."""
    runner = run_training('quickstart', work_dir, cfg_options=collect_options(ctx, cfg_options))
    checkpoint = report(runner)
    out = Path(runner.work_dir) / 'samples_cli'
    Console(soft_wrap=True, highlight=False).print(
        f'next: patchgen sample {checkpoint} --num 16 --out {out}')
