"""``patchgen data``: convert a data source into an EDM-style zip, or encode it into latents."""
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from patchgen.cli.errors import device_name, writable
from patchgen.progress import progress


class DataGroup(TyperGroup):
    """``patchgen data SOURCE --out DATA.zip`` goes on meaning ``patchgen data zip ...``:
    arguments that name no subcommand go to ``zip``."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ['zip', *args]
        return super().parse_args(ctx, args)


data_app = typer.Typer(cls=DataGroup, no_args_is_help=True,
                       help='Prepare datasets: `patchgen data SOURCE --out DATA.zip` (zip) or '
                            '`patchgen data encode SOURCE --autoencoder AE --out LATENTS`.')

Source = Annotated[str, typer.Argument(help='A folder or .zip of images, an IDX file '
                                            '(*-ubyte.gz), or mnist5k, fashion-mnist, '
                                            'fashion-mnist-test.')]
OutZip = Annotated[Path, typer.Option('--out', dir_okay=False, callback=writable,
                                      help='The zip to write.')]
Channels = Annotated[int | None, typer.Option(min=1, max=3, help='Convert images to 1 (greyscale) '
                                                                 'or 3 (RGB) channels.')]


@data_app.command('zip')
def to_zip(source: Source, out: OutZip, channels: Channels = None) -> None:
    """Write a dataset as a zip in EDM's dataset_tool layout (PNG files + dataset.json)."""
    from patchgen.datasets import export_zip, open_source
    dataset = open_source(source, channels)
    with progress() as shown:
        task = shown.add_task(f'writing {out}', total=len(dataset))
        count = export_zip(dataset, str(out),
                           lambda done, total: shown.update(task, completed=done))
    Console(soft_wrap=True, highlight=False).print(f'wrote {count} images to {out}')


EncodeSource = Annotated[str, typer.Argument(
    help='The images: a folder, .zip, IDX file, dataset name, or a config file whose '
         'train_dataloader.dataset (with its pipeline) gives them.')]
AutoencoderSpec = Annotated[str, typer.Option(
    '--autoencoder', help='A checkpoint of `patchgen autoencoder train` (.pth), or a config '
                          'whose model.autoencoder names the autoencoder.')]
OutLatents = Annotated[Path, typer.Option('--out', file_okay=False, callback=writable,
                                          help='The latent folder to write (or finish).')]
XFlip = Annotated[bool, typer.Option('--xflip', help='Also encode every mirrored image, for '
                                                     "LatentDataset's xflip=True.")]
Batch = Annotated[int, typer.Option(min=1, max=10**6, help='Images per encoding batch.')]
Device = Annotated[str | None, typer.Option(callback=device_name,
                                            help='cpu, cuda, ... (default: cuda if present)')]


@data_app.command('encode')
def encode(source: EncodeSource, autoencoder: AutoencoderSpec, out: OutLatents,
           xflip: XFlip = False, batch: Batch = 64, device: Device = None) -> None:
    """Encode images into a latent dataset once (dict(type='LatentDataset', root=OUT)).

    An interrupted run goes on where it stopped when run again; a folder made by another
    autoencoder is refused.
    """
    from patchgen.evaluation.sources import open_images
    from patchgen.inference import default_device
    from patchgen.latent_writer import autoencoder_config, write_latents
    cfg = autoencoder_config(autoencoder)
    dataset = open_images(source)
    with progress() as shown:
        task = shown.add_task(f'encoding into {out}', total=len(dataset))
        meta = write_latents(dataset, cfg, out, source, xflip, batch, device or default_device(),
                             lambda done, total: shown.update(task, completed=done))
    shape = 'x'.join(map(str, meta['latent_shape']))
    flips = ' and their mirror images' if xflip else ''
    Console(soft_wrap=True, highlight=False).print(
        f"{out} holds the {shape} latents of {meta['count']} images{flips} "
        f"({meta['autoencoder']['type']} {meta['autoencoder']['fingerprint'][:12]})")
