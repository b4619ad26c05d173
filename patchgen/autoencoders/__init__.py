"""Autoencoders for latent Patch Diffusion; importing this registers them all (not diffusers,
which their diffusers entries import only when built)."""
from .base import Autoencoder, LazyAutoencoder, build_autoencoder
from .diffusers_models import DiffusersAutoencoderKL, DiffusersAutoencoderTiny
from .kl import KLAutoencoder, KLNetwork

__all__ = ['Autoencoder', 'DiffusersAutoencoderKL', 'DiffusersAutoencoderTiny', 'KLAutoencoder',
           'KLNetwork', 'LazyAutoencoder', 'build_autoencoder']
