"""Metrics of image sets named by path: open them, extract features (over ranks), score them.

This is what ``patchgen fid``, ``is``, ``eval`` and ``ref`` run. Under torchrun
each rank extracts the features of every N-th batch; the results are gathered
in the order of one process, so every world size gives the same numbers.
"""
from collections.abc import Callable, Sequence

import numpy as np
import torch
from mmengine.dataset import BaseDataset

from patchgen.distributed import gather_batches
from patchgen.errors import PatchgenError
from patchgen.inference import default_device

from .features import SharedExtractor, extractor_config, reference_stats
from .metrics import FID, KID, GenerativeMetric, InceptionScore, PrecisionRecall
from .sources import image_batches, is_stats_file, open_images
from .stats import ReferenceStats
from .weights import resolve_is_weights

METRIC_CLASSES: dict[str, type[GenerativeMetric]] = {
    'fid': FID, 'kid': KID, 'is': InceptionScore, 'pr': PrecisionRecall}

# ``start(description, total)`` begins a task of ``total`` images and returns
# ``advance(count)``, called as ``count`` more images are done (on all ranks).
ProgressStart = Callable[[str, int], Callable[[int], None]]


def no_progress(description: str, total: int) -> Callable[[int], None]:
    """A :data:`ProgressStart` that shows nothing."""
    return lambda count: None


def dataset_stats(extractor: SharedExtractor, name: str, dataset: BaseDataset,
                  num: int | None = None, batch_size: int = 64,
                  device: torch.device | str = 'cpu', progress: ProgressStart = no_progress,
                  rank: int = 0, world_size: int = 1) -> ReferenceStats:
    """Statistics (with features) of ``num`` images of ``dataset`` (all by default).

    Each rank reads its share of the batches; every rank returns the statistics of all.
    """
    advance = progress(f'features of {name}', num or len(dataset))
    batches = (images.to(device) for images in image_batches(dataset, num, batch_size,
                                                             rank=rank, world_size=world_size))
    return reference_stats(extractor, batches, rank=rank, world_size=world_size,
                           progress=lambda count: advance(count * world_size))


def source_stats(source: str, num: int | None = None, batch_size: int = 64,
                 features: str = 'inception', weights: str | None = None,
                 download: bool = False, device: str | None = None,
                 progress: ProgressStart = no_progress, rank: int = 0,
                 world_size: int = 1) -> ReferenceStats:
    """Statistics (with features) of the images at ``source`` (see :func:`open_images`).

    ``features``, ``weights`` and ``download`` choose the extractor as
    :func:`extractor_config` reads them; ``device`` is CUDA when present by default.
    """
    dataset = open_images(source)  # a wrong path fails before the network loads
    extractor = SharedExtractor.get(extractor_config(features, weights, download))
    return dataset_stats(extractor, source, dataset, num, batch_size,
                         torch.device(device or default_device()), progress, rank, world_size)


def gather_results(results: list, sizes: Sequence[int], rank: int, world_size: int) -> list:
    """A metric's per-image results from every rank (each holding the batches of these
    ``sizes``), in the order of one process."""
    bounds = np.cumsum([0, *sizes]).tolist()
    batches = [results[start:end] for start, end in zip(bounds[:-1], bounds[1:])]
    return [item for batch in gather_batches(batches, rank, world_size) for item in batch]


def compute_metrics(generated: str, reference: str | None, names: Sequence[str],
                    num: int | None = None, batch_size: int = 64, features: str = 'inception',
                    weights: str | None = None, download: bool = False,
                    device: str | None = None, splits: int = 10,
                    progress: ProgressStart = no_progress, rank: int = 0,
                    world_size: int = 1) -> dict[str, float]:
    """The named metrics (fid, kid, is, pr) of the images at ``generated`` against ``reference``.

    Args:
        generated: Generated images, as :func:`open_images` takes them.
        reference: Real images (as ``generated``) or a statistics ``.npz``; None
            when no metric needs one.
        names: Metric names, keys of :data:`METRIC_CLASSES`.
        num: Images of each set to use (a seeded random subset); all by default.
        batch_size: Images per feature-extraction batch.
        features: The extractor, as :func:`extractor_config` reads it, with
            ``weights`` and ``download``.
        device: Where features are extracted; CUDA when present by default.
        splits: Splits of the Inception Score.
        progress: Shows the progress of feature extraction.
        rank: This process's rank; it extracts every ``world_size``-th batch.
        world_size: The number of processes.

    Returns:
        The metric values on rank 0, an empty dict on the other ranks.
    """
    unknown = [name for name in names if name not in METRIC_CLASSES]
    if unknown:
        raise PatchgenError(f'unknown metric names {", ".join(unknown)}: choose from '
                            f'{", ".join(METRIC_CLASSES)}')
    if is_stats_file(generated):
        raise PatchgenError(f'generated={generated!r} is a statistics file: give the generated '
                            f'images (a folder or zip)')
    needs_reference = any(METRIC_CLASSES[name].needs_reference for name in names)
    if needs_reference and reference is None:
        raise PatchgenError(f'{", ".join(names)} need a reference: real images or a '
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
    if reference_set is not None:
        stats = dataset_stats(extractor, reference, reference_set, num, batch_size, device,
                              progress, rank, world_size)
    kwargs = dict(features=cfg, reference=stats)
    metrics = [METRIC_CLASSES[name](num_splits=splits, **kwargs) if name == 'is'
               else METRIC_CLASSES[name](**kwargs) for name in names]
    for metric in metrics:  # fail before the long pass, e.g. stats without features for KID
        if metric.needs_reference:
            metric.reference()
    advance = progress(f'features of {generated}', num or len(generated_set))
    sizes = []
    for images in image_batches(generated_set, num, batch_size, rank=rank,
                                world_size=world_size):
        samples = list(images.to(device))  # one list shared by all metrics: one network run
        for metric in metrics:
            metric.process(None, samples)
        sizes.append(len(samples))
        advance(len(samples) * world_size)
    results: dict[str, float] = {}
    for metric in metrics:
        gathered = gather_results(metric.results, sizes, rank, world_size)
        if rank == 0:
            results.update(metric.compute_metrics(gathered))
    return results
