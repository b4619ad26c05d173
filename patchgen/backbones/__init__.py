"""Denoiser backbones, registered in ``patchgen.registry.BACKBONES``."""
from .base import Backbone
from .dit import DiT
from .embeddings import ClassEmbedding, NoiseEmbedding, add_class_embedding
from .unet import UNet

__all__ = ['Backbone', 'ClassEmbedding', 'DiT', 'NoiseEmbedding', 'UNet', 'add_class_embedding']
