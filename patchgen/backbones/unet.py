"""A DDPM++ / ADM-class UNet, the denoiser network F used by Patch Diffusion.

It takes the noisy image with two pixel-coordinate channels appended (C + 2
inputs) and returns C channels. Attention placement depends only on the
training canvas resolution, so patches and full images run the same layers.
"""
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from patchgen.errors import PatchgenError
from patchgen.registry import BACKBONES

from .base import Backbone
from .embeddings import ClassEmbedding, NoiseEmbedding, add_class_embedding

INITS = ('edm', 'torch')
RESAMPLES = ('residual', 'conv')


def group_norm(channels: int, channels_per_group: int = 4) -> nn.GroupNorm:
    """GroupNorm with the most groups (at most 32) that divide ``channels`` and keep at least
    ``channels_per_group`` channels each (DDPM++: 4, so 32 channels make 8 groups)."""
    groups = max(g for g in range(1, min(32, channels) + 1)
                 if channels % g == 0 and channels // g >= min(channels_per_group, channels))
    return nn.GroupNorm(groups, channels, eps=1e-6)


@torch.no_grad()
def init_layer(layer: nn.Conv2d | nn.Linear, init: str, gain: float = 1.0) -> nn.Module:
    """Initialise a layer in place and return it.

    ``'edm'``: Xavier-uniform weights times ``gain`` and zero biases (EDM's DDPM++).
    ``'torch'``: PyTorch's default initialisation times ``gain``. Either way ``gain=0``
    zeroes the layer (the last layer of each residual branch and of the network).
    """
    if init == 'edm':
        nn.init.xavier_uniform_(layer.weight, gain=gain)
        nn.init.zeros_(layer.bias)
    elif gain != 1.0:
        layer.weight.mul_(gain)
        layer.bias.mul_(gain)
    return layer


def resample(x: Tensor, direction: str | None) -> Tensor:
    """2x2 average pooling (``'down'``), nearest x2 (``'up'``) or nothing (None)."""
    if direction == 'down':
        return F.avg_pool2d(x, 2)  # (N, C, H / 2, W / 2)
    if direction == 'up':
        return F.interpolate(x, scale_factor=2.0, mode='nearest')  # (N, C, 2H, 2W)
    return x


class SelfAttention(nn.Module):
    """Multi-head self-attention over all pixels, with a scaled residual.

    Args:
        channels: Number of feature channels (divisible by ``num_heads``).
        num_heads: Number of attention heads.
        skip_scale: Factor applied to the residual sum.
        channels_per_group: Least channels per GroupNorm group.
        init: Initialisation scheme (see :func:`init_layer`); 'edm' scales
            the query/key/value projection by sqrt(0.2), as DDPM++ does.
    """

    def __init__(self, channels: int, num_heads: int, skip_scale: float,
                 channels_per_group: int = 4, init: str = 'edm') -> None:
        super().__init__()
        if channels % num_heads:
            raise PatchgenError(f'{channels} channels cannot be split into {num_heads} heads')
        self.num_heads = num_heads
        self.skip_scale = skip_scale
        self.norm = group_norm(channels, channels_per_group)
        self.qkv = init_layer(nn.Conv2d(channels, 3 * channels, kernel_size=1), init,
                              gain=0.2 ** 0.5 if init == 'edm' else 1.0)
        self.proj = init_layer(nn.Conv2d(channels, channels, kernel_size=1), init, gain=0.0)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x))  # (N, 3C, H, W)
        qkv = qkv.reshape(n, 3, self.num_heads, c // self.num_heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # each (N, heads, HW, C/heads)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, heads, HW, C/heads)
        out = out.transpose(-1, -2).reshape(n, c, h, w)  # (N, C, H, W)
        return (x + self.proj(out)) * self.skip_scale


class ResidualBlock(nn.Module):
    """Residual block with noise-embedding injection, optionally resampling, then attention.

    Args:
        in_channels: Input channels.
        out_channels: Output channels; a 1x1 conv projects the skip if they
            differ or the block resamples.
        embedding_channels: Width of the noise embedding.
        dropout: Dropout probability before the second conv.
        skip_scale: Factor applied to the residual sum.
        scale_shift: If True, the embedding gives a (1 + scale, shift) modulation
            after the second GroupNorm (ADM); if False, a per-channel bias added
            after the first conv (DDPM++).
        attention: If True, a ``SelfAttention`` follows the block.
        num_heads: Attention heads, used when ``attention`` is True.
        direction: 'down' halves, 'up' doubles the spatial size (both paths
            resample before their conv, as DDPM++'s resampling blocks); None keeps it.
        channels_per_group: Least channels per GroupNorm group.
        init: Initialisation scheme (see :func:`init_layer`).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 embedding_channels: int,
                 dropout: float,
                 skip_scale: float,
                 scale_shift: bool,
                 attention: bool = False,
                 num_heads: int = 1,
                 direction: str | None = None,
                 channels_per_group: int = 4,
                 init: str = 'edm') -> None:
        super().__init__()
        self.skip_scale = skip_scale
        self.scale_shift = scale_shift
        self.direction = direction
        self.norm1 = group_norm(in_channels, channels_per_group)
        self.conv1 = init_layer(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                                init)
        self.embedding_proj = nn.Sequential(
            nn.SiLU(),
            init_layer(nn.Linear(embedding_channels, out_channels * (2 if scale_shift else 1)),
                       init),
        )
        self.norm2 = group_norm(out_channels, channels_per_group)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = init_layer(nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
                                init, gain=0.0)
        self.skip = (init_layer(nn.Conv2d(in_channels, out_channels, kernel_size=1), init)
                     if in_channels != out_channels or direction else nn.Identity())
        self.attn = (SelfAttention(out_channels, num_heads, skip_scale, channels_per_group, init)
                     if attention else None)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        """Apply the block to x (N, C_in, H, W) given emb (N, E); returns (N, C_out, H', W')."""
        h = self.conv1(resample(F.silu(self.norm1(x)), self.direction))  # (N, C_out, H', W')
        params = self.embedding_proj(emb)[:, :, None, None]  # (N, C_out or 2 C_out, 1, 1)
        if self.scale_shift:
            scale, shift = params.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        else:
            h = self.norm2(h + params)
        h = self.conv2(self.dropout(F.silu(h)))  # (N, C_out, H', W')
        h = (self.skip(resample(x, self.direction)) + h) * self.skip_scale
        return h if self.attn is None else self.attn(h)


class Downsample(nn.Module):
    """Halves the spatial size with a stride-2 3x3 conv."""

    def __init__(self, channels: int, init: str = 'edm') -> None:
        super().__init__()
        self.conv = init_layer(nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1),
                               init)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.conv(x)  # (N, C, H / 2, W / 2)


class Upsample(nn.Module):
    """Doubles the spatial size with nearest-neighbour interpolation and a 3x3 conv."""

    def __init__(self, channels: int, init: str = 'edm') -> None:
        super().__init__()
        self.conv = init_layer(nn.Conv2d(channels, channels, kernel_size=3, padding=1), init)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.conv(resample(x, 'up'))  # (N, C, 2H, 2W)


@BACKBONES.register_module()
class UNet(Backbone):
    """DDPM++ / ADM-class UNet denoiser.

    Level ``l`` works at ``base_channels * channel_mults[l]`` channels and, on
    the training canvas, at resolution ``resolution >> l``. Each encoder level
    has ``num_blocks`` residual blocks then a downsampling (not at the last
    level); the middle is block, attention, block; each decoder level has
    ``num_blocks + 1`` blocks fed with skip connections then an upsampling (not
    at level 0). The defaults are EDM's DDPM++: resampling by residual blocks,
    GroupNorm with at least 4 channels per group, Xavier-uniform weights. The
    last conv is zero-initialised, so an untrained network outputs exactly 0.

    Args:
        in_channels: Input channels: image channels + 2 coordinate channels.
        out_channels: Output channels, normally the image channels.
        resolution: Full-canvas training resolution R; decides attention placement only.
        base_channels: Channels at level 0.
        channel_mults: Channel multiplier per level; its length is the number of levels.
        num_blocks: Residual blocks per encoder level (decoder levels get one more).
        attn_resolutions: Canvas resolutions ``R >> level`` whose blocks get
            self-attention, whatever the size of the actual input.
        num_heads: Attention heads (each level's channels must divide by it).
        dropout: Dropout probability inside residual blocks (train mode only).
        num_classes: Number of classes, 0 for unconditional. When > 0, labels
            are in ``[0, num_classes]``, where ``num_classes`` is the extra "no
            label" index used for classifier-free guidance.
        embedding_channels: Width of the noise embedding; None means 4 * base_channels.
        noise_embedding: 'positional' (sinusoidal, DDPM++) or 'fourier'
            (random Fourier features, NCSN++); base_channels features either way.
        skip_scale: Factor applied to every residual sum.
        scale_shift: False adds the embedding as a bias after the first conv
            of each block (DDPM++); True applies a (1 + scale, shift) modulation
            after its second GroupNorm (ADM).
        resample: 'residual' resamples with residual blocks (2x2 average pool
            or nearest x2 before their convs, DDPM++); 'conv' with a stride-2
            conv down and nearest x2 + conv up.
        channels_per_group: Least channels per GroupNorm group (DDPM++: 4;
            1 gives as many groups as channels, up to 32).
        init: 'edm' (Xavier-uniform weights, zero biases, as DDPM++) or
            'torch' (PyTorch's defaults); zero-initialised layers stay zero.
    """

    zero_init_output = True

    def __init__(self,
                 in_channels: int,  # image channels + 2 coordinate channels
                 out_channels: int,  # image channels
                 resolution: int,  # full-canvas training resolution R
                 base_channels: int = 128,  # channels at level 0
                 channel_mults: Sequence[int] = (1, 2, 2, 2),  # one entry per level
                 num_blocks: int = 4,  # residual blocks per encoder level
                 attn_resolutions: Sequence[int] = (16,),  # canvas resolutions with attention
                 num_heads: int = 1,  # attention heads
                 dropout: float = 0.1,  # dropout in residual blocks
                 num_classes: int = 0,  # 0: unconditional; index num_classes means no label
                 embedding_channels: int | None = None,  # default 4 * base_channels
                 noise_embedding: str = 'positional',  # 'positional' or 'fourier'
                 skip_scale: float = 2 ** -0.5,  # scale of residual sums
                 scale_shift: bool = False,  # ADM (True) or DDPM++ (False) injection
                 resample: str = 'residual',  # 'residual' blocks (DDPM++) or plain 'conv'
                 channels_per_group: int = 4,  # least channels per GroupNorm group
                 init: str = 'edm',  # 'edm' (Xavier-uniform) or 'torch' (defaults)
                 ) -> None:
        super().__init__()
        if not channel_mults:
            raise PatchgenError('channel_mults needs at least one level')
        if num_classes < 0:
            raise PatchgenError(f'num_classes must be >= 0, got {num_classes}')
        if resample not in RESAMPLES:
            raise PatchgenError(f'resample must be one of {", ".join(RESAMPLES)}, got {resample!r}')
        if init not in INITS:
            raise PatchgenError(f'init must be one of {", ".join(INITS)}, got {init!r}')
        if channels_per_group < 1:
            raise PatchgenError(f'channels_per_group must be at least 1, got {channels_per_group}')
        if embedding_channels is None:
            embedding_channels = 4 * base_channels
        self.num_levels = len(channel_mults)
        self.num_classes = num_classes

        self.noise_embedding = NoiseEmbedding(base_channels, embedding_channels, noise_embedding)
        for layer in self.noise_embedding.mlp:
            if isinstance(layer, nn.Linear):
                init_layer(layer, init)
        self.class_embedding = (ClassEmbedding(num_classes, embedding_channels)
                                if num_classes > 0 else None)

        def block(cin: int, cout: int, attention: bool = False,
                  direction: str | None = None) -> ResidualBlock:
            return ResidualBlock(cin, cout, embedding_channels, dropout, skip_scale,
                                 scale_shift, attention, num_heads, direction,
                                 channels_per_group, init)

        def resampler(channels: int, direction: str) -> nn.Module:
            if resample == 'residual':
                return block(channels, channels, direction=direction)
            return Downsample(channels, init) if direction == 'down' else Upsample(channels, init)

        level_channels = [base_channels * m for m in channel_mults]
        level_attention = [(resolution >> level) in attn_resolutions
                           for level in range(self.num_levels)]

        self.conv_in = init_layer(nn.Conv2d(in_channels, base_channels, kernel_size=3,
                                            padding=1), init)
        skip_channels = [base_channels]
        channels = base_channels
        self.encoder = nn.ModuleList()  # encoder[level]: its residual blocks
        for level, (cout, attention) in enumerate(zip(level_channels, level_attention)):
            blocks = nn.ModuleList()
            for _ in range(num_blocks):
                blocks.append(block(channels, cout, attention))
                channels = cout
                skip_channels.append(channels)
            self.encoder.append(blocks)
            if level < self.num_levels - 1:
                skip_channels.append(channels)  # the downsampled map is a skip too
        self.downsample = nn.ModuleList(  # downsample[level]: level -> level + 1
            resampler(c, 'down') for c in level_channels[:-1])

        self.middle = nn.ModuleList([block(channels, channels, attention=True),
                                     block(channels, channels)])

        decoder: list[nn.ModuleList] = [nn.ModuleList() for _ in level_channels]
        for level in reversed(range(self.num_levels)):
            for _ in range(num_blocks + 1):
                cin = channels + skip_channels.pop()
                channels = level_channels[level]
                decoder[level].append(block(cin, channels, level_attention[level]))
        self.decoder = nn.ModuleList(decoder)  # decoder[level]: its residual blocks
        self.upsample = nn.ModuleList(  # upsample[level - 1]: level -> level - 1
            resampler(c, 'up') for c in level_channels[1:])

        self.norm_out = group_norm(channels, channels_per_group)
        self.conv_out = init_layer(nn.Conv2d(channels, out_channels, kernel_size=3, padding=1),
                                   init, gain=0.0)

    def forward(self,
                x: Tensor,
                noise_labels: Tensor,
                class_labels: Tensor | None = None) -> Tensor:
        """Denoiser output F(x, c_noise, class).

        Args:
            x: Network input (N, in_channels, H, W); H and W divisible by
                2 ** (levels - 1).
            noise_labels: Per-sample noise conditioning c_noise, (N,) float.
            class_labels: (N,) long in [0, num_classes], or None, which means
                "no label" for every sample. Must be None when num_classes is 0.

        Returns:
            Tensor of shape (N, out_channels, H, W).
        """
        divisor = 2 ** (self.num_levels - 1)
        height, width = x.shape[-2:]
        if height % divisor or width % divisor:
            raise PatchgenError(f'input size {height}x{width} is not divisible by {divisor}')

        emb = add_class_embedding(self.noise_embedding(noise_labels), self.class_embedding,
                                  class_labels)  # (N, E)

        h = self.conv_in(x)  # (N, base_channels, H, W)
        skips = [h]
        for level, blocks in enumerate(self.encoder):
            for block in blocks:
                h = block(h, emb)  # (N, C_level, H / 2**level, W / 2**level)
                skips.append(h)
            if level < self.num_levels - 1:
                h = self.downsample[level](h, emb)  # (N, C_level, H / 2**(level+1), ...)
                skips.append(h)

        for block in self.middle:
            h = block(h, emb)

        for level in reversed(range(self.num_levels)):
            for block in self.decoder[level]:
                h = torch.cat([h, skips.pop()], dim=1)  # (N, C + C_skip, H / 2**level, ...)
                h = block(h, emb)  # (N, C_level, H / 2**level, W / 2**level)
            if level > 0:
                h = self.upsample[level - 1](h, emb)  # (N, C_level, H / 2**(level-1), ...)

        return self.conv_out(F.silu(self.norm_out(h)))  # (N, out_channels, H, W)
