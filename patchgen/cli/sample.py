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

Checkpoint = Annotated[Path, typer.Argument(help='Checkpoint written by training.')]
Num = Annotated[int, typer.Option('--num', help='Number of images.')]
OutDir = Annotated[Path, typer.Option('--out', help='Folder for the PNG files.')]
Steps = Annotated[int | None, typer.Option(help="Sampler steps (default: the config's).")]
Batch = Annotated[int, typer.Option(help='Images per batch.')]
Seed = Annotated[int, typer.Option(help='Seed of the first image; image k uses seed + k.')]
Grid = Annotated[Path | None, typer.Option(help='Also write all images as one grid PNG here.')]
Resolution = Annotated[int | None, typer.Option(
    help='Side of the canvas in pixels (default: the training resolution); larger canvases '
         'extrapolate the coordinates.')]
XStart = Annotated[int, typer.Option(help='Column of the canvas\'s left edge in training pixels.')]
YStart = Annotated[int, typer.Option(help='Row of the canvas\'s top edge in training pixels.')]
Device = Annotated[str | None, typer.Option(help='cpu, cuda, cuda:1, ... (default: cuda if '
                                                 'present)')]


def sample(checkpoint: Checkpoint, num: Num, out: OutDir, steps: Steps = None, batch: Batch = 64,
           seed: Seed = 0, grid: Grid = None, resolution: Resolution = None, x_start: XStart = 0,
           y_start: YStart = 0, device: Device = None) -> None:
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

        size = None if resolution is None else (resolution, resolution)
        paths = sample_to_folder(model, range(seed, seed + num), out, batch, steps, on_batch,
                                 size=size, offset=(y_start, x_start))
    if grid is not None:
        save_grid(torch.cat(kept), grid)
    grid_note = f' and a grid to {grid}' if grid else ''
    Console(soft_wrap=True, highlight=False).print(f'wrote {len(paths)} images to {out}{grid_note}')
