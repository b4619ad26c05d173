"""Training patchgen's KL autoencoder (``patchgen autoencoder train``), resumably.

Each step draws its images and its posterior noise from generators seeded by
``(seed, step)``, so a run resumed from its checkpoint takes the steps an
uninterrupted run would. At the end the latents of training images set the
scale and shift (unit spread, zero mean), the test images give the
reconstruction PSNR and a grid of originals over reconstructions, and all of
it goes into the checkpoint, which ``KLAutoencoder(checkpoint=...)`` loads.
"""
import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from patchgen import __version__
from patchgen.checkpoint_file import load_checkpoint_file, save_checkpoint_file
from patchgen.config import load_config
from patchgen.errors import PatchgenError
from patchgen.images import dequantize, quantize, save_grid
from patchgen.registry import AUTOENCODERS, DATASETS, build_in_scope
from patchgen.seeding import reseed_global_rngs

from .kl import KLAutoencoder, KLNetwork

CONFIG_KEYS = ('autoencoder', 'train_dataloader', 'test_dataset', 'max_iters', 'lr', 'kl_weight',
               'seed', 'save_interval')
STATS_IMAGES = 2048  # training images whose latents set the scale and shift
GRID_IMAGES = 16  # test images in the reconstruction grid, 8 per row
EVAL_BATCH = 256

Report = Callable[[int, int, float], None]  # (step, max_iters, reconstruction L1)


def read_autoencoder_config(path: str | Path) -> dict:
    """An autoencoder training config as a plain dict, its keys checked."""
    cfg = load_config(path).to_dict()
    missing = [key for key in CONFIG_KEYS if key not in cfg]
    if missing:
        raise PatchgenError(f'{path} lacks {", ".join(missing)}: an autoencoder config sets '
                            f'{", ".join(CONFIG_KEYS)} (see configs/autoencoders/fmnist_kl.py)')
    if cfg['max_iters'] < 1 or cfg['save_interval'] < 1:
        raise PatchgenError(f'max_iters and save_interval must be at least 1, got '
                            f'{cfg["max_iters"]} and {cfg["save_interval"]}')
    return cfg


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) per latent element, averaged."""
    return 0.5 * (mean.square() + logvar.exp() - 1 - logvar).mean()


def cosine_lr(lr: float, step: int, max_iters: int) -> float:
    """The learning rate of ``step``: ``lr`` decayed to 0 on a half cosine."""
    return lr * 0.5 * (1 + math.cos(math.pi * step / max_iters))


def draw_images(dataset, count: int) -> Tensor:
    """(count, C, H, W) images in [-1, 1], drawn uniformly from torch's global generator."""
    rows = torch.randint(len(dataset), (count,)).tolist()
    return dequantize(torch.stack([dataset[row]['inputs'] for row in rows]))


def train_step(network: KLNetwork, optimizer: torch.optim.Optimizer, images: Tensor,
               kl_weight: float) -> float:
    """One Adam step on L1 reconstruction + ``kl_weight`` x KL; returns the L1 error."""
    mean, logvar = network.posterior(images)  # each (B, c, h, w)
    latents = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
    reconstruction = (network(latents) - images).abs().mean()
    loss = reconstruction + kl_weight * kl_divergence(mean, logvar)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return reconstruction.item()


@torch.no_grad()
def latent_stats(autoencoder: KLAutoencoder, images: Tensor) -> tuple[float, float]:
    """(scale, shift) giving the raw latents of ``images`` zero mean and unit spread."""
    raw = torch.cat([autoencoder.encode_raw(chunk) for chunk in images.split(EVAL_BATCH)])
    return 1.0 / raw.std().item(), raw.mean().item()


@torch.no_grad()
def reconstruction_psnr(autoencoder: KLAutoencoder, dataset) -> tuple[float, Tensor, Tensor]:
    """Mean PSNR (dB, 8-bit pixels) of the test images' reconstructions, and the first
    ``GRID_IMAGES`` images and reconstructions in [-1, 1]."""
    psnrs, first = [], None
    for start in range(0, len(dataset), EVAL_BATCH):
        pixels = torch.stack([dataset[i]['inputs']
                              for i in range(start, min(start + EVAL_BATCH, len(dataset)))])
        images = dequantize(pixels)
        reconstructed = autoencoder.decode_raw(autoencoder.encode_raw(images)).clamp(-1, 1)
        error = (quantize(reconstructed).float() - pixels.float()).square().mean((1, 2, 3))
        psnrs.append(10 * torch.log10(255 ** 2 / error.clamp_min(1e-10)))
        if first is None:
            first = images[:GRID_IMAGES], reconstructed[:GRID_IMAGES]
    return torch.cat(psnrs).mean().item(), *first


def reconstruction_grid(images: Tensor, reconstructed: Tensor, path: Path) -> Path:
    """Rows of 8 test images, each followed by a row of their reconstructions."""
    rows = [part for start in range(0, len(images), 8)
            for part in (images[start:start + 8], reconstructed[start:start + 8])]
    return save_grid(torch.cat(rows), path, nrow=8)


def train_autoencoder(config_path: str | Path, out: str | Path, resume: bool = False,
                      report: Report | None = None) -> dict:
    """Train the config's KL autoencoder, or go on training ``out`` with ``resume``.

    The config sets ``autoencoder`` (``dict(type='KLAutoencoder', network=...)``),
    ``train_dataloader`` (``batch_size`` and ``dataset``), ``test_dataset``,
    ``max_iters``, ``lr`` (Adam, cosine decay), ``kl_weight``, ``seed`` and
    ``save_interval`` (steps between checkpoints).

    Args:
        config_path: The Python config.
        out: The checkpoint, written every ``save_interval`` steps and at the end.
        resume: Go on from ``out`` (a new run when it does not exist yet).
        report: Called as ``report(step, max_iters, l1)`` after each step.

    Returns:
        ``step``, ``psnr``, ``scale``, ``shift`` and ``grid`` (the reconstruction PNG).
    """
    cfg = read_autoencoder_config(config_path)
    out = Path(out)
    if out.exists() and not resume:
        raise PatchgenError(f'{out} exists: pass --resume to go on training it, or give another '
                            f'--out')
    dataset = build_in_scope(DATASETS, cfg['train_dataloader']['dataset'])
    test_set = build_in_scope(DATASETS, cfg['test_dataset'])
    reseed_global_rngs(cfg['seed'], 0, 0)  # the initial weights
    autoencoder = AUTOENCODERS.build(cfg['autoencoder'])
    if not isinstance(autoencoder, KLAutoencoder) or autoencoder.trained:
        raise PatchgenError("the config's autoencoder must be a new KLAutoencoder: "
                            "dict(type='KLAutoencoder', network=dict(...))")
    autoencoder.latent_shape(dataset[0]['inputs'].shape)  # images the network takes
    network = autoencoder.network
    optimizer = torch.optim.Adam(network.parameters(), lr=cfg['lr'])
    step, max_iters = 0, cfg['max_iters']
    if resume and out.exists():
        state = load_checkpoint_file(out)
        if state.get('network') != network.arguments:
            raise PatchgenError(f'{out} holds another network than {config_path} describes: '
                                f'give another --out')
        network.load_state_dict(state['state_dict'])
        optimizer.load_state_dict(state['optimizer'])
        step = state['step']

    def save(latent_scale: float | None = None, latent_shift: float | None = None,
             psnr: float | None = None) -> None:
        save_checkpoint_file({
            'state_dict': network.state_dict(), 'optimizer': optimizer.state_dict(),
            'step': step, 'max_iters': max_iters, 'network': network.arguments,
            'latent_scale': latent_scale, 'latent_shift': latent_shift, 'psnr': psnr,
            'meta': {'cfg': load_config(config_path).pretty_text,
                     'patchgen_version': __version__}}, out)

    network.train()
    while step < max_iters:
        reseed_global_rngs(cfg['seed'], step, 0)
        images = draw_images(dataset, cfg['train_dataloader']['batch_size'])
        for group in optimizer.param_groups:
            group['lr'] = cosine_lr(cfg['lr'], step, max_iters)
        l1 = train_step(network, optimizer, images, cfg['kl_weight'])
        step += 1
        if report is not None:
            report(step, max_iters, l1)
        if step % cfg['save_interval'] == 0 and step < max_iters:
            save()
    network.eval()
    reseed_global_rngs(cfg['seed'], max_iters, 1)  # the images for the latent statistics
    scale, shift = latent_stats(autoencoder, draw_images(dataset, min(STATS_IMAGES, len(dataset))))
    psnr, images, reconstructed = reconstruction_psnr(autoencoder, test_set)
    save(scale, shift, psnr)
    grid = reconstruction_grid(images, reconstructed,
                               out.with_name(f'{out.stem}_reconstructions.png'))
    return {'step': step, 'psnr': psnr, 'scale': scale, 'shift': shift, 'grid': grid}
