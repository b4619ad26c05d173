"""``patchgen outpaint``: extend an image by a border that a trained model draws."""
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from patchgen.cli.errors import writable
from patchgen.cli.sample import (
    ClassLabel,
    Device,
    Guidance,
    SamplerName,
    Seed,
    Steps,
    Tile,
    TileBatch,
    TileOverlap,
    TrustCheckpoint,
)

Image = Annotated[Path, typer.Argument(help='The image to extend (PNG, JPEG, BMP, WebP); '
                                            "converted to the model's channels.")]
Pad = Annotated[int, typer.Option(min=1, max=2**14, help='Pixels to add on each side.')]
Checkpoint = Annotated[Path, typer.Option(help='Checkpoint written by training.')]
OutFile = Annotated[Path, typer.Option('--out', dir_okay=False, callback=writable,
                                       help='The PNG file to write.')]


def outpaint(image: Image, pad: Pad, checkpoint: Checkpoint, out: OutFile, steps: Steps = None,
             seed: Seed = 0, class_label: ClassLabel = None, guidance: Guidance = 1.0,
             sampler: SamplerName = None, tile: Tile = None, tile_overlap: TileOverlap = None,
             tile_batch: TileBatch = 64, device: Device = None,
             trust_checkpoint: TrustCheckpoint = False) -> None:
    """Write IMAGE padded by PAD pixels on each side, the border drawn by the model.

    The image's pixels are held at every solver step (the known image re-noised
    to the step's noise level); the canvas is sampled as tiles of the training
    resolution (--tile), each with the coordinates of its place in the training image.
    """
    from patchgen.images import save_pngs
    from patchgen.inference import build_sampler, default_device, load_model
    from patchgen.outpainting import outpaint as outpaint_image
    from patchgen.outpainting import read_image
    from patchgen.samplers import Tiling
    tiling = None if tile is None else Tiling(tile, tile_overlap, tile_batch)
    model = load_model(checkpoint, device or default_device(), trust_checkpoint)
    known = read_image(image, model.image_channels)  # (C, H, W)
    solver = None if sampler is None else build_sampler(sampler, steps or model.sampler.num_steps)
    canvas = outpaint_image(model, known, pad, seed, steps, solver, tiling, class_label, guidance)
    save_pngs(canvas[None], [out])
    Console(soft_wrap=True, highlight=False).print(
        f'wrote {out} ({canvas.shape[2]}x{canvas.shape[1]}: {image} and {pad} pixels around it)')
