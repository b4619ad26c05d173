"""A small all-convolutional denoiser, registered in patchgen's BACKBONES from outside patchgen."""
import math

import torch
from torch import Tensor, nn

from patchgen.backbones import Backbone, ClassEmbedding
from patchgen.registry import BACKBONES


@BACKBONES.register_module()
class TinyConvNet(Backbone):
    """Residual 3x3 convolutions at full resolution, modulated by the noise level.

    Any input size works, so it trains on patches and samples full images. The
    last conv starts at zero, so the untrained network outputs 0.

    Args:
        in_channels: Image channels + 2 coordinate channels.
        out_channels: Image channels.
        resolution: Training resolution (unused: the net is size-agnostic).
        num_classes: Classes (0: unconditional); label ``num_classes`` means "no label".
        width: Channels of the hidden layers.
        depth: Residual blocks.
    """

    zero_init_output = True

    def __init__(self, in_channels: int, out_channels: int, resolution: int,
                 num_classes: int = 0, width: int = 32, depth: int = 4) -> None:
        super().__init__()
        self.width = width
        self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)
        self.noise_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(),
                                       nn.Linear(width, 2 * width * depth))
        self.labels = ClassEmbedding(num_classes, width) if num_classes else None
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1))
            for _ in range(depth))
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: Tensor, noise_labels: Tensor,
                class_labels: Tensor | None = None) -> Tensor:
        half = self.width // 2
        freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=x.device) / half)
        angles = noise_labels[:, None].float() * freqs[None]  # (N, width / 2)
        embedding = torch.cat([angles.cos(), angles.sin()], dim=1)  # (N, width)
        if self.labels is not None:  # None labels mean the null label
            embedding = embedding + self.labels(class_labels, len(x))
        scales_shifts = self.noise_mlp(embedding).chunk(2 * len(self.blocks), dim=1)
        h = self.conv_in(x)  # (N, width, H, W)
        for index, block in enumerate(self.blocks):
            scale, shift = scales_shifts[2 * index], scales_shifts[2 * index + 1]  # (N, width)
            h = h + block(h) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        return self.conv_out(h)  # (N, out_channels, H, W)
