"""patchgen: Patch Diffusion training on MMEngine."""
__version__ = '0.2.0'
