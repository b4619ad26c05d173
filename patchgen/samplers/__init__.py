"""Samplers: turn a trained denoiser into images."""
from .base import Denoiser, Sampler
from .heun import HeunSampler
from .noise import SeededNoise

__all__ = ['Denoiser', 'HeunSampler', 'Sampler', 'SeededNoise']
