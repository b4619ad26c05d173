"""An out-of-tree patchgen plugin: importing it registers ``TinyConvNet`` in BACKBONES."""
from .net import TinyConvNet

__all__ = ['TinyConvNet']
