"""NFE against quality: FID (and fd_fmnist) of each solver at several network-evaluation budgets.

One checkpoint's EMA weights sample ``--num-samples`` images (seeds 0..N-1, the same for every
solver) per solver and NFE; each solver runs the step count whose cost reaches the NFE (Heun:
(NFE + 1) / 2 steps, Euler and DPM-Solver++(2M): NFE steps) over the checkpoint's schedule.
FID uses TF-Inception against ``--num-reference`` Fashion-MNIST test images padded to 32x32
(quality_study.py's metrics and cached reference statistics); ``--classifier`` adds
fd_fmnist. It prints a table, writes a plot of each metric against NFE and, with ``--json``,
one JSON object last.

    python benchmarks/sampler_quality.py CKPT [--nfe 5 9 17 35] [--classifier fmnist.pth]
    python benchmarks/sampler_quality.py --quick     # a smoke test on an untrained tiny model
"""
import argparse
import json
import time
from pathlib import Path

import torch
from quality_study import METRICS, build_metrics, evaluate_model

from common import benchmark_parser, machine_line

SOLVERS = ('EulerSampler', 'HeunSampler', 'DPMSolverPP2MSampler')
QUICK_OPTIONS = {'model.backbone.base_channels': 8, 'model.backbone.num_blocks': 1}


def parse_args() -> argparse.Namespace:
    parser = benchmark_parser(__doc__, device=False)
    parser.add_argument('checkpoint', nargs='?', help='checkpoint written by training')
    parser.add_argument('--solvers', nargs='+', default=list(SOLVERS), help='SAMPLERS names')
    parser.add_argument('--nfe', type=int, nargs='+', default=[5, 9, 17, 35],
                        help='network evaluations per image (default 5 9 17 35)')
    parser.add_argument('--num-samples', type=int, default=1000, help='samples per point')
    parser.add_argument('--num-reference', type=int, default=2000, help='test images for FID')
    parser.add_argument('--batch', type=int, default=100, help='images per sampler call')
    parser.add_argument('--classifier', help='Fashion-MNIST classifier (.pth) for fd_fmnist')
    parser.add_argument('--work-dir', default='work_dirs/sampler_quality',
                        help='reference statistics (shared with quality_study.py) and outputs')
    parser.add_argument('--plot', help='PNG plot of each metric against NFE')
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: an untrained tiny model, NFE 3, 4 samples')
    args = parser.parse_args()
    if args.quick:
        args.nfe, args.num_samples, args.num_reference, args.batch = [3], 4, 8, 4
    elif args.checkpoint is None:
        parser.error('give a checkpoint (or --quick)')
    args.work_dir = Path(args.work_dir)
    args.plot = Path(args.plot or args.work_dir / 'sampler_quality.png')
    return args


def quick_checkpoint(work_dir: Path) -> Path:
    """An untrained tiny Fashion-MNIST model, saved as training would save it."""
    from patchgen.checkpoint_file import save_checkpoint_file
    from patchgen.config import load_config
    from patchgen.registry import MODELS, build_in_scope
    cfg = load_config('fmnist32_patch', dict(QUICK_OPTIONS))
    torch.manual_seed(0)
    model = build_in_scope(MODELS, cfg.model, cfg.get('default_scope'))
    path = work_dir / 'quick.pth'
    save_checkpoint_file(dict(meta=dict(cfg=cfg.pretty_text), state_dict=model.state_dict()), path)
    return path


def steps_for(solver: str, nfe: int) -> int:
    """The fewest steps whose cost reaches ``nfe`` network evaluations."""
    from patchgen.inference import build_sampler
    steps = 1
    while build_sampler(solver, steps).nfe(steps) < nfe:
        steps += 1
    return steps


def score(model: torch.nn.Module, solver: str, steps: int, metrics: list, num_samples: int,
          batch: int) -> dict:
    """Every metric on ``num_samples`` images of one solver at one step count."""
    from patchgen.inference import build_sampler
    sampler = build_sampler(solver, steps)
    began = time.perf_counter()
    results = evaluate_model(model, metrics, num_samples, batch, sampler)
    return dict(solver=solver, steps=steps, nfe=sampler.nfe(steps),
                seconds_per_image=(time.perf_counter() - began) / num_samples, **results)


def print_table(rows: list[dict]) -> None:
    metrics = [m for m in METRICS if any(m in row for row in rows)]
    print(f'{"solver":<22} {"steps":>5} {"NFE":>4} {"s/image":>8} '
          + ' '.join(f'{m:>10}' for m in metrics))
    for row in rows:
        print(f'{row["solver"]:<22} {row["steps"]:>5} {row["nfe"]:>4} '
              f'{row["seconds_per_image"]:>8.3f} ' + ' '.join(f'{row[m]:>10.2f}' for m in metrics))


def plot(rows: list[dict], path: Path) -> None:
    """Each metric against NFE, one line per solver."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    metrics = [m for m in METRICS if any(m in row for row in rows)]
    figure, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for solver in dict.fromkeys(row['solver'] for row in rows):
            points = sorted((row['nfe'], row[metric]) for row in rows if row['solver'] == solver)
            axis.plot(*zip(*points), marker='o', label=solver)
        axis.set(xlabel='network evaluations per image (NFE)', ylabel=metric, xscale='log',
                 title=f'{metric} against NFE')
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    args = parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    from patchgen.inference import load_model
    checkpoint = quick_checkpoint(args.work_dir) if args.quick else Path(args.checkpoint)
    model = load_model(checkpoint)
    metrics = build_metrics(args, args.work_dir)
    rows = [score(model, solver, steps_for(solver, nfe), metrics, args.num_samples, args.batch)
            for solver in args.solvers for nfe in args.nfe]
    print(f'machine: {machine_line(torch.device("cpu"))}')
    print(f'{checkpoint}: {args.num_samples} samples vs {args.num_reference} test images')
    print_table(rows)
    plot(rows, args.plot)
    print(f'plot: {args.plot}')
    if args.json:
        print(json.dumps(dict(checkpoint=str(checkpoint), num_samples=args.num_samples,
                              num_reference=args.num_reference, rows=rows)))


if __name__ == '__main__':
    main()
