"""The autoencoder interface of latent Patch Diffusion, and the handle a model keeps on one."""
import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from patchgen.errors import PatchgenError
from patchgen.registry import AUTOENCODERS


class Autoencoder(nn.Module, ABC):
    """Maps images in [-1, 1] to scaled latents and back, a bounded batch at a time.

    Latents are ``z = (raw - shift) * scale``, where ``raw`` is the encoder's
    output (the posterior mean of a KL autoencoder), so that the diffusion
    model sees data of about unit spread (SD's VAE: scale 0.18215, shift 0).
    Subclasses set ``image_channels``, ``latent_channels`` and ``downsample``
    (the side of the image area one latent pixel covers) and implement
    :meth:`encode_raw` and :meth:`decode_raw`.

    Args:
        scale: Multiplies the raw latents after the shift.
        shift: Subtracted from the raw latents.
        batch_size: Images per encoder or decoder call, which bounds memory.
    """

    image_channels: int
    latent_channels: int
    downsample: int
    trained = True  # False for a network that training starts from

    def __init__(self, scale: float, shift: float = 0.0, batch_size: int = 16) -> None:
        super().__init__()
        if not (math.isfinite(scale) and scale > 0 and math.isfinite(shift)):
            raise PatchgenError(f'autoencoder scale={scale}, shift={shift}: the scale must be a '
                                f'positive number and the shift a finite one')
        if batch_size < 1:
            raise PatchgenError(f'autoencoder batch_size must be at least 1, got {batch_size}')
        self.scale = float(scale)
        self.shift = float(shift)
        self.batch_size = batch_size

    @abstractmethod
    def encode_raw(self, images: Tensor) -> Tensor:
        """(N, C, H, W) images in [-1, 1] -> (N, c, H / f, W / f) raw latents."""

    @abstractmethod
    def decode_raw(self, latents: Tensor) -> Tensor:
        """(N, c, h, w) raw latents -> (N, C, h * f, w * f) images in about [-1, 1]."""

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """(N, C, H, W) images in [-1, 1] -> (N, c, H / f, W / f) scaled latents."""
        self.latent_shape(images.shape[1:])
        return torch.cat([(self.encode_raw(chunk) - self.shift) * self.scale
                          for chunk in images.split(self.batch_size)])

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """(N, c, h, w) scaled latents -> (N, C, h * f, w * f) images clamped to [-1, 1]."""
        if latents.shape[1] != self.latent_channels:
            raise PatchgenError(f'{type(self).__name__} decodes {self.latent_channels}-channel '
                                f'latents, got {latents.shape[1]}: set model.image_channels to '
                                f'{self.latent_channels}')
        return torch.cat([self.decode_raw(chunk / self.scale + self.shift).clamp(-1, 1)
                          for chunk in latents.split(self.batch_size)])

    def latent_shape(self, image_shape: Sequence[int]) -> tuple[int, int, int]:
        """The (c, h, w) latent of a (C, H, W) image; images that do not fit raise PatchgenError."""
        channels, height, width = image_shape
        f = self.downsample
        if channels != self.image_channels:
            raise PatchgenError(f'{type(self).__name__} takes {self.image_channels}-channel '
                                f'images, got {channels}: convert the data (--channels, '
                                f'ToChannels)')
        if height % f or width % f:
            raise PatchgenError(f'{height}x{width} images do not divide into the '
                                f'autoencoder\'s {f}x{f} cells: pad or resize them to a '
                                f'multiple of {f}')
        return self.latent_channels, height // f, width // f

    def fingerprint(self) -> str:
        """SHA-256 of the class, scale, shift and every weight: same fingerprint, same latents."""
        digest = hashlib.sha256(f'{type(self).__name__} {self.scale!r} {self.shift!r}'.encode())
        for name, tensor in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
        return digest.hexdigest()


def build_autoencoder(cfg: dict) -> Autoencoder:
    """Build a trained autoencoder from its config, frozen in eval mode."""
    autoencoder = AUTOENCODERS.build(cfg)
    if not autoencoder.trained:
        raise PatchgenError(f'{cfg["type"]} has no trained weights: give the checkpoint that '
                            f'`patchgen autoencoder train` wrote (checkpoint=AE.pth)')
    return autoencoder.eval().requires_grad_(False)


class LazyAutoencoder:
    """The autoencoder a model's config names, built on first use and never trained.

    It is no submodule: its weights stay out of the model's state dict,
    optimizer and EMA, a model builds without them (config checks, meta
    device), and every copy of the model (the EMA copy) shares this instance.

    Args:
        cfg: The autoencoder's config (AUTOENCODERS).
    """

    def __init__(self, cfg: dict) -> None:
        self.cfg = dict(cfg)
        self._module: Autoencoder | None = None

    def get(self, device: torch.device | str | None = None) -> Autoencoder:
        """The built autoencoder, moved to ``device`` when given."""
        if self._module is None:
            self._module = build_autoencoder(self.cfg)
        return self._module if device is None else self._module.to(device)

    def __deepcopy__(self, memo: dict) -> 'LazyAutoencoder':
        return self  # frozen: copies of the model share it
