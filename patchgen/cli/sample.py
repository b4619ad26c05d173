"""``patchgen sample``: images from a trained checkpoint."""
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.progress import Progress

from patchgen.errors import PatchgenError
from patchgen.images import save_grid
from patchgen.inference import default_device, load_model, sample_to_folder


def sample(checkpoint: Annotated[Path, typer.Argument(help='Checkpoint written by training.')],
           num: Annotated[int, typer.Option('--num', help='Number of images.')],
           out: Annotated[Path, typer.Option('--out', help='Folder for the PNG files.')],
           steps: Annotated[int | None, typer.Option(help='Sampler steps (default: the '
                                                          'config\'s).')] = None,
           batch: Annotated[int, typer.Option(help='Images per batch.')] = 64,
           seed: Annotated[int, typer.Option(help='Seed of the first image; image k uses '
                                                  'seed + k.')] = 0,
           grid: Annotated[Path | None, typer.Option(help='Also write all images as one '
                                                          'grid PNG here.')] = None,
           device: Annotated[str | None, typer.Option(help='cpu, cuda, cuda:1, ... '
                                                           '(default: cuda if present)')] = None) -> None:
    """Sample NUM images with the checkpoint's (EMA) weights and write them as PNG files."""
    if num < 1:
        raise PatchgenError(f'--num must be at least 1, got {num}')
    if steps is not None and steps < 1:
        raise PatchgenError(f'--steps must be at least 1, got {steps}')
    model = load_model(checkpoint, device or default_device())
    kept = []  # batches for the grid

    with Progress(transient=True) as progress:
        task = progress.add_task('sampling', total=num)

        def on_batch(images: torch.Tensor) -> None:
            progress.advance(task, len(images))
            if grid is not None:
                kept.append(images.cpu())

        paths = sample_to_folder(model, range(seed, seed + num), out, batch, steps, on_batch)
    if grid is not None:
        save_grid(torch.cat(kept), grid)
    Console().print(f'wrote {len(paths)} images to {out}' + (f' and a grid to {grid}' if grid else ''),
                    highlight=False)
