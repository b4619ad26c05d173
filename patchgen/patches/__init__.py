"""Patch samplers and multiplier rules: which patches each step trains on, and the crops."""
from .multipliers import ConstantPixels, ConstantTime, MultiplierRule, ReferenceMultiplier
from .samplers import (
                       AnnealedMultiScale,
                       FixedSize,
                       FullImage,
                       LatentMultiScale,
                       NoiseAwareMultiScale,
                       PatchPlan,
                       PatchSampler,
                       Progressive,
                       RandomMultiScale,
                       crop_patches,
                       gather_patches,
)

__all__ = ['PatchPlan', 'PatchSampler', 'RandomMultiScale', 'FixedSize', 'FullImage',
           'LatentMultiScale', 'Progressive', 'NoiseAwareMultiScale', 'AnnealedMultiScale',
           'crop_patches', 'gather_patches', 'MultiplierRule', 'ReferenceMultiplier',
           'ConstantPixels', 'ConstantTime']
