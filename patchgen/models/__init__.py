"""The PatchDiffusion model, its data preprocessor and its loss weightings."""
from .data_preprocessor import DiffusionDataPreprocessor
from .patch_diffusion import PatchDiffusion
from .weighting import EDMWeighting, LearnedUncertaintyWeighting, LossWeighting, MinSNRWeighting

__all__ = ['PatchDiffusion', 'DiffusionDataPreprocessor', 'LossWeighting', 'EDMWeighting',
           'MinSNRWeighting', 'LearnedUncertaintyWeighting']
