"""TinyConvNet keeps patchgen's backbone contract: run with `pytest examples/custom_backbone`."""
import tinynet  # noqa: F401 (registers TinyConvNet)

from patchgen.testing import BackboneContract


class TestTinyConvNet(BackboneContract):
    backbone = dict(type='TinyConvNet', width=8, depth=2)
