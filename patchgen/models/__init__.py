"""The PatchDiffusion model and its data preprocessor."""
from .data_preprocessor import DiffusionDataPreprocessor
from .patch_diffusion import LossDraws, PatchDiffusion

__all__ = ['LossDraws', 'PatchDiffusion', 'DiffusionDataPreprocessor']
