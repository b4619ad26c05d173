"""Encoding a dataset into a latent dataset once (``patchgen data encode``), resumably.

Rows are written in place into the ``.npy`` files batch by batch; after each
batch is on disk, ``done`` in ``meta.json`` advances atomically. A killed run
leaves at most one batch to encode again, and running the same command again
goes on from ``done``. The folder records the autoencoder's fingerprint, and a
folder of another autoencoder or another job is never mixed with.
"""
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from numpy.lib.format import open_memmap

from patchgen.autoencoders import Autoencoder, build_autoencoder
from patchgen.config import load_config
from patchgen.datasets.latents import FILES, FLIPPED, FORMAT, LABELS, LATENTS, META, read_meta
from patchgen.errors import PatchgenError
from patchgen.evaluation.sources import stack_images
from patchgen.files import write_text_atomic
from patchgen.images import dequantize

FLOAT16_MAX = float(np.finfo(np.float16).max)


def autoencoder_config(spec: str) -> dict:
    """The autoencoder config that ``--autoencoder`` names: a checkpoint of ``patchgen
    autoencoder train`` (.pth), or a config file whose ``model.autoencoder`` (or, in the
    autoencoder files of configs/_base_/autoencoders, ``autoencoder``) names one."""
    if spec.endswith(('.pth', '.pt')):
        return dict(type='KLAutoencoder', checkpoint=spec)
    cfg = load_config(spec)
    found = cfg.get('model', {}).get('autoencoder') or cfg.get('autoencoder')
    if found is None:
        raise PatchgenError(f'{spec} names no autoencoder: give a latent config (e.g. '
                            f'configs/fmnist32_latent.py) or a checkpoint of `patchgen '
                            f'autoencoder train` (.pth)')
    return found.to_dict()


def job_identity(dataset: BaseDataset, autoencoder: Autoencoder, autoencoder_cfg: dict,
                 source: str, xflip: bool) -> dict:
    """What a latent folder holds and what made it: its meta.json less ``done``."""
    first = dataset[0]
    image_shape = tuple(first['inputs'].shape)  # (C, H, W)
    return {
        'format': FORMAT,
        'source': source,
        'count': len(dataset),
        'image_shape': list(image_shape),
        'latent_shape': list(autoencoder.latent_shape(image_shape)),
        'xflip': xflip,
        'labelled': 'labels' in first,
        'num_classes': int(dataset.metainfo.get('num_classes') or 0),
        'autoencoder': {'type': autoencoder_cfg['type'], 'config': autoencoder_cfg,
                        'fingerprint': autoencoder.fingerprint()},
    }


def resume_point(out: Path, identity: dict) -> int:
    """Rows already written to ``out`` by the same job (0 for a new folder); a folder of
    another autoencoder or another job raises PatchgenError."""
    if not (out / META).is_file():
        strangers = sorted(p.name for p in out.iterdir() if p.name not in FILES) \
            if out.is_dir() else []
        if out.exists() and (not out.is_dir() or strangers):
            raise PatchgenError(f'{out} exists and is no latent dataset: give a new --out')
        return 0
    meta = read_meta(out)
    theirs, ours = meta['autoencoder'], identity['autoencoder']
    if theirs['fingerprint'] != ours['fingerprint']:
        raise PatchgenError(f'{out} holds latents of another autoencoder ({theirs["type"]} '
                            f'{theirs["fingerprint"][:12]}) than this one ({ours["type"]} '
                            f'{ours["fingerprint"][:12]}): give a new --out, or delete {out}')
    differing = [key for key in identity if key != 'autoencoder' and meta[key] != identity[key]]
    if differing:
        raise PatchgenError(f'{out} was written by another job (its {", ".join(differing)} '
                            f'differ): give a new --out, or delete {out}')
    return meta['done']


def to_float16(latents: torch.Tensor) -> np.ndarray:
    """(N, c, h, w) latents as float16 numpy; values float16 cannot hold raise PatchgenError."""
    peak = latents.abs().max().item()
    if not peak < FLOAT16_MAX:  # also catches NaN
        raise PatchgenError(f'latents reach {peak:.3g}, beyond float16: check the autoencoder\'s '
                            f'scale and shift')
    return latents.cpu().numpy().astype(np.float16)


def write_latents(dataset: BaseDataset,
                  autoencoder_cfg: dict,
                  out: str | Path,
                  source: str,
                  xflip: bool = False,
                  batch_size: int = 64,
                  device: torch.device | str = 'cpu',
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """Encode every image of ``dataset`` into the latent folder ``out``, or finish doing so.

    Args:
        dataset: Yields packed ``{'inputs': (C, H, W) uint8, 'labels': int}`` items.
        autoencoder_cfg: Config of a trained autoencoder (AUTOENCODERS).
        out: The folder; an unfinished folder of the same job is resumed.
        source: What the data are, as recorded in ``meta.json``.
        xflip: Also encode each mirrored image (``flipped.npy``).
        batch_size: Images per encoding batch.
        device: Where the autoencoder runs.
        progress: Called as ``progress(done, total)`` after each batch.

    Returns:
        The folder's meta.json contents.
    """
    if batch_size < 1:
        raise PatchgenError(f'batch_size must be at least 1, got {batch_size}')
    if len(dataset) == 0:
        raise PatchgenError(f'the source {source} holds no images')
    autoencoder = build_autoencoder(autoencoder_cfg).to(device)
    identity = job_identity(dataset, autoencoder, autoencoder_cfg, source, xflip)
    out = Path(out)
    done = resume_point(out, identity)
    out.mkdir(parents=True, exist_ok=True)
    count, mode = identity['count'], 'r+' if done else 'w+'
    shape = (count, *identity['latent_shape'])
    arrays = {LATENTS: open_memmap(out / LATENTS, mode, np.float16, shape)}
    if xflip:
        arrays[FLIPPED] = open_memmap(out / FLIPPED, mode, np.float16, shape)
    if identity['labelled']:
        arrays[LABELS] = open_memmap(out / LABELS, mode, np.int64, (count,))
    meta = {**identity, 'done': done}
    if not done:
        write_text_atomic(out / META, json.dumps(meta, indent=1))
    for start in range(done, count, batch_size):
        items = [dataset[index] for index in range(start, min(start + batch_size, count))]
        stop = start + len(items)
        images = dequantize(stack_images(items)).to(device)  # (B, C, H, W) in [-1, 1]
        arrays[LATENTS][start:stop] = to_float16(autoencoder.encode(images))
        if xflip:
            arrays[FLIPPED][start:stop] = to_float16(autoencoder.encode(images.flip(-1)))
        if identity['labelled']:
            arrays[LABELS][start:stop] = [item['labels'] for item in items]
        for array in arrays.values():
            array.flush()
        meta['done'] = stop
        write_text_atomic(out / META, json.dumps(meta, indent=1))
        if progress is not None:
            progress(stop, count)
    return meta
