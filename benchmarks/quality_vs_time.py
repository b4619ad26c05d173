"""Quality at equal training time: Patch Diffusion vs full-image training on Fashion-MNIST 32x32.

Trains ``configs/fmnist32_patch.py`` and ``configs/fmnist32_full.py`` (identical but for
the patch sampler) one after the other, each for the same wall-clock budget, with
checkpoints at equal fractions of it (``TimeBudgetHook``). Then, for every checkpoint,
samples ``--num-samples`` images with the EMA weights (Heun, 18 steps) and computes
FID (TF-Inception) against ``--num-reference`` images of the test split, padded to
32x32 like the training data, and, with ``--classifier``, the dataset-native FD.
Prints a table, writes a plot of the metrics against training time, and with
``--json`` prints one JSON object last. Training time excludes evaluation.

    python benchmarks/quality_vs_time.py --minutes 20 [--snapshots 2] [--json]
    python benchmarks/quality_vs_time.py --quick      # seconds, a smoke test
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from mmengine.registry import init_default_scope

from patchgen.engine.checkpoint import load_checkpoint_file
from patchgen.evaluation import FID, SharedExtractor, extractor_config, reference_stats
from patchgen.evaluation.sources import image_batches
from patchgen.images import quantize
from patchgen.inference import load_model
from patchgen.registry import DATASETS

from common import benchmark_parser, machine_line

ROOT = Path(__file__).resolve().parents[1]
RUNS = {'patch': ROOT / 'configs' / 'fmnist32_patch.py',
        'full': ROOT / 'configs' / 'fmnist32_full.py'}
REFERENCE = dict(type='FashionMNIST', split='test', pipeline=[dict(type='CenterPad', size=32)])


def parse_args() -> argparse.Namespace:
    parser = benchmark_parser(__doc__, device=False)
    parser.add_argument('--minutes', type=float, default=20, help='training budget per run')
    parser.add_argument('--snapshots', type=int, default=2, help='checkpoints per run')
    parser.add_argument('--num-samples', type=int, default=1000, help='samples per checkpoint')
    parser.add_argument('--num-reference', type=int, default=2000, help='test images for FID')
    parser.add_argument('--classifier', help='Fashion-MNIST classifier (.pth) for fd_fmnist')
    parser.add_argument('--work-dir', default='work_dirs/quality_vs_time')
    parser.add_argument('--quick', action='store_true', help='a tiny smoke test of the script')
    return parser.parse_args()


def train(name: str, seconds: float, snapshots: int, work_dir: Path, quick: bool) -> None:
    """Train one config for the budget in a fresh process (no evaluation, no grids)."""
    options = ['default_hooks.time_budget.type=TimeBudgetHook',
               f'default_hooks.time_budget.seconds={seconds}',
               f'default_hooks.time_budget.snapshots={snapshots}',
               'train_cfg.max_iters=10000000', 'default_hooks.sample_grid.interval=10000000',
               'default_hooks.checkpoint.interval=10000000',
               'default_hooks.checkpoint.save_best=None',
               'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']
    if quick:
        options += ['model.backbone.base_channels=8', 'model.backbone.num_blocks=1',
                    'train_dataloader.batch_size=4']
    subprocess.run([sys.executable, '-m', 'patchgen', 'train', str(RUNS[name]),
                    '--work-dir', str(work_dir / name), '--cfg-options', *options],
                   check=True, stdout=subprocess.DEVNULL)


def evaluate(checkpoint: Path, metrics: list[FID], num_samples: int, batch: int = 100) -> dict:
    """Sample with the checkpoint's EMA weights and compute every metric on the samples."""
    model = load_model(checkpoint)
    for start in range(0, num_samples, batch):
        seeds = list(range(start, min(start + batch, num_samples)))
        samples = list(quantize(model.generate(seeds)))  # one list: one feature pass per batch
        for metric in metrics:
            metric.process(None, samples)
    results = {}
    for metric in metrics:
        results.update(metric.compute_metrics(metric.results))
        metric.results.clear()
    return results


def build_metrics(args: argparse.Namespace, work_dir: Path) -> list[FID]:
    """FID with TF-Inception and, with a classifier, FD with its features (cached references)."""
    init_default_scope('patchgen')
    extractors = [extractor_config('inception')]
    if args.classifier:
        extractors.append(extractor_config(args.classifier))
    dataset = DATASETS.build(REFERENCE)
    metrics = []
    for cfg in extractors:
        extractor = SharedExtractor.get(cfg)
        path = work_dir / f'reference_{type(extractor.network).__name__}_{args.num_reference}.npz'
        if not path.is_file():
            reference_stats(extractor, image_batches(dataset, args.num_reference), False).save(path)
        metrics.append(FID(features=cfg, reference=str(path)))
    return metrics


def plot(rows: list[dict], path: Path) -> None:
    """Each metric against training time, one line per run."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = [k for k in rows[0] if k in ('fid', 'fd_fmnist')]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for axis, metric in zip(axes[0], names):
        for run in RUNS:
            points = [(r['train_seconds'] / 60, r[metric]) for r in rows if r['run'] == run]
            axis.plot(*zip(*points), marker='o', label=f'{run} ({RUNS[run].name})')
        axis.set(xlabel='training time (minutes)', ylabel=metric,
                 title=f'{metric} vs training time')
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    args = parse_args()
    if args.quick:
        args.minutes, args.snapshots, args.num_samples, args.num_reference = 0.1, 1, 8, 16
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    for name in RUNS:
        train(name, args.minutes * 60, args.snapshots, work_dir, args.quick)
    metrics = build_metrics(args, work_dir)
    rows = []
    for name in RUNS:
        for k in range(1, args.snapshots + 1):
            checkpoint = work_dir / name / f'time_{k}.pth'
            state = load_checkpoint_file(checkpoint)
            started = time.perf_counter()
            row = dict(run=name, snapshot=k, train_seconds=state['meta']['train_seconds'],
                       steps=state['meta']['iter'],
                       images=int(state['ema_state_dict']['images_seen']))
            row.update({key: value for key, value in evaluate(checkpoint, metrics,
                                                               args.num_samples).items()
                        if not key.endswith('_term')})
            row['eval_seconds'] = time.perf_counter() - started
            rows.append(row)
    plot(rows, work_dir / 'quality_vs_time.png')
    print(f'machine: {machine_line(torch.device("cpu"))}')
    print(f'budget {args.minutes} min per run; {args.num_samples} samples vs '
          f'{args.num_reference} test images')
    columns = [c for c in rows[0] if c != 'eval_seconds']
    print(' '.join(f'{c:>12}' for c in columns))
    for row in rows:
        print(' '.join(f'{row[c]:>12.4g}' if isinstance(row[c], float) else f'{row[c]:>12}'
                       for c in columns))
    print(f'plot: {work_dir / "quality_vs_time.png"}')
    if args.json:
        print(json.dumps(dict(minutes=args.minutes, num_samples=args.num_samples,
                              num_reference=args.num_reference, rows=rows)))


if __name__ == '__main__':
    main()
