"""``patchgen doctor``: what this machine offers patchgen, and how to get what is missing."""
import inspect
import os
import platform
import re
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path
from typing import Any

from patchgen.cli.evaluate import Json
from patchgen.cli.output import show_findings
from patchgen.errors import PatchgenError

CPU_BF16_FLAGS = ('avx512_bf16', 'amx_bf16')  # /proc/cpuinfo flags of native bf16 arithmetic


def cpu_info(cpuinfo: Path = Path('/proc/cpuinfo')) -> dict[str, Any]:
    """The CPU's model, core count and native bf16 flags (none where /proc/cpuinfo is absent)."""
    text = cpuinfo.read_text() if cpuinfo.is_file() else ''
    model = re.search(r'^model name\s*:\s*(.+)$', text, re.MULTILINE)
    flags = re.search(r'^flags\s*:\s*(.*)$', text, re.MULTILINE)
    flags = set(flags.group(1).split()) if flags else set()
    return dict(model=model.group(1) if model else platform.processor(), cores=os.cpu_count(),
                bf16_flags=[flag for flag in CPU_BF16_FLAGS if flag in flags])


def cuda_info() -> dict[str, Any]:
    """Whether torch sees CUDA, the CUDA version it was built with, and each device."""
    import torch
    devices = []
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(index)
        devices.append(dict(name=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                            capability=f'{props.major}.{props.minor}', bf16=props.major >= 8))
    return dict(available=bool(devices), version=torch.version.cuda, devices=devices)


def found(locate: Callable[[], Any]) -> dict[str, Any]:
    """``locate()``'s answer as {found, where, note}: ``note`` says how to get what is missing."""
    try:
        where = locate()
    except PatchgenError as error:
        return dict(found=False, where=None, note=str(error))
    return dict(found=True, where=str(where), note=None)


def fashion_mnist() -> str:
    """Where Fashion-MNIST is, once both splits were read from there."""
    from patchgen.datasets import FashionMNIST
    FashionMNIST('train'), FashionMNIST('test')
    return inspect.signature(FashionMNIST).parameters['root'].default


def extras() -> dict[str, dict[str, str | None]]:
    """Each optional extra of patchgen: its packages and their installed versions (None: not
    installed); empty when patchgen is not installed as a package."""
    try:
        requirements = requires('patchgen') or []
    except PackageNotFoundError:
        return {}
    table: dict[str, dict[str, str | None]] = {}
    for requirement in requirements:
        extra = re.search(r'extra\s*==\s*["\']([^"\']+)', requirement)
        if extra:
            name = re.match(r'[A-Za-z0-9._-]+', requirement).group()
            table.setdefault(extra.group(1), {})[name] = installed_version(name)
    return table


def installed_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def diagnose() -> dict[str, Any]:
    """Everything ``patchgen doctor`` reports, as plain data."""
    import mmengine
    import torch

    import patchgen
    from patchgen.datasets.mnist5k import find_mnist5k_csv
    from patchgen.evaluation.weights import (
        cache_dir,
        resolve_inception_weights,
        resolve_is_weights,
    )
    return dict(
        python=platform.python_version(), patchgen=patchgen.__version__,
        torch=torch.__version__, mmengine=mmengine.__version__, cuda=cuda_info(), cpu=cpu_info(),
        weights_cache=str(cache_dir()),
        inception=found(lambda: resolve_inception_weights(None)),
        inception_score=found(lambda: resolve_is_weights(None)),
        datasets={'fashion-mnist': found(fashion_mnist), 'mnist5k': found(find_mnist5k_csv)},
        extras=extras())


def doctor_rows(report: dict[str, Any]) -> dict[str, str]:
    """The findings of :func:`diagnose` as lines of text."""
    def status(item: dict) -> str:
        return f'found: {item["where"]}' if item['found'] else f'missing: {item["note"]}'

    cuda, cpu = report['cuda'], report['cpu']
    devices = '; '.join(f'{d["name"]} ({d["memory_gib"]} GiB, compute {d["capability"]}, '
                        f'bf16 {"yes" if d["bf16"] else "no"})' for d in cuda['devices'])
    bf16 = (f'yes ({", ".join(cpu["bf16_flags"])})' if cpu['bf16_flags'] else
            f'no (neither {" nor ".join(CPU_BF16_FLAGS)}): bf16 autocast would be emulated, slowly')
    rows = {'python': report['python'], 'patchgen': report['patchgen'], 'torch': report['torch'],
            'mmengine': report['mmengine'],
            'CUDA': devices if cuda['available'] else 'not available' + (
                f' (torch built for CUDA {cuda["version"]})' if cuda['version'] else
                ' (a CPU-only torch)'),
            'CPU': f'{cpu["model"]}, {cpu["cores"]} cores; native bf16: {bf16}',
            'FID Inception weights': status(report['inception']),
            'Inception Score weights': status(report['inception_score'])}
    rows.update({f'dataset {name}': status(item) for name, item in report['datasets'].items()})
    rows.update({f'extra [{extra}]': ', '.join(f'{name} {found or "not installed"}'
                                               for name, found in packages.items())
                 for extra, packages in report['extras'].items()})
    return rows


def doctor(as_json: Json = False) -> None:
    """Check torch, CUDA, CPU bf16, evaluation weights, datasets and optional extras."""
    report = diagnose()
    show_findings('patchgen doctor', doctor_rows(report), report, as_json)
