"""Samplers: turn a trained denoiser into images."""
from .base import Denoiser, Sampler
from .dpm_solver import DPMSolverPP2MSampler
from .euler import EulerSampler
from .heun import HeunSampler
from .masked import MaskedDenoiser, MaskedSampler
from .noise import SeededNoise
from .solver import Solver
from .tiled import TiledDenoiser, Tiling

__all__ = ['DPMSolverPP2MSampler', 'Denoiser', 'EulerSampler', 'HeunSampler', 'MaskedDenoiser',
           'MaskedSampler', 'Sampler', 'SeededNoise', 'Solver', 'TiledDenoiser', 'Tiling']
