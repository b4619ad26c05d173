"""Choosing the post-hoc EMA length: a metric of the reconstructed EMA for each of several lengths.

Each ``sigma_rel`` runs what ``patchgen ema reconstruct``, ``patchgen sample`` and
``patchgen eval`` run, in a scratch folder: the reconstructed checkpoint, its
samples (the same seeds for every length) and their metric against the reference.
"""
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from patchgen.checkpoint_file import save_checkpoint_file
from patchgen.ema_reconstruction import sigma_rel_to_gamma
from patchgen.engine.posthoc_ema import reconstruct_checkpoint, require_snapshots
from patchgen.errors import PatchgenError
from patchgen.evaluation.compute import (
    METRIC_CLASSES,
    ProgressStart,
    compute_metrics,
    no_progress,
    source_stats,
)
from patchgen.evaluation.sources import is_stats_file
from patchgen.evaluation.stats import ReferenceStats
from patchgen.files import atomic_write
from patchgen.inference import default_device, load_model, sample_to_folder

LOWER_IS_BETTER = {'fid': True, 'kid': True, 'is': False}  # the metrics a sweep can rank by


@dataclass
class Sweep:
    """The rows of a sweep and how to rank them.

    Attributes:
        metric: The name the metric reports: ``fid`` (``fd_NAME`` with other
            features), ``kid...`` or ``is...``.
        lower_is_better: Whether the smallest value is the best.
        rows: One per sigma_rel, ascending: ``sigma_rel``, ``fit_error`` (of the
            reconstructed profile) and every value the metric reports.
    """

    metric: str
    lower_is_better: bool
    rows: list[dict]

    @property
    def best(self) -> dict:
        """The row with the best metric value."""
        pick = min if self.lower_is_better else max
        return pick(self.rows, key=lambda row: row[self.metric])


def check_sweep(sigma_rels: Sequence[float], metric: str, reference: str | None) -> None:
    """Refuse lengths, a metric or a reference statistics file that would fail after sampling."""
    if not sigma_rels:
        raise PatchgenError('give at least one sigma_rel to try')
    for sigma_rel in sigma_rels:
        sigma_rel_to_gamma(sigma_rel)
    if metric not in LOWER_IS_BETTER:
        raise PatchgenError(f'metric {metric!r} cannot rank EMA lengths: choose from '
                            f'{", ".join(LOWER_IS_BETTER)}')
    if METRIC_CLASSES[metric].needs_reference and reference is None:
        raise PatchgenError(f'{metric} needs a reference: real images or a statistics .npz '
                            f'from `patchgen ref`')
    if reference is not None and is_stats_file(reference):
        ReferenceStats.load(reference)


def sweep_posthoc_ema(work_dir: str | Path, sigma_rels: Sequence[float], metric: str = 'fid',
                      reference: str | None = None, num_samples: int = 1000,
                      num_steps: int | None = None, batch_size: int = 64, seed: int = 0,
                      features: str = 'inception', weights: str | None = None,
                      download: bool = False, device: str | None = None, trusted: bool = False,
                      progress: ProgressStart = no_progress) -> Sweep:
    """The metric of the post-hoc EMA of ``work_dir`` for each of ``sigma_rels``.

    Args:
        work_dir: Work dir of a run trained with ``PostHocEMAHook``.
        sigma_rels: The EMA lengths to try.
        metric: ``fid``, ``kid`` or ``is`` (see :data:`LOWER_IS_BETTER`).
        reference: Real images or a statistics ``.npz`` made with the same
            ``features``; real images are reduced to statistics once.
        num_samples: Images per length, seeds ``seed`` to ``seed + num_samples - 1``.
        num_steps: Sampler steps; the config's by default.
        batch_size: Images per sampler call and per feature-extraction batch.
        seed: The first seed.
        features: The extractor, as ``patchgen eval --features`` takes it, with
            ``weights`` and ``download``.
        device: Where to sample and extract features; CUDA when present by default.
        trusted: Unpickle everything in the checkpoints (legacy files).
        progress: Shows the progress of sampling and feature extraction.
    """
    sigma_rels = sorted(set(sigma_rels))
    check_sweep(sigma_rels, metric, reference)
    require_snapshots(Path(work_dir))  # before the long work on the reference
    device = device or str(default_device())
    rows = []
    with tempfile.TemporaryDirectory(prefix='ema_sweep_') as scratch:
        scratch = Path(scratch)
        if reference is not None and not is_stats_file(reference):
            stats = source_stats(reference, None, batch_size, features, weights, download,
                                 device, progress)
            reference = str(stats.save(scratch / 'reference.npz'))
        for sigma_rel in sigma_rels:
            checkpoint = reconstruct_checkpoint(work_dir, sigma_rel, trusted)
            save_checkpoint_file(checkpoint, scratch / 'ema.pth')
            model = load_model(scratch / 'ema.pth', device)
            samples = scratch / f'samples_{sigma_rel!r}'
            advance = progress(f'sigma_rel {sigma_rel}: sampling', num_samples)
            sample_to_folder(model, range(seed, seed + num_samples), samples, batch_size,
                             num_steps,
                             on_batch=lambda images, advance=advance: advance(len(images)))
            results = compute_metrics(str(samples), reference, [metric], None, batch_size,
                                      features, weights, download, device, progress=progress)
            rows.append(dict(sigma_rel=sigma_rel,
                             fit_error=checkpoint['meta']['posthoc_ema']['fit_error'],
                             **results))
    name = next(iter(results))  # each metric reports its headline value first
    return Sweep(name, LOWER_IS_BETTER[metric], rows)


def plot_sweep(sweep: Sweep, path: str | Path) -> Path:
    """Write a PNG plot of the metric against sigma_rel, the best point marked."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    best = sweep.best
    figure, axis = plt.subplots(figsize=(5.5, 4))
    axis.plot([row['sigma_rel'] for row in sweep.rows], [row[sweep.metric] for row in sweep.rows],
              marker='o')
    axis.plot(best['sigma_rel'], best[sweep.metric], marker='*', markersize=16, color='tab:red',
              linestyle='none', label=f'best: sigma_rel {best["sigma_rel"]:g} '
                                      f'({sweep.metric} {best[sweep.metric]:.4g})')
    axis.set(xlabel='EMA length sigma_rel', ylabel=sweep.metric,
             title=f'post-hoc EMA: {sweep.metric} against sigma_rel')
    axis.legend()
    figure.tight_layout()
    with atomic_write(path) as file:
        figure.savefig(file, format='png', dpi=120)
    plt.close(figure)
    return Path(path)
