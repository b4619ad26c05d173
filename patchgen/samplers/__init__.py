"""Samplers: turn a trained denoiser into images."""
from .heun import HeunSampler
from .noise import SeededNoise

__all__ = ['HeunSampler', 'SeededNoise']
