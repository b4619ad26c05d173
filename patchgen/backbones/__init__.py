"""Denoiser backbones, registered in ``patchgen.registry.BACKBONES``."""
from .unet import UNet

__all__ = ['UNet']
