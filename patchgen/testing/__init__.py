"""Helpers for testing patchgen parts, your own included (needs pytest)."""
from .contracts import BackboneContract, SamplerContract, randomise_zero_parameters

__all__ = ['BackboneContract', 'SamplerContract', 'randomise_zero_parameters']
