"""Quality at equal cost: named recipes trained for one budget, several seeds, FID per snapshot.

A recipe is a config plus ``--cfg-options`` overrides, named in a recipes file (a Python
file defining ``RECIPES = {name: dict(config=PATH, options=[...])}``, see
``benchmarks/recipes/``). Each (recipe, seed) trains in its own process for the budget, in
seconds, optimizer steps or training FLOPs (``BudgetHook``), saving snapshots at equal
fractions of it; each snapshot's EMA weights then sample ``--num-samples`` images (Heun,
18 steps) for FID (TF-Inception) against ``--num-reference`` test images and, with
``--classifier``, fd_fmnist. Every result is appended as one JSON line to ``--results``, so a
study can be stopped and continued: finished (recipe, seed) pairs are skipped. It ends with
a table (mean and spread over seeds), a plot of FID against cost, and with ``--json`` one
JSON object last.

FLOP and step budgets are fair however many runs share the machine, so ``--parallel 2``
trains two at once with one thread each; a wall-clock budget runs one at a time with
nothing else on the CPU. Runs train in fp32 unless a recipe sets ``optim_wrapper.dtype``:
``dtype='auto'`` would choose by a timing, which differs between machines and loads.

    python benchmarks/quality_study.py benchmarks/recipes/baseline.py --steps 635 --seeds 0 1
    python benchmarks/quality_study.py RECIPES --gflops 60000 --snapshots 2 --parallel 2
    python benchmarks/quality_study.py --quick     # a smoke test in a minute or two
"""
import argparse
import json
import os
import runpy
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from common import benchmark_parser, machine_line, sample_batches

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = dict(type='FashionMNIST', split='test', pipeline=[dict(type='CenterPad', size=32)])
METRICS = ('fid', 'fd_fmnist')
QUICK_RECIPES = {  # a tiny network, for the smoke test
    'tiny_full': dict(config='configs/fmnist32_full.py',
                      options=['model.backbone.base_channels=8', 'model.backbone.num_blocks=1',
                               'train_dataloader.batch_size=4']),
    'tiny_patch': dict(config='configs/fmnist32_patch.py',
                       options=['model.backbone.base_channels=8', 'model.backbone.num_blocks=1',
                                'train_dataloader.batch_size=4']),
}


def parse_args() -> argparse.Namespace:
    parser = benchmark_parser(__doc__, device=False)
    parser.add_argument('recipes', nargs='?', help='recipes file (RECIPES = {name: ...})')
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument('--steps', type=float, help='budget in optimizer steps')
    budget.add_argument('--gflops', type=float, help='budget in training GFLOPs')
    budget.add_argument('--seconds', type=float, help='budget in wall-clock seconds')
    parser.add_argument('--only', nargs='+', help='run only these recipes of the file')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--snapshots', type=int, default=1, help='snapshots per run')
    parser.add_argument('--num-samples', type=int, default=1000, help='samples per snapshot')
    parser.add_argument('--num-reference', type=int, default=2000, help='test images for FID')
    parser.add_argument('--classifier', help='Fashion-MNIST classifier (.pth) for fd_fmnist')
    parser.add_argument('--parallel', type=int, default=1,
                        help='runs at once, one thread each (not with --seconds)')
    parser.add_argument('--results', help='JSON-lines file of results (appended to)')
    parser.add_argument('--work-dir', default='work_dirs/quality_study')
    parser.add_argument('--plot', help='PNG plot of FID against cost')
    parser.add_argument('--quick', action='store_true', help='a tiny smoke test of the script')
    parser.add_argument('--worker', nargs=2, metavar=('RECIPE', 'SEED'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.gflops, args.seconds = 3, None, None
        args.snapshots, args.num_samples, args.num_reference = 1, 8, 16
    if (args.steps, args.gflops, args.seconds) == (None, None, None):
        parser.error('give a budget: --steps, --gflops or --seconds')
    if args.recipes is None and not args.quick:
        parser.error('give a recipes file (or --quick)')
    if args.seconds and args.parallel > 1:
        parser.error('a wall-clock budget is fair only alone: use --parallel 1 with --seconds')
    work_dir = Path(args.work_dir)
    args.results = Path(args.results or work_dir / 'results.jsonl')
    args.plot = Path(args.plot or work_dir / 'quality_study.png')
    return args


def load_recipes(args: argparse.Namespace) -> dict[str, dict]:
    """The recipes to run, by name, from the recipes file (or the smoke test's)."""
    recipes = QUICK_RECIPES if args.quick else runpy.run_path(args.recipes)['RECIPES']
    if args.only:
        unknown = sorted(set(args.only) - set(recipes))
        if unknown:
            sys.exit(f'error: recipes {unknown} are not in {args.recipes}: '
                     f'choose from {", ".join(recipes)}')
        recipes = {name: recipes[name] for name in args.only}
    return recipes


def budget(args: argparse.Namespace) -> tuple[str, float]:
    """(unit, amount) as BudgetHook takes them."""
    if args.steps:
        return 'steps', args.steps
    if args.gflops:
        return 'flops', args.gflops * 1e9
    return 'seconds', args.seconds


def run_key(args: argparse.Namespace, recipe: dict, name: str, seed: int) -> dict:
    """What identifies one run's results in the results file."""
    unit, amount = budget(args)
    return dict(recipe=name, config=recipe['config'], options=list(recipe.get('options', [])),
                seed=seed, unit=unit, budget=amount, snapshots=args.snapshots,
                num_samples=args.num_samples, num_reference=args.num_reference)


def read_results(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def evaluated_snapshots(rows: list[dict], key: dict) -> set[int]:
    """The snapshots of the run ``key`` names that the results hold."""
    return {row['snapshot'] for row in rows if all(row.get(k) == v for k, v in key.items())}


def is_done(rows: list[dict], key: dict) -> bool:
    """True when every snapshot of the run is in the results."""
    return evaluated_snapshots(rows, key) >= set(range(1, key['snapshots'] + 1))


def train(args: argparse.Namespace, recipe: dict, seed: int, work_dir: Path) -> None:
    """Train one recipe and seed for the budget (no evaluation, grids or checkpoints)."""
    unit, amount = budget(args)
    options = ['optim_wrapper.dtype=float32', *recipe.get('options', []), f'randomness.seed={seed}',
               'default_hooks.budget.type=BudgetHook', f'default_hooks.budget.budget={amount}',
               f'default_hooks.budget.unit={unit}',
               f'default_hooks.budget.snapshots={args.snapshots}',
               'train_cfg.max_iters=100000000', 'default_hooks.sample_grid.interval=100000000',
               'default_hooks.checkpoint.interval=100000000',
               'default_hooks.checkpoint.save_best=None',
               'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']
    with open(work_dir / 'train.log', 'w') as log:
        subprocess.run([sys.executable, '-m', 'patchgen', 'train', str(ROOT / recipe['config']),
                        '--work-dir', str(work_dir), '--cfg-options', *options],
                       check=True, stdout=log, stderr=subprocess.STDOUT)


def build_metrics(args: argparse.Namespace, work_dir: Path) -> list:
    """FID with TF-Inception and, with a classifier, FD with its features (cached references)."""
    from patchgen.evaluation import FID, SharedExtractor, extractor_config, reference_stats
    from patchgen.evaluation.sources import image_batches
    from patchgen.registry import DATASETS, build_in_scope
    extractors = [extractor_config('inception')]
    if args.classifier:
        extractors.append(extractor_config(args.classifier))
    metrics = []
    for cfg in extractors:
        extractor = SharedExtractor.get(cfg)
        path = work_dir / f'reference_{type(extractor.network).__name__}_{args.num_reference}.npz'
        if not path.is_file():
            dataset = build_in_scope(DATASETS, REFERENCE)
            reference_stats(extractor, image_batches(dataset, args.num_reference), False).save(path)
        metrics.append(FID(features=cfg, reference=str(path)))
    return metrics


def evaluate(checkpoint: Path, metrics: list, num_samples: int, batch: int = 100) -> dict:
    """Sample with the checkpoint's EMA weights and compute every metric on the samples."""
    from patchgen.inference import load_model
    return evaluate_model(load_model(checkpoint), metrics, num_samples, batch)


def evaluate_model(model: torch.nn.Module, metrics: list, num_samples: int, batch: int = 100,
                   sampler=None) -> dict:
    """Every metric on ``num_samples`` images of ``model`` (seeds 0, 1, ...), made with its
    own sampler or with ``sampler``."""
    for pixels in sample_batches(model, num_samples, batch, sampler):
        samples = list(pixels)  # one feature pass per batch
        for metric in metrics:
            metric.process(None, samples)
    results = {}
    for metric in metrics:
        results.update(metric.compute_metrics(metric.results))
        metric.results.clear()
    return {key: value for key, value in results.items() if key in METRICS}


def worker(args: argparse.Namespace, name: str, seed: int) -> None:
    """Train one run (unless its snapshots exist), evaluate the snapshots not yet in the
    results, append their rows."""
    from patchgen.engine.checkpoint import load_checkpoint_file
    recipe = load_recipes(args)[name]
    key = run_key(args, recipe, name, seed)
    run_dir = Path(args.work_dir) / f'{key["unit"]}_{key["budget"]:g}' / name / f'seed{seed}'
    run_dir.mkdir(parents=True, exist_ok=True)
    snapshots = [run_dir / f'budget_{k}.pth' for k in range(1, args.snapshots + 1)]
    if not all(path.is_file() for path in snapshots):
        train(args, recipe, seed, run_dir)
    metrics = build_metrics(args, Path(args.work_dir))
    evaluated = evaluated_snapshots(read_results(args.results), key)
    for k, path in enumerate(snapshots, start=1):
        if k in evaluated:
            continue
        row = {**key, 'snapshot': k, **load_checkpoint_file(path)['meta']['cost']}
        row.update(evaluate(path, metrics, args.num_samples))
        row['machine'] = machine_line(torch.device('cpu'))
        with open(args.results, 'a') as results:  # one short line per write: appends stay whole
            results.write(json.dumps(row) + '\n')


def launch(args: argparse.Namespace, name: str, seed: int) -> int:
    """Run one worker in a fresh process with the study's thread count."""
    threads = '1' if args.parallel > 1 else str(torch.get_num_threads())
    env = {**os.environ, 'OMP_NUM_THREADS': threads, 'MKL_NUM_THREADS': threads,
           'PYTHONPATH': os.pathsep.join(filter(None, [str(ROOT / 'benchmarks'),
                                                       os.environ.get('PYTHONPATH')]))}
    command = [sys.executable, __file__, *sys.argv[1:], '--worker', name, str(seed)]
    result = subprocess.run(command, env=env)
    if result.returncode:
        print(f'run {name} seed {seed} failed (exit {result.returncode}): see its train.log',
              file=sys.stderr)
    return result.returncode


def summarise(rows: list[dict], unit: str) -> list[dict]:
    """Mean and half-range over seeds, per recipe and snapshot."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row['recipe'], row['snapshot']), []).append(row)
    table = []
    for (name, snapshot), runs in groups.items():
        entry = dict(recipe=name, snapshot=snapshot, seeds=len(runs))
        for column in ('steps', 'images', 'seconds', 'flops', *METRICS):
            values = np.array([run[column] for run in runs if column in run], dtype=np.float64)
            if len(values):
                entry[column] = float(values.mean())
                entry[f'{column}_spread'] = float(np.ptp(values) / 2)
        table.append(entry)
    return table


def print_table(table: list[dict]) -> None:
    print(f'{"recipe":<24} {"snap":>4} {"seeds":>5} {"steps":>7} {"images":>9} {"GFLOP":>9} '
          + ' '.join(f'{m:>14}' for m in METRICS))
    for e in table:
        metrics = ' '.join(f'{e[m]:>7.1f} ± {e[m + "_spread"]:<4.1f}' if m in e else f'{"-":>14}'
                           for m in METRICS)
        print(f'{e["recipe"]:<24} {e["snapshot"]:>4} {e["seeds"]:>5} {e["steps"]:>7.0f} '
              f'{e["images"]:>9.0f} {e["flops"] / 1e9:>9.0f} {metrics}')


def plot(table: list[dict], unit: str, path: Path) -> None:
    """FID (and fd_fmnist) against cost, one line per recipe, seed spread as error bars."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    metrics = [m for m in METRICS if any(m in e for e in table)]
    cost = {'flops': ('flops', 1e-9, 'training GFLOPs'), 'steps': ('steps', 1, 'optimizer steps'),
            'seconds': ('seconds', 1 / 60, 'training minutes')}[unit]
    figure, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for name in dict.fromkeys(e['recipe'] for e in table):
            points = sorted((e[cost[0]] * cost[1], e[metric], e[f'{metric}_spread'])
                            for e in table if e['recipe'] == name and metric in e)
            x, y, err = zip(*points)
            axis.errorbar(x, y, yerr=err, marker='o', capsize=3, label=name)
        axis.set(xlabel=cost[2], ylabel=metric, title=f'{metric} against cost')
        axis.set_xlim(0, axis.get_xlim()[1] * 1.05)  # cost from zero, the last point inside
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args, args.worker[0], int(args.worker[1]))
        return
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    recipes = load_recipes(args)
    build_metrics(args, Path(args.work_dir))  # reference statistics once, before the workers
    done = read_results(args.results)
    todo = [(name, seed) for seed in args.seeds for name, recipe in recipes.items()
            if not is_done(done, run_key(args, recipe, name, seed))]
    with ThreadPoolExecutor(max(1, args.parallel)) as pool:
        failures = sum(pool.map(lambda run: launch(args, *run) != 0, todo))
    keys = [run_key(args, recipe, name, seed) for name, recipe in recipes.items()
            for seed in args.seeds]
    rows = [row for row in read_results(args.results)
            if any(all(row.get(k) == v for k, v in key.items()) for key in keys)]
    unit = budget(args)[0]
    order = list(recipes)  # the recipes file's order, whichever run finished first
    table = sorted(summarise(rows, unit), key=lambda e: (order.index(e['recipe']), e['snapshot']))
    print(f'machine: {machine_line(torch.device("cpu"))}')
    print(f'budget {budget(args)[1]:g} {unit}; {args.num_samples} samples vs '
          f'{args.num_reference} test images; seeds {args.seeds}; results {args.results}')
    print_table(table)
    if table:
        plot(table, unit, args.plot)
        print(f'plot: {args.plot}')
    if args.json:
        print(json.dumps(dict(unit=unit, budget=budget(args)[1], table=table, rows=rows)))
    if failures:
        sys.exit(f'error: {failures} run(s) failed')


if __name__ == '__main__':
    main()
