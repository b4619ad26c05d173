"""Memorisation: the share of a model's samples that copy one of its training images.

A sample copies a training image when its nearest training image (L2 distance in pixels) is
less than a third as far as the second nearest, the criterion of Yoon et al. (2023) and Gu et
al. ("On memorization in diffusion models", 2023). For a run on a subset of a dataset
(``train_dataloader.dataset.indices=N``), held-out images of the same dataset (the next
``--num-samples`` after the subset) scored the same way give the share that copies nothing
yields. This is the small-data regime's other measure: FID against test images says how well
a model generalises, this says whether it does so by copying.

    python benchmarks/memorisation.py RUN/budget_1.pth [RUN2/budget_1.pth ...] --num-samples 500
"""
import json
from pathlib import Path

import torch

from common import benchmark_parser, machine_line, sample_batches

RATIO = 1 / 3  # nearest / second-nearest distance under which a sample is a copy


def nearest_distances(images: torch.Tensor, training: torch.Tensor) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
    """Per image, the distance to its nearest training image and that distance's ratio to the
    second nearest. ``images`` (N, C, H, W) and ``training`` (M >= 2, C, H, W), in [0, 1]."""
    distances = torch.cdist(images.flatten(1).double(), training.flatten(1).double())  # (N, M)
    two = distances.topk(2, dim=1, largest=False).values  # (N, 2), nearest first
    return two[:, 0], two[:, 0] / two[:, 1].clamp_min(1e-12)


def summary(images: torch.Tensor, training: torch.Tensor) -> dict:
    """The share of ``images`` that copy a training image, and their median nearest distance."""
    nearest, ratio = nearest_distances(images, training)
    return dict(copies=(ratio < RATIO).double().mean().item(),
                median_nearest=nearest.median().item())


def as_unit(batches) -> torch.Tensor:
    """uint8 (B, C, H, W) batches as one float tensor in [0, 1]."""
    return torch.cat(list(batches)).float() / 255


def measure(checkpoint: Path, num_samples: int) -> dict:
    """Samples (seeds 0, 1, ...) of the checkpoint's EMA weights, and held-out images when the
    run trained on a subset, against the run's training images."""
    from patchgen.checkpoint_file import load_checkpoint_file
    from patchgen.evaluation.sources import image_batches
    from patchgen.inference import load_model, stored_config
    from patchgen.registry import DATASETS, build_in_scope

    cfg = stored_config(load_checkpoint_file(checkpoint), checkpoint)
    dataset_cfg = cfg.train_dataloader.dataset
    training = as_unit(image_batches(build_in_scope(DATASETS, dataset_cfg)))
    samples = as_unit(sample_batches(load_model(checkpoint), num_samples))
    report = dict(checkpoint=str(checkpoint), training_images=len(training),
                  samples=summary(samples, training))
    subset = dataset_cfg.get('indices')
    if isinstance(subset, int):
        held_out = build_in_scope(DATASETS, {**dataset_cfg, 'indices':
                                             list(range(subset, subset + num_samples))})
        report['held_out'] = summary(as_unit(image_batches(held_out)), training)
    return report


def main() -> None:
    parser = benchmark_parser(__doc__, device=False)
    parser.add_argument('checkpoints', nargs='+', type=Path)
    parser.add_argument('--num-samples', type=int, default=500)
    args = parser.parse_args()
    print(machine_line(torch.device('cpu')))
    print(f'a copy: nearest training image under {RATIO:.2f} of the second nearest (L2, pixels)')
    print(f'{"checkpoint":60} {"train":>6} {"copies":>7} {"median d":>9} '
          f'{"held-out copies":>16} {"median d":>9}')
    reports = []
    for checkpoint in args.checkpoints:
        report = measure(checkpoint, args.num_samples)
        held = report.get('held_out')  # none when the run trained on a whole dataset
        print(f'{str(checkpoint)[-60:]:60} {report["training_images"]:6d} '
              f'{report["samples"]["copies"]:7.1%} {report["samples"]["median_nearest"]:9.2f} '
              + (f'{held["copies"]:16.1%} {held["median_nearest"]:9.2f}' if held else
                 f'{"-":>16} {"-":>9}'))
        reports.append(report)
    if args.json:
        print(json.dumps(dict(num_samples=args.num_samples, runs=reports)))


if __name__ == '__main__':
    main()
