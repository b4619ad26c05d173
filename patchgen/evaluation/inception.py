"""The TF-Inception feature extractor of FID, KID and the Inception Score.

The network is in :mod:`~patchgen.evaluation.inception_network`, its weights are
found by :mod:`~patchgen.evaluation.weights` and loaded by
:mod:`~patchgen.evaluation.inception_loading`, and images become its input as
:mod:`~patchgen.evaluation.inception_inputs` says.
"""
import torch
from torch import Tensor

from patchgen.evaluation.extractor import FeatureExtractor, Features
from patchgen.evaluation.inception_inputs import inception_input
from patchgen.evaluation.inception_loading import load_inception
from patchgen.evaluation.weights import resolve_inception_weights, sha256_of
from patchgen.registry import FEATURE_EXTRACTORS


@FEATURE_EXTRACTORS.register_module()
class TFInception(FeatureExtractor):
    """FID's TF Inception-v3: pool3 features (2048) and, with pytorch-fid's weights, logits.

    Metrics computed with it carry no suffix (``fid``, ``kid``, ``is``).

    Args:
        weights: A weights file (fid-helper's ``default_1.pt`` or pytorch-fid's
            ``pt_inception-2015-12-05-6726825d.pth``); None finds one as
            :func:`resolve_inception_weights` does.
        allow_download: Let :func:`resolve_inception_weights` download
            fid-helper's ``default_1.pt`` when no weights are found.

    Attributes:
        weights_path: The weights file used.
        fingerprint: Its SHA-256.
        net: The :class:`InceptionV3`, prepared for inference; move the
            extractor to a device to run there.
    """

    metric_suffix = ''

    def __init__(self, weights: str | None = None, allow_download: bool = False) -> None:
        super().__init__()
        path = resolve_inception_weights(weights, allow_download)
        self.fingerprint = sha256_of(path)
        self.weights_path = path
        self.net = load_inception(path)

    @property
    def has_logits(self) -> bool:
        """True with pytorch-fid's weights, which carry the 1008-class head."""
        return self.net.fc is not None

    @torch.inference_mode()
    def forward(self, images: Tensor) -> Features:
        """Pool3 features (N, 2048) float32 and raw logits (N, 1008) or None, of uint8 images."""
        weight = self.net.Conv2d_1a_3x3.conv.weight
        return self.net(inception_input(images.to(weight.device)))
