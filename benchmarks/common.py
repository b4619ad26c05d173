"""What the benchmark scripts share: common options and the machine's description."""
import argparse
import platform
from collections.abc import Iterator
from pathlib import Path

import torch


def benchmark_parser(doc: str, device: bool = True) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of ``doc``, with ``--json`` (and ``--device``)."""
    parser = argparse.ArgumentParser(description=doc.split('\n\n')[0])
    if device:
        parser.add_argument('--device', default='cpu', help='torch device (default cpu)')
    parser.add_argument('--json', action='store_true', help='print one JSON object last')
    return parser


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it, else as platform does."""
    cpuinfo = Path('/proc/cpuinfo')
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_line(device: torch.device) -> str:
    """CPU, torch threads and version, and the GPU when there is one."""
    return (f'{cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}'
            + (f', {torch.cuda.get_device_name(device)}' if device.type == 'cuda' else ''))


def sample_batches(model: torch.nn.Module, num_samples: int, batch: int = 100,
                   sampler=None) -> Iterator[torch.Tensor]:
    """uint8 (B, C, H, W) batches of ``num_samples`` images of ``model``, seeds 0, 1, ..., made
    with its own sampler or with ``sampler``."""
    from patchgen.images import quantize
    for start in range(0, num_samples, batch):
        seeds = list(range(start, min(start + batch, num_samples)))
        yield quantize(model.generate(seeds, sampler=sampler))
