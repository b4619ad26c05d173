"""``patchgen sample``: images from a trained checkpoint."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from patchgen.cli.errors import device_name, writable
from patchgen.errors import PatchgenError
from patchgen.progress import progress

if TYPE_CHECKING:
    import torch

Checkpoint = Annotated[Path, typer.Argument(help='Checkpoint written by training.')]
Num = Annotated[int, typer.Option('--num', '-n', min=1, max=10**9,
                                   help='Number of images (-n under torchrun, whose parser '
                                        'mistakes --num for its own --numa-binding).')]
OutDir = Annotated[Path, typer.Option('--out', file_okay=False, callback=writable,
                                      help='Folder for the PNG files.')]
Steps = Annotated[int | None, typer.Option(min=1, max=10**5,
                                           help="Sampler steps (default: the config's).")]
Batch = Annotated[int, typer.Option(min=1, max=10**6, help='Images per batch.')]
Seed = Annotated[int, typer.Option(min=0, max=2**63 - 1,
                                   help='Seed of the first image; image k uses seed + k.')]
Grid = Annotated[Path | None, typer.Option(dir_okay=False, callback=writable,
                                           help='Also write all images as one grid PNG here.')]
# The canvas options count what the model denoises: pixels, or a latent model's latents.
UNITS = 'training pixels (latent cells for a latent model)'
Resolution = Annotated[int | None, typer.Option(
    min=1, max=2**14, help=f"Side of the canvas in {UNITS}, whose images come out the "
                           "autoencoder's factor larger (x8 for SD's VAE). Default: the training "
                           'resolution; larger canvases extrapolate the coordinates.')]
XStart = Annotated[int, typer.Option(min=-2**14, max=2**14,
                                     help=f"Column of the canvas's left edge in {UNITS}.")]
YStart = Annotated[int, typer.Option(min=-2**14, max=2**14,
                                     help=f"Row of the canvas's top edge in {UNITS}.")]
ClassLabel = Annotated[int | None, typer.Option(
    min=0, max=10**6, help='Class of every image (class-conditional models; default: seed % '
                           'classes, and the grid shows one row per class).')]
Guidance = Annotated[float, typer.Option(
    min=0, max=100, help='Classifier-free guidance weight w: 1 is plain conditional sampling, '
                         'larger follows the class more closely.')]
TrustCheckpoint = Annotated[bool, typer.Option(
    '--trust-checkpoint', help='Unpickle everything in the checkpoint (legacy files): a crafted '
                               'file can then run any code. Only for files you trust.')]
SamplerName = Annotated[str | None, typer.Option(
    '--sampler', help="Solver: EulerSampler, HeunSampler, DPMSolverPP2MSampler or any other "
                      "registered sampler (default: the config's).")]
Tile = Annotated[int | None, typer.Option(
    min=1, max=2**14,
    help=f'Sample the canvas as overlapping tiles of this side in {UNITS}, at most the '
         'training resolution, each with its own coordinates: memory of one tile batch at any '
         'size.')]
TileOverlap = Annotated[int | None, typer.Option(
    min=0, max=2**14, help=f'{UNITS.capitalize()} that neighbouring tiles share at least '
                           '(default: tile // 4).')]
TileBatch = Annotated[int, typer.Option(min=1, max=10**6,
                                         help='Tiles per network call (with --tile).')]
Device = Annotated[str | None, typer.Option(
    callback=device_name, help='cpu, cuda, cuda:1, ... (default: cuda if present)')]


def grid_images(out: Path, seeds: range, num_classes: int,
                class_label: int | None) -> tuple[torch.Tensor, int | None]:
    """The written images for the grid and its images per row: one row per class when
    the model is class-conditional and the classes vary (seed % num_classes)."""
    from patchgen.images import read_pngs
    if num_classes == 0 or class_label is not None:
        return read_pngs([out / f'{s:06d}.png' for s in seeds]), None
    by_class = sorted(seeds, key=lambda s: (s % num_classes, s))
    per_row = -(-len(seeds) // min(num_classes, len(seeds)))  # ceil
    return read_pngs([out / f'{s:06d}.png' for s in by_class]), per_row


def sample(checkpoint: Checkpoint, num: Num, out: OutDir, steps: Steps = None, batch: Batch = 64,
           seed: Seed = 0, grid: Grid = None, resolution: Resolution = None, x_start: XStart = 0,
           y_start: YStart = 0, class_label: ClassLabel = None, guidance: Guidance = 1.0,
           sampler: SamplerName = None, tile: Tile = None, tile_overlap: TileOverlap = None,
           tile_batch: TileBatch = 64, device: Device = None,
           trust_checkpoint: TrustCheckpoint = False) -> None:
    """Sample NUM images with the checkpoint's (EMA) weights and write them as PNG files.

    Under torchrun (``torchrun --nproc_per_node=N -m patchgen sample CKPT -n NUM ...``) each
    rank samples every N-th seed; the files are those of a single process.
    """
    if tile is not None and (x_start or y_start):
        raise PatchgenError('--tile places the tiles of the canvas itself: leave out --x-start '
                            'and --y-start')
    from patchgen.distributed import barrier, init_from_torchrun, shard
    from patchgen.images import save_grid
    from patchgen.inference import build_sampler, default_device, load_model, sample_to_folder
    from patchgen.samplers import Tiling
    tiling = None if tile is None else Tiling(tile, tile_overlap, tile_batch)
    rank, world_size = init_from_torchrun()
    model = load_model(checkpoint, device or default_device(), trust_checkpoint)
    solver = None if sampler is None else build_sampler(sampler, steps or model.sampler.num_steps)
    seeds = shard(range(seed, seed + num), rank, world_size)

    with progress(disable=rank > 0) as shown:
        task = shown.add_task('sampling', total=len(seeds))
        size = None if resolution is None else (resolution, resolution)
        sample_to_folder(model, seeds, out, batch, steps,
                         lambda images: shown.advance(task, len(images)),
                         size=size, offset=(y_start, x_start), class_label=class_label,
                         guidance=guidance, sampler=solver, tiling=tiling)
    barrier()
    if rank > 0:
        return
    if grid is not None:
        images, per_row = grid_images(out, range(seed, seed + num), model.num_classes,
                                      class_label)
        save_grid(images, grid, nrow=per_row)
    grid_note = f' and a grid to {grid}' if grid else ''
    ranks = f' from {world_size} processes' if world_size > 1 else ''
    Console(soft_wrap=True, highlight=False).print(
        f'wrote {num} images to {out}{ranks}{grid_note}')
