"""diffusers' AutoencoderKL (e.g. SD's VAE) and AutoencoderTiny (TAESD), from local files only.

diffusers is imported when such an autoencoder is built, never before: patchgen
and every pixel-space command work without it (``pip install 'patchgen[latent]'``).
"""
from pathlib import Path
from types import ModuleType

from torch import Tensor, nn

from patchgen.errors import PatchgenError
from patchgen.registry import AUTOENCODERS

from .base import Autoencoder


def import_diffusers() -> ModuleType:
    """The diffusers package, or a one-line PatchgenError saying how to install it."""
    try:
        import diffusers
    except ImportError:
        raise PatchgenError("this autoencoder needs diffusers, which is not installed: "
                            "pip install 'patchgen[latent]'") from None
    return diffusers


def load_local(model_class: type, path: str, subfolder: str | None, config: str | None,
               hub_id: str | None) -> nn.Module:
    """Load a diffusers model from a local folder (config.json + weights) or a single weights
    file (with ``config``, a local folder holding its config.json); nothing is downloaded."""
    if not Path(path).exists():
        fetch = f'`hf download {hub_id} --local-dir {path}`' if hub_id else 'download it'
        raise PatchgenError(f'autoencoder weights not found at {path} (patchgen never downloads):'
                            f' on a machine with internet {fetch}, then copy the folder to {path}'
                            f' (docs/latent.md)')
    try:
        if Path(path).is_dir():
            return model_class.from_pretrained(path, subfolder=subfolder, local_files_only=True)
        if not hasattr(model_class, 'from_single_file'):
            raise PatchgenError(f'{model_class.__name__} loads from a folder (config.json and '
                                f'weights), not from the single file {path}: give the folder')
        if config is None:
            raise PatchgenError(f'the single weights file {path} needs `config`: a local folder '
                                f'with the model\'s config.json (e.g. a downloaded vae folder)')
        return model_class.from_single_file(path, config=config, local_files_only=True)
    except (OSError, ValueError) as error:  # missing or unreadable files
        reason = ' '.join(str(error).split())[:200]
        raise PatchgenError(f'cannot load {model_class.__name__} from {path} ({reason}): give a '
                            f'folder with config.json and the weights (docs/latent.md)') from None


class DiffusersAutoencoder(Autoencoder):
    """Base of diffusers' autoencoders: loading, channels, and scale/shift from their config.

    Args:
        path: Local folder (``config.json`` + weights) or single weights file.
        scale: Latent scale; the model config's ``scaling_factor`` by default.
        shift: Latent shift; the model config's ``shift_factor`` (or 0) by default.
        subfolder: Folder inside ``path`` holding the model (``'vae'`` in a pipeline folder).
        config: For a single weights file: a local folder with its ``config.json``.
        hub_id: Where the weights are online (e.g. ``'stabilityai/sd-vae-ft-ema'``),
            named in the message when ``path`` is missing; never contacted.
        batch_size: Images per encoder or decoder call (bounds memory).
    """

    model_class_name: str  # the diffusers class
    levels_key: str  # the config entry with one item per encoder level

    def __init__(self,
                 path: str,
                 scale: float | None = None,
                 shift: float | None = None,
                 subfolder: str | None = None,
                 config: str | None = None,
                 hub_id: str | None = None,
                 batch_size: int = 8) -> None:
        model_class = getattr(import_diffusers(), self.model_class_name)
        vae = load_local(model_class, path, subfolder, config, hub_id)
        own = vae.config
        super().__init__(own.scaling_factor if scale is None else scale,
                         (own.get('shift_factor') or 0.0) if shift is None else shift, batch_size)
        self.vae = vae
        self.image_channels = own.in_channels
        self.latent_channels = own.latent_channels
        self.downsample = 2 ** (len(own[self.levels_key]) - 1)  # each later level halves


@AUTOENCODERS.register_module()
class DiffusersAutoencoderKL(DiffusersAutoencoder):
    """diffusers' AutoencoderKL, e.g. Stable Diffusion's VAE (``sd-vae-ft-ema``, scale 0.18215,
    8x8 pixels per latent); latents are the posterior means. See :class:`DiffusersAutoencoder`."""

    model_class_name = 'AutoencoderKL'
    levels_key = 'block_out_channels'

    def encode_raw(self, images: Tensor) -> Tensor:
        return self.vae.encode(images).latent_dist.mean

    def decode_raw(self, latents: Tensor) -> Tensor:
        return self.vae.decode(latents).sample


@AUTOENCODERS.register_module()
class DiffusersAutoencoderTiny(DiffusersAutoencoder):
    """diffusers' AutoencoderTiny (TAESD): a fast approximation of SD's VAE whose latents are
    already in SD's scaled space (scale 1). See :class:`DiffusersAutoencoder`."""

    model_class_name = 'AutoencoderTiny'
    levels_key = 'encoder_block_out_channels'

    def encode_raw(self, images: Tensor) -> Tensor:
        return self.vae.encode(images).latents

    def decode_raw(self, latents: Tensor) -> Tensor:
        return self.vae.decode(latents).sample
