"""The PatchDiffusion model and its data preprocessor."""
from .data_preprocessor import DiffusionDataPreprocessor
from .patch_diffusion import PatchDiffusion

__all__ = ['PatchDiffusion', 'DiffusionDataPreprocessor']
