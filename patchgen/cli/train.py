"""``patchgen train`` and ``patchgen quickstart``."""
from pathlib import Path
from typing import Annotated

import typer
from mmengine.runner import Runner
from rich.console import Console

from patchgen.config import bundled_config, load_config, parse_cfg_options
from patchgen.engine import build_runner
from patchgen.errors import PatchgenError

LAUNCHERS = ('none', 'pytorch', 'slurm')


def run_training(config: Path, work_dir: Path | None = None, resume: bool = False,
                 cfg_options: list[str] = (), launcher: str = 'none') -> Runner:
    """Train from a config file; returns the runner after training."""
    if launcher not in LAUNCHERS:
        raise PatchgenError(f'launcher {launcher!r} is unknown: use one of {", ".join(LAUNCHERS)}')
    cfg = load_config(config, parse_cfg_options(cfg_options))
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    elif cfg.get('work_dir') is None:
        cfg.work_dir = str(Path('work_dirs') / Path(config).stem)
    cfg.resume = resume
    cfg.launcher = launcher
    runner = build_runner(cfg)
    runner.train()
    return runner


def report(runner: Runner) -> None:
    """Print where the run left its checkpoint and sample grid."""
    console = Console()
    last = Path(runner.work_dir) / 'last_checkpoint'
    if last.is_file():
        console.print(f'checkpoint:  {last.read_text().strip()}', highlight=False)
    grid = runner.message_hub.get_info('sample_grid')
    if grid:
        console.print(f'sample grid: {grid}', highlight=False)


def train(ctx: typer.Context,
          config: Annotated[Path, typer.Argument(help='Python config file.')],
          work_dir: Annotated[Path | None, typer.Option(help='Where logs and checkpoints go '
                                                             '(default: work_dirs/CONFIG_NAME).')] = None,
          resume: Annotated[bool, typer.Option('--resume', help='Resume from the latest '
                                                                'checkpoint in the work dir.')] = False,
          cfg_options: Annotated[list[str] | None, typer.Option(
              '--cfg-options', help='Override config keys: key=value [key=value ...].')] = None,
          launcher: Annotated[str, typer.Option(help='Job launcher: none, pytorch (torchrun) '
                                                     'or slurm.')] = 'none') -> None:
    """Train a model from a config file through the MMEngine Runner."""
    options = list(cfg_options or [])
    for extra in ctx.args:  # `--cfg-options a=1 b=2`: the later pairs arrive as extra arguments
        if extra.startswith('-') or '=' not in extra:
            raise PatchgenError(f'unexpected argument {extra!r}: see `patchgen train --help`')
        options.append(extra)
    report(run_training(config, work_dir, resume, options, launcher))


def quickstart(work_dir: Annotated[Path, typer.Option(help='Where the run goes.')] =
               Path('work_dirs/quickstart')) -> None:
    """Train a small model on MNIST-5k (bundled) for a few minutes on a CPU, then show the results."""
    runner = run_training(bundled_config('quickstart.py'), work_dir)
    report(runner)
    last = Path(runner.work_dir) / 'last_checkpoint'
    Console().print(f'next: patchgen sample {last.read_text().strip()} --num 16 '
                    f'--out {Path(runner.work_dir) / "samples_cli"}', highlight=False)
