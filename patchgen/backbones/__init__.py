"""Denoiser backbones, registered in ``patchgen.registry.BACKBONES``."""
from .dit import DiT
from .unet import UNet

__all__ = ['DiT', 'UNet']
