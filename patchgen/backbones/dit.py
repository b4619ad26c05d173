"""A DiT (Diffusion Transformer) denoiser, the network F used by Patch Diffusion.

Peebles and Xie, "Scalable Diffusion Models with Transformers" (ICCV 2023),
implemented here from the paper: a patchifying conv, transformer blocks with
adaLN-Zero conditioning, and a linear decoder back to pixels. It takes the noisy
image with two pixel-coordinate channels appended (C + 2 inputs) and returns C
channels, for any input size that the token patch divides.
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from patchgen.errors import PatchgenError
from patchgen.registry import BACKBONES

from .base import Backbone
from .embeddings import ClassEmbedding, NoiseEmbedding, add_class_embedding

# Model sizes of the paper: name -> (depth, hidden size, attention heads).
DIT_SIZES = {'S': (12, 384, 6), 'B': (12, 768, 12), 'L': (24, 1024, 16), 'XL': (28, 1152, 16)}
TOKEN_PATCHES = (2, 4, 8)
DIT_ARCHS = tuple(f'{size}/{patch}' for size in DIT_SIZES for patch in TOKEN_PATCHES)
POS_EMBEDS = ('absolute', 'grid')


def parse_arch(arch: str) -> tuple[int, int, int, int]:
    """Map a DiT variant such as ``'S/2'`` to (depth, hidden size, heads, token patch)."""
    if arch not in DIT_ARCHS:
        raise PatchgenError(f'unknown DiT arch {arch!r}: use one of {", ".join(DIT_ARCHS)}')
    size, patch = arch.split('/')
    return (*DIT_SIZES[size], int(patch))


def sincos_embedding_2d(positions: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """2-D sin-cos embedding of token positions, which may be fractional.

    The first half of the channels encodes x, the second half y, each as the
    sines then cosines of ``dim / 4`` geometric frequencies from 1 down to
    about ``1 / max_period``.

    Args:
        positions: (N, 2, h, w) float ``[x, y]`` position of each token, in tokens.
        dim: Embedding width, divisible by 4.
        max_period: Longest period of the frequencies.

    Returns:
        (N, h * w, dim) float32 embeddings, tokens in row-major order.
    """
    if dim % 4:
        raise PatchgenError(f'the sin-cos position embedding needs a width divisible by 4, '
                            f'got {dim}')
    quarter = dim // 4
    freqs = max_period ** (-torch.arange(quarter, dtype=torch.float32,
                                         device=positions.device) / quarter)  # (dim/4,)
    tokens = positions.float().flatten(2).transpose(1, 2)  # (N, T, 2)
    angles = tokens[..., None] * freqs  # (N, T, 2, dim/4)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(2)  # (N, T, dim)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN modulation ``x * (1 + scale) + shift`` of (N, T, D) tokens by (N, 1, D) params."""
    return x * (1 + scale) + shift


class Attention(nn.Module):
    """Multi-head self-attention over all tokens.

    Args:
        hidden_size: Token width (divisible by ``num_heads``).
        num_heads: Number of attention heads.
    """

    def __init__(self, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.proj = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (N, heads, T, D/heads)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, heads, T, D/heads)
        return self.proj(out.transpose(1, 2).reshape(n, t, d))  # (N, T, D)


class DiTBlock(nn.Module):
    """Transformer block with adaLN-Zero conditioning.

    The conditioning vector gives a shift, scale and gate for the attention
    branch and for the MLP branch; the gates start at zero, so the block
    starts as the identity.

    Args:
        hidden_size: Token width.
        num_heads: Attention heads.
        mlp_ratio: MLP hidden width as a multiple of ``hidden_size``.
    """

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        mlp_width = int(hidden_size * mlp_ratio)
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size, mlp_width),
            nn.GELU(approximate='tanh'),
            nn.Linear(mlp_width, hidden_size),
        )
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Apply the block to tokens x (N, T, D) given conditioning c (N, D)."""
        params = self.modulation(c)[:, None].chunk(6, dim=2)  # each (N, 1, D)
        shift_attn, scale_attn, gate_attn, shift_mlp, scale_mlp, gate_mlp = params
        x = x + gate_attn * self.attn(modulate(self.norm1(x), shift_attn, scale_attn))
        return x + gate_mlp * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    """adaLN-modulated LayerNorm, then a linear map of each token to its pixels.

    Args:
        hidden_size: Token width.
        out_features: Values per token: ``token_patch ** 2 * out_channels``.
    """

    def __init__(self, hidden_size: int, out_features: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))
        self.linear = nn.Linear(hidden_size, out_features)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Map tokens x (N, T, D) given c (N, D) to (N, T, out_features)."""
        shift, scale = self.modulation(c)[:, None].chunk(2, dim=2)  # each (N, 1, D)
        return self.linear(modulate(self.norm(x), shift, scale))


@BACKBONES.register_module()
class DiT(Backbone):
    """DiT denoiser with adaLN-Zero blocks, for any input size the token patch divides.

    A conv with kernel = stride = ``token_patch`` embeds all ``in_channels``
    input channels (the image and its ``[x, y]`` coordinate channels) into
    tokens; a 2-D sin-cos position embedding is added; ``depth`` transformer
    blocks are conditioned on the noise embedding plus the class embedding
    through adaLN-Zero; a final modulated linear layer maps each token back to
    its ``token_patch x token_patch`` pixels. Every modulation and the output
    layer are zero-initialised, so an untrained network outputs exactly 0.

    The position embedding is computed for the actual token grid on every call
    and is not a parameter or buffer (not in the state dict). With
    ``pos_embed='absolute'`` (default) each token's position is its absolute
    place on the training canvas, read from the coordinate channels at the
    token's top-left pixel (``column = (x / 2 + 0.5) * (R - 1)``, divided by
    ``token_patch``), so a patch's tokens get exactly the embedding of the same
    tokens in the full image and patch training and full-image sampling agree;
    a patch cut at an offset that ``token_patch`` does not divide gets
    fractional positions. With ``pos_embed='grid'`` positions are
    ``0 .. h - 1`` and ``0 .. w - 1`` of the input's own token grid, so every
    patch looks like the top-left corner of an image and only the coordinate
    channels tell where it is.

    Args:
        in_channels: Input channels: image channels + 2 coordinate channels.
        out_channels: Output channels, normally the image channels.
        resolution: Full-canvas training resolution R that the coordinates span.
        arch: Named variant, one of ``DIT_ARCHS`` ('S/2' ... 'XL/8'): size S, B,
            L or XL (depth / width / heads 12/384/6, 12/768/12, 24/1024/16,
            28/1152/16) and token patch 2, 4 or 8.
        depth: Transformer blocks; None takes it from ``arch``.
        hidden_size: Token width, divisible by ``num_heads`` and by 4; None
            takes it from ``arch``.
        num_heads: Attention heads; None takes them from ``arch``.
        token_patch: Side p of the pixel patch per token; input sizes must be
            multiples of it. None takes it from ``arch``.
        mlp_ratio: MLP hidden width as a multiple of ``hidden_size``.
        pos_embed: 'absolute' (positions from the coordinate channels) or
            'grid' (positions of the input's own token grid).
        num_classes: Number of classes, 0 for unconditional. When > 0, labels
            are in ``[0, num_classes]``, where ``num_classes`` is the extra "no
            label" index used for classifier-free guidance.
        noise_features: Sinusoidal features of the noise label before its MLP.
    """

    zero_init_output = True

    def __init__(self,
                 in_channels: int,  # image channels + 2 coordinate channels
                 out_channels: int,  # image channels
                 resolution: int,  # full-canvas training resolution R
                 arch: str = 'S/2',  # named variant, see DIT_ARCHS
                 depth: int | None = None,  # transformer blocks; None: from arch
                 hidden_size: int | None = None,  # token width; None: from arch
                 num_heads: int | None = None,  # attention heads; None: from arch
                 token_patch: int | None = None,  # pixels per token side; None: from arch
                 mlp_ratio: float = 4.0,  # MLP width / hidden_size
                 pos_embed: str = 'absolute',  # 'absolute' or 'grid'
                 num_classes: int = 0,  # 0: unconditional; index num_classes means no label
                 noise_features: int = 256,  # sinusoidal features of c_noise
                 ) -> None:
        super().__init__()
        arch_depth, arch_hidden, arch_heads, arch_patch = parse_arch(arch)
        depth = arch_depth if depth is None else depth
        hidden_size = arch_hidden if hidden_size is None else hidden_size
        num_heads = arch_heads if num_heads is None else num_heads
        token_patch = arch_patch if token_patch is None else token_patch
        sizes = dict(depth=depth, hidden_size=hidden_size, num_heads=num_heads,
                     token_patch=token_patch)
        for name, value in sizes.items():
            if value < 1:
                raise PatchgenError(f'DiT {name} must be a positive integer, got {value}')
        if hidden_size % num_heads:
            raise PatchgenError(f'hidden_size {hidden_size} cannot be split into '
                                f'{num_heads} heads: use a multiple of num_heads')
        if hidden_size % 4:
            raise PatchgenError(f'hidden_size {hidden_size} must be divisible by 4 for the '
                                f'2-D sin-cos position embedding')
        if pos_embed not in POS_EMBEDS:
            raise PatchgenError(f'pos_embed must be one of {", ".join(POS_EMBEDS)}, '
                                f'got {pos_embed!r}')
        if pos_embed == 'absolute' and in_channels < 3:
            raise PatchgenError(f"pos_embed='absolute' reads the last two input channels as "
                                f"[x, y] coordinates: in_channels must be image channels + 2, "
                                f"got {in_channels}")
        if resolution < 2:
            raise PatchgenError(f'resolution must be at least 2, got {resolution}')
        if num_classes < 0:
            raise PatchgenError(f'num_classes must be >= 0, got {num_classes}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.depth = depth
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.token_patch = token_patch
        self.pos_embed = pos_embed
        self.num_classes = num_classes

        self.patch_embed = nn.Conv2d(in_channels, hidden_size, kernel_size=token_patch,
                                     stride=token_patch)
        self.noise_embedding = NoiseEmbedding(noise_features, hidden_size)
        self.class_embedding = (ClassEmbedding(num_classes, hidden_size)
                                if num_classes > 0 else None)
        self.blocks = nn.ModuleList(DiTBlock(hidden_size, num_heads, mlp_ratio)
                                    for _ in range(depth))
        self.final_layer = FinalLayer(hidden_size, token_patch * token_patch * out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ViT-style initialisation, then adaLN-Zero: modulations and output start at 0."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.patch_embed.weight.view(self.hidden_size, -1))
        nn.init.zeros_(self.patch_embed.bias)
        for layer in self.noise_embedding.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.normal_(layer.weight, std=0.02)
        if self.class_embedding is not None:
            nn.init.normal_(self.class_embedding.weight, std=0.02)
        zero_layers = [block.modulation[-1] for block in self.blocks]
        zero_layers += [self.final_layer.modulation[-1], self.final_layer.linear]
        for layer in zero_layers:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def token_positions(self, x: Tensor) -> Tensor:
        """``[x, y]`` position of each token of input x (N, C, H, W), in tokens: (N, 2, h, w).

        'absolute': from the coordinate channels at each token's top-left
        pixel; 'grid': ``0 .. w - 1`` and ``0 .. h - 1`` for every sample.
        """
        p = self.token_patch
        n, _, height, width = x.shape
        if self.pos_embed == 'grid':
            cols = torch.arange(width // p, dtype=torch.float32, device=x.device)
            rows = torch.arange(height // p, dtype=torch.float32, device=x.device)
            grid = torch.stack(torch.meshgrid(cols, rows, indexing='xy'))  # (2, h, w)
            return grid.expand(n, -1, -1, -1)  # (N, 2, h, w)
        corners = x[:, -2:, ::p, ::p].float()  # (N, 2, h, w) [x, y] at each top-left pixel
        return (corners / 2 + 0.5) * (self.resolution - 1) / p  # (N, 2, h, w)

    def position_embedding(self, x: Tensor) -> Tensor:
        """Sin-cos position embedding of the tokens of input x (N, C, H, W): (N, T, D)."""
        return sincos_embedding_2d(self.token_positions(x), self.hidden_size)

    def forward(self,
                x: Tensor,
                noise_labels: Tensor,
                class_labels: Tensor | None = None) -> Tensor:
        """Denoiser output F(x, c_noise, class).

        Args:
            x: Network input (N, in_channels, H, W), the last two channels the
                ``[x, y]`` coordinates; H and W divisible by ``token_patch``.
            noise_labels: Per-sample noise conditioning c_noise, (N,) float.
            class_labels: (N,) long in [0, num_classes], or None, which means
                "no label" for every sample. Must be None when num_classes is 0.

        Returns:
            Tensor of shape (N, out_channels, H, W).
        """
        n, channels, height, width = x.shape
        p = self.token_patch
        if channels != self.in_channels:
            raise PatchgenError(f'input has {channels} channels but the DiT was built for '
                                f'{self.in_channels} (image channels + 2 coordinates)')
        if height % p or width % p:
            raise PatchgenError(f'input size {height}x{width} is not divisible by the token '
                                f'patch {p}: use sizes that are multiples of {p} or a smaller '
                                f'token_patch')

        c = add_class_embedding(self.noise_embedding(noise_labels), self.class_embedding,
                                class_labels)  # (N, D)

        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)  # (N, T, D), T = HW / p^2
        tokens = tokens + self.position_embedding(x).to(tokens.dtype)  # (N, T, D)
        for block in self.blocks:
            tokens = block(tokens, c)  # (N, T, D)
        out = self.final_layer(tokens, c)  # (N, T, p * p * out_channels)

        h, w = height // p, width // p
        out = out.reshape(n, h, w, p, p, self.out_channels)  # (N, h, w, p, p, C)
        return out.permute(0, 5, 1, 3, 2, 4).reshape(n, self.out_channels, height, width)
