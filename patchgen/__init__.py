"""patchgen: Patch Diffusion training on MMEngine."""
__version__ = '0.1.0'
