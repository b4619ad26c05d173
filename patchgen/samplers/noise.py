"""Per-image random streams, so an image depends on its seed and not on its batch."""
from collections.abc import Sequence

import torch
from torch import Tensor


class SeededNoise:
    """One torch generator per image, seeded with that image's seed.

    Args:
        seeds: One seed per image of the batch.
        device: Where the noise is drawn.
    """

    def __init__(self, seeds: Sequence[int], device: torch.device) -> None:
        self.device = torch.device(device)
        self.generators = [torch.Generator(self.device).manual_seed(int(s)) for s in seeds]

    def rand(self, *shape: int) -> Tensor:
        """(len(seeds), *shape) uniforms in [0, 1), row k from generator k."""
        return torch.stack([torch.rand(shape, generator=g, device=self.device)
                            for g in self.generators])

    def randn(self, *shape: int) -> Tensor:
        """(len(seeds), *shape) standard normal noise, row k from generator k."""
        return torch.stack([torch.randn(shape, generator=g, device=self.device)
                            for g in self.generators])
