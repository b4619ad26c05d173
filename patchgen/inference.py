"""Rebuilding a trained model from its checkpoint and sampling images to disk."""
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

from patchgen.checkpoint_file import load_checkpoint_file
from patchgen.config import config_from_text
from patchgen.errors import PatchgenError
from patchgen.files import make_folder
from patchgen.images import save_pngs
from patchgen.registry import MODELS, SAMPLERS, build_in_scope
from patchgen.samplers import Sampler, Tiling


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def stored_config(state: dict, checkpoint: str | Path) -> Config:
    """The config that the loaded training checkpoint ``state`` (from ``checkpoint``) stores,
    read as plain data: running it could run any code."""
    cfg_text = state.get('meta', {}).get('cfg')
    if not cfg_text:
        raise PatchgenError(f'checkpoint {checkpoint} carries no config: it was not written '
                            f'by `patchgen train`')
    return Config(config_from_text(cfg_text))


def load_model(checkpoint: str | Path, device: torch.device | str = 'cpu',
               trusted: bool = False) -> torch.nn.Module:
    """Build the model of a training checkpoint from the config stored in it.

    The checkpoint's ``state_dict`` holds the EMA weights when training used
    an EMA hook, so the returned model samples with them. ``trusted`` unpickles
    everything in the file (see :func:`load_checkpoint_file`).
    """
    state = load_checkpoint_file(checkpoint, trusted=trusted)
    cfg = stored_config(state, checkpoint)
    if cfg.get('custom_imports'):  # the plugin modules the config names (a backbone, ...)
        import_modules_from_strings(**cfg.custom_imports)
    cfg.model.pop('patch_sampler', None)  # patchgen < 0.2 kept the training loop's patch plan here
    model = build_in_scope(MODELS, cfg.model, cfg.get('default_scope'))
    try:
        model.load_state_dict(state['state_dict'])
    except RuntimeError as error:
        raise PatchgenError(
            f'the weights in {checkpoint} do not fit the model its config builds (a checkpoint of '
            f'patchgen < 0.2, whose UNet had other defaults?): '
            f'{" ".join(str(error).split())[:300]}') from None
    return model.to(device).eval()


def check_class_label(model: torch.nn.Module, class_label: int | None) -> None:
    """Refuse a class label that the model cannot take."""
    if class_label is None:
        return
    if model.num_classes == 0:
        raise PatchgenError(f'class_label={class_label}: this model is unconditional '
                            '(num_classes=0); give no class label')
    if not 0 <= class_label <= model.num_classes:
        raise PatchgenError(f'class_label={class_label} is outside 0..{model.num_classes - 1} '
                            f'(or {model.num_classes} for unconditional samples)')


def seed_labels(model: torch.nn.Module, seeds: Sequence[int],
                class_label: int | None = None) -> torch.Tensor | None:
    """(N,) labels for a class-conditional model: ``class_label``, or ``seed % num_classes``."""
    if model.num_classes == 0:
        return None
    device = next(model.parameters()).device
    labels = [seed % model.num_classes if class_label is None else class_label for seed in seeds]
    return torch.tensor(labels, device=device)


def build_sampler(name: str, num_steps: int) -> Sampler:
    """The sampler registered as ``name`` in SAMPLERS, over ``num_steps`` noise levels."""
    SAMPLERS.import_from_location()
    if name not in SAMPLERS.module_dict:
        raise PatchgenError(f'unknown sampler {name!r}: choose from '
                            f'{", ".join(sorted(SAMPLERS.module_dict))}')
    return SAMPLERS.build(dict(type=name, num_steps=num_steps))


def sample_to_folder(model: torch.nn.Module, seeds: Sequence[int], out_dir: str | Path,
                     batch_size: int = 64, num_steps: int | None = None,
                     on_batch: Callable[[torch.Tensor], None] | None = None,
                     size: tuple[int, int] | None = None,
                     offset: tuple[int, int] = (0, 0),
                     class_label: int | None = None,
                     guidance: float = 1.0,
                     sampler: Sampler | None = None,
                     tiling: Tiling | None = None) -> list[Path]:
    """Sample one image per seed and write it as ``OUT/SEED.png`` (6-digit seed).

    Images depend only on their seeds, not on the batch size.

    Args:
        model: A PatchDiffusion model.
        seeds: One seed per image.
        out_dir: Folder for the PNG files; created if missing.
        batch_size: Images per sampler call.
        num_steps: Sampler steps; the model's sampler setting by default.
        on_batch: Called with each batch of images (N, C, H, W) once written.
        size: (height, width) of the canvas; the training resolution by default.
        offset: (row, column) of the canvas's top-left pixel in training pixels.
        class_label: The class of every image of a class-conditional model;
            by default image ``seed`` gets class ``seed % num_classes``.
        guidance: Classifier-free guidance weight (1: none).
        sampler: The sampler; the model's by default.
        tiling: Sample the canvas as overlapping tiles (see ``PatchDiffusion.generate``).
    """
    if batch_size < 1:
        raise PatchgenError(f'batch_size must be at least 1, got {batch_size}')
    check_class_label(model, class_label)
    out_dir = make_folder(out_dir)
    paths = []
    for start in range(0, len(seeds), batch_size):
        batch = list(seeds[start:start + batch_size])
        images = model.generate(batch, seed_labels(model, batch, class_label), num_steps,
                                size, offset, guidance, sampler, tiling)
        batch_paths = [out_dir / f'{seed:06d}.png' for seed in batch]
        save_pngs(images, batch_paths)
        paths += batch_paths
        if on_batch is not None:
            on_batch(images)
    return paths
