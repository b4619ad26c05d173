"""bf16 autocast's speed-up over fp32 as ``AutocastOptimWrapper(dtype='auto')`` measures it.

For the Fashion-MNIST and quickstart networks at batch 32: full images, the paper's patch mix
(8/16/32 px with shares 0.2/0.3/0.5 and multipliers 4/2/1) and each small patch size alone,
three probes each (fp32 step time over bf16 step time; above 1.1 'auto' trains in bf16).

    python benchmarks/autocast_speedup.py 1      # one thread
"""
import argparse

import torch
from mmengine.registry import init_default_scope

from patchgen.config import CONFIG_DIR, load_config
from patchgen.engine.autocast_probe import autocast_speedup
from patchgen.registry import MODELS

MIXES = {'full': {(32, 32): 1.0}, 'patch mix': {(8, 128): 0.2, (16, 64): 0.3, (32, 32): 0.5},
         '8px x4': {(8, 128): 1.0}, '16px x2': {(16, 64): 1.0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('threads', type=int, help='torch threads')
    parser.add_argument('--probes', type=int, default=3, help='probes per network and mix')
    args = parser.parse_args()
    init_default_scope('patchgen')
    torch.set_num_threads(args.threads)
    for config in ('fmnist32_full', 'quickstart'):
        net = MODELS.build(load_config(CONFIG_DIR / f'{config}.py').model)
        for name, mix in MIXES.items():
            runs = [autocast_speedup(net, mix, torch.bfloat16, repeats=3)
                    for _ in range(args.probes)]
            print(f'{config:14s} {name:10s} {args.threads} thread(s): '
                  + ', '.join(f'{run:.2f}' for run in runs), flush=True)


if __name__ == '__main__':
    main()
