"""``patchgen autoencoder train``: patchgen's own KL autoencoder for latent Patch Diffusion."""
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from patchgen.cli.errors import writable
from patchgen.progress import progress

autoencoder_app = typer.Typer(help='Autoencoders for latent Patch Diffusion.',
                              no_args_is_help=True)


@autoencoder_app.command('train')
def train(config: Annotated[Path, typer.Argument(help='Autoencoder config, e.g. '
                                                      'configs/autoencoders/fmnist_kl.py.')],
          out: Annotated[Path, typer.Option('--out', dir_okay=False, callback=writable,
                                            help='The checkpoint to write.')],
          resume: Annotated[bool, typer.Option('--resume', help='Go on training the checkpoint '
                                                                'at --out.')] = False) -> None:
    """Train a KL autoencoder; reports the test reconstruction PSNR and writes a grid of
    originals over reconstructions next to the checkpoint."""
    from patchgen.autoencoders.training import train_autoencoder
    console = Console(soft_wrap=True, highlight=False)
    with progress() as shown:
        task = shown.add_task('training the autoencoder', total=None)

        def report(step: int, total: int, l1: float) -> None:
            shown.update(task, completed=step, total=total,
                         description=f'training the autoencoder (L1 {l1:.4f})')

        result = train_autoencoder(config, out, resume, report)
    console.print(f"wrote {out} ({result['step']} steps): test reconstruction PSNR "
                  f"{result['psnr']:.2f} dB, latent scale {result['scale']:.4g}, shift "
                  f"{result['shift']:.4g}; reconstructions in {result['grid']}")
