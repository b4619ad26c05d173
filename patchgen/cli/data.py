"""``patchgen data``: convert a data source into an EDM-style zip."""
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

Source = Annotated[str, typer.Argument(help='A folder or .zip of images, an IDX file '
                                            '(*-ubyte.gz), or mnist5k, fashion-mnist, '
                                            'fashion-mnist-test.')]
OutZip = Annotated[Path, typer.Option('--out', help='The zip to write.')]
Channels = Annotated[int | None, typer.Option(help='Convert images to 1 (greyscale) or 3 (RGB) '
                                                   'channels.')]


def data(source: Source, out: OutZip, channels: Channels = None) -> None:
    """Write a dataset as a zip in EDM's dataset_tool layout (PNG files + dataset.json)."""
    from patchgen.datasets import export_zip, open_source
    dataset = open_source(source, channels)
    with Progress(transient=True) as progress:
        task = progress.add_task(f'writing {out}', total=len(dataset))
        count = export_zip(dataset, str(out),
                           lambda done, total: progress.update(task, completed=done))
    Console(soft_wrap=True, highlight=False).print(f'wrote {count} images to {out}')
