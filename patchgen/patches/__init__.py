"""Patch samplers: which patch size each step trains on, and the crops."""
from .samplers import (
                       FixedSize,
                       FullImage,
                       PatchPlan,
                       PatchSampler,
                       Progressive,
                       RandomMultiScale,
                       gather_patches,
)

__all__ = ['PatchPlan', 'PatchSampler', 'RandomMultiScale', 'FixedSize', 'FullImage',
           'Progressive', 'gather_patches']
