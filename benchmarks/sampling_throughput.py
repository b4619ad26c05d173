"""Sampling throughput: images/s of Heun sampling (18 steps, 35 network evaluations) of full images.

The network is train_throughput.py's (UNet 32 channels, multipliers 1/2/2, 2 blocks,
attention at R/2; 3 image channels plus the 2 coordinate channels), untrained: the
cost of sampling does not depend on the weights. At each resolution, each variant
(the configs' default channels-last, plain NCHW, and bf16 autocast) samples the same
seeds batch by batch in turns, after one untimed warm-up batch.

    PYTHONPATH=. python benchmarks/sampling_throughput.py [--resolutions 32 64] [--json]
    PYTHONPATH=. python benchmarks/sampling_throughput.py --quick
"""
import argparse
import contextlib
import json
import time

import torch

from patchgen.engine.autocast_probe import synchronize

from common import benchmark_parser, machine_line
from train_throughput import DEFAULTS, build_model

QUICK = dict(resolutions=[16], num=4, batch=2, steps=2)
VARIANTS = {'defaults': dict(channels_last=DEFAULTS['channels_last'], bf16=False),
            'nchw': dict(channels_last=False, bf16=False),
            'bf16': dict(channels_last=DEFAULTS['channels_last'], bf16=True)}


def parse_args() -> argparse.Namespace:
    parser = benchmark_parser(__doc__)
    parser.add_argument('--resolutions', type=int, nargs='+', default=[32, 64],
                        help='image resolutions (default 32 64)')
    parser.add_argument('--num', type=int, default=64, help='images per variant (default 64)')
    parser.add_argument('--batch', type=int, default=32, help='images per batch (default 32)')
    parser.add_argument('--steps', type=int, default=18, help='Heun steps (default 18)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: 16px, 4 images in batches of 2, 2 steps')
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    return args


def resolution_report(resolution: int, args: argparse.Namespace,
                      device: torch.device) -> dict[str, float]:
    """Images/s of each variant at one resolution."""
    models = {key: build_model(resolution, 3, device, channels_last=variant['channels_last'])
              for key, variant in VARIANTS.items()}

    def sample(key: str, seeds: list[int]) -> float:
        autocast = (torch.autocast(device.type, dtype=torch.bfloat16)
                    if VARIANTS[key]['bf16'] else contextlib.nullcontext())
        synchronize(device)
        began = time.perf_counter()
        with autocast:
            models[key].generate(seeds, num_steps=args.steps)  # (B, 3, R, R)
        synchronize(device)
        return time.perf_counter() - began

    for key in models:  # warm-up, not timed
        sample(key, list(range(min(args.batch, args.num))))
    seconds = dict.fromkeys(models, 0.0)
    for start in range(0, args.num, args.batch):
        seeds = list(range(start, min(start + args.batch, args.num)))
        for key in models:  # in turns, so a busy machine slows all alike
            seconds[key] += sample(key, seeds)
    return {key: args.num / seconds[key] for key in models}


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    began = time.perf_counter()
    machine = machine_line(device)
    parameters = sum(p.numel() for p in build_model(args.resolutions[0], 3, 'cpu').parameters())
    print(f'machine: {machine}')
    print(f'network: UNet 32 ch, mults (1, 2, 2), 2 blocks, attention at R/2, {parameters:,} '
          f'parameters; Heun {args.steps} steps ({2 * args.steps - 1} evaluations); '
          f'{args.num} images in batches of {args.batch}; device {device}')
    reports = {resolution: resolution_report(resolution, args, device)
               for resolution in args.resolutions}
    print(f'{"res":>4}' + ''.join(f'{key + " img/s":>16}' for key in VARIANTS)
          + f'{"defaults/nchw":>15}{"bf16/defaults":>15}')
    for resolution, rates in reports.items():
        print(f'{resolution:>4}' + ''.join(f'{rates[key]:>16.2f}' for key in VARIANTS)
              + f'{rates["defaults"] / rates["nchw"]:>14.2f}x'
              + f'{rates["bf16"] / rates["defaults"]:>14.2f}x')
    seconds = time.perf_counter() - began
    print(f'total time: {seconds:.0f} s')
    if args.json:
        print(json.dumps(dict(machine=machine, device=str(device), parameters=parameters,
                              steps=args.steps, num=args.num, batch=args.batch,
                              images_per_s={str(r): rates for r, rates in reports.items()},
                              seconds=seconds)))


if __name__ == '__main__':
    main()
