"""Conditioning embeddings shared by the backbones: the noise label and the class label."""
import math

import torch
from torch import Tensor, nn

from patchgen.errors import PatchgenError


class NoiseEmbedding(nn.Module):
    """Embeds the per-sample scalar noise label c_noise.

    Sinusoidal ('positional') or random Fourier ('fourier') features, followed
    by Linear -> SiLU -> Linear.

    Args:
        feature_channels: Number of sin/cos features (even).
        embedding_channels: Width of the returned embedding.
        kind: 'positional' (fixed geometric frequencies) or 'fourier' (random
            Gaussian frequencies, a fixed buffer saved in the state dict).
        max_period: Positional frequencies run geometrically from 1 down to
            about 1 / max_period.
        fourier_scale: Standard deviation of the Fourier frequencies.
    """

    def __init__(self,
                 feature_channels: int,
                 embedding_channels: int,
                 kind: str = 'positional',
                 max_period: float = 10000.0,
                 fourier_scale: float = 16.0) -> None:
        super().__init__()
        if feature_channels % 2:
            raise PatchgenError(f'feature_channels must be even, got {feature_channels}')
        half = feature_channels // 2
        if kind == 'positional':
            freqs = max_period ** (-torch.arange(half, dtype=torch.float32) / half)
            self.register_buffer('freqs', freqs, persistent=False)
        elif kind == 'fourier':
            freqs = 2 * math.pi * fourier_scale * torch.randn(half)
            self.register_buffer('freqs', freqs)
        else:
            raise PatchgenError(f"noise embedding must be 'positional' or 'fourier', got {kind!r}")
        self.mlp = nn.Sequential(
            nn.Linear(feature_channels, embedding_channels),
            nn.SiLU(),
            nn.Linear(embedding_channels, embedding_channels),
        )

    def forward(self, noise_labels: Tensor) -> Tensor:
        """Map (N,) noise labels to (N, embedding_channels) embeddings."""
        angles = noise_labels.float().outer(self.freqs.float())  # (N, half)
        features = torch.cat([angles.cos(), angles.sin()], dim=1)  # (N, feature_channels)
        return self.mlp(features.to(self.mlp[0].weight.dtype))


class ClassEmbedding(nn.Embedding):
    """Learned embeddings of the labels ``0 .. num_classes - 1`` and of the null label.

    The null label ``num_classes`` means "no class": training swaps it in at
    random (label dropout) and classifier-free guidance samples with it. The
    table is an ``nn.Embedding`` of ``num_classes + 1`` rows (state dict key ``weight``).

    Args:
        num_classes: Number of real classes (at least 1).
        embedding_channels: Width of the embeddings.
    """

    def __init__(self, num_classes: int, embedding_channels: int) -> None:
        super().__init__(num_classes + 1, embedding_channels)
        self.num_classes = num_classes

    def forward(self, class_labels: Tensor | None, batch_size: int) -> Tensor:
        """(N, embedding_channels) embeddings of (N,) labels; None means the null label for all."""
        if class_labels is None:
            class_labels = torch.full((batch_size,), self.num_classes, dtype=torch.long,
                                      device=self.weight.device)
        return super().forward(class_labels)


def add_class_embedding(embedding: Tensor, class_embedding: ClassEmbedding | None,
                        class_labels: Tensor | None) -> Tensor:
    """The conditioning of a backbone: (N, E) ``embedding`` plus the embedding of ``class_labels``.

    ``class_labels`` None means the null label. A backbone without a class
    embedding (``num_classes=0``) returns ``embedding`` and refuses labels.
    """
    if class_embedding is None:
        if class_labels is not None:
            raise PatchgenError('class_labels given to an unconditional backbone (num_classes=0)')
        return embedding
    return embedding + class_embedding(class_labels, len(embedding))  # (N, E)
