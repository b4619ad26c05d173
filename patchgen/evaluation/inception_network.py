"""The TF Inception-v3 network of FID ("inception-2015-12-05"), as a native PyTorch module.

It computes the same function as the TensorFlow graph that FID, KID and the
Inception Score are defined with: pool3 features (2048) and, with pytorch-fid's
weights, the 1008-class logits. Modules are named as in torchvision's
``Inception3``, so pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` loads
strictly (:mod:`patchgen.evaluation.inception_loading` renames other files).

The TF graph differs from torchvision's Inception-v3 in three places: its
average pools ignore the padding (``count_include_pad=False``), Mixed_7c pools
with a 3x3 max pool, and its batch norms have no scale (gamma = 1).
"""
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from patchgen.evaluation.extractor import Features

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
